package activities

import (
	"context"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/flavor"
	"github.com/flavorflow/flavorflow/modeluri"
)

// checkStoredVersion proves that version of name still holds the bytes it
// was verified with: its manifest hashes to the version's
// flavorflow.manifest_sha256 tag and every file to its manifest entry. A
// verified tag alone says the bytes were right once; an artifact store can
// be written to since. Every file is streamed through
// sha256 and nothing is written to disk, so memory stays flat whatever the
// model's size; the activity heartbeats meanwhile. A file damaged in
// transit is fetched again (retryable ServerUnavailable if that keeps
// happening); damage at rest is ChecksumMismatch.
func (a *Activities) checkStoredVersion(ctx context.Context, name string, version int) (manifestSHA256 string, err error) {
	stop := a.keepAlive(ctx, func() any { return "checking stored bytes" })
	defer stop()
	dlCtx, handBack, cancel := a.untilStop(ctx)
	defer cancel()
	sha, err := flavor.CheckStored(dlCtx, a.Store, modeluri.Version(name, version))
	if err = handBack(err); err != nil {
		if failure.Has(err, failure.InvalidManifest) {
			return "", failure.Wrap(failure.VerificationFailed, err, "version %d of %s cannot be checked", version, name)
		}
		return "", err
	}
	a.logger(ctx).Info("stored bytes match", "model", name, "version", version, "manifest_sha256", sha)
	return sha, nil
}
