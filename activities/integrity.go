package activities

import (
	"context"
	"maps"
	"slices"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/flavor"
	"github.com/flavorflow/flavorflow/modeluri"
	"github.com/flavorflow/flavorflow/store"
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
//
// mv is the version as the caller just read it: the check takes the
// recorded hash from it rather than reading the version a second time.
func (a *Activities) checkStoredVersion(ctx context.Context, mv *store.ModelVersion) (manifestSHA256 string, err error) {
	name, version := mv.Name, mv.Version
	stop := a.keepAlive(ctx, func() any { return "checking stored bytes" })
	defer stop()
	dlCtx, handBack, cancel := a.untilStop(ctx)
	defer cancel()
	sha, err := flavor.CheckStored(dlCtx, readVersion(a.Store, mv), modeluri.Version(name, version))
	if err = handBack(err); err != nil {
		if failure.Has(err, failure.InvalidManifest) {
			return "", failure.Wrap(failure.VerificationFailed, err, "version %d of %s cannot be checked", version, name)
		}
		return "", err
	}
	a.logger(ctx).Info("stored bytes match", "model", name, "version", version, "manifest_sha256", sha)
	return sha, nil
}

// readVersion is st with one version already read: GetModelVersion of that
// version answers mv (a copy) instead of asking the store again. An
// activity that read the version for its checks hands it to the download
// this way, so the download resolves the version from the same answer (its
// recorded hash and storage location) without a second round trip. It is
// made for one call and must not outlive it: it never sees later changes.
func readVersion(st store.Store, mv *store.ModelVersion) store.Store {
	if mv == nil {
		return st
	}
	return versionRead{Store: st, mv: mv}
}

type versionRead struct {
	store.Store
	mv *store.ModelVersion
}

func (r versionRead) GetModelVersion(ctx context.Context, name string, version int) (*store.ModelVersion, error) {
	if name != r.mv.Name || version != r.mv.Version {
		return r.Store.GetModelVersion(ctx, name, version)
	}
	mv := *r.mv
	mv.Tags = maps.Clone(r.mv.Tags)
	mv.Aliases = slices.Clone(r.mv.Aliases)
	return &mv, nil
}
