package activities

import (
	"context"
	"encoding/hex"
	"os"

	"github.com/google/uuid"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/flavor"
)

// modelUUIDNamespace derives model_uuid from the workflow ID (uuid v5), so
// re-saving on another worker writes the same MLmodel bytes.
var modelUUIDNamespace = uuid.MustParse("6f1d3a52-7c1e-4d59-9a36-0b8f5e7f2a10")

// SaveModel writes the MLflow model directory for the trained model into the
// workflow's work directory. A directory left by an earlier attempt is
// reused when its manifest verifies, and rewritten otherwise.
func (a *Activities) SaveModel(ctx context.Context, in SaveInput) (SaveOutput, error) {
	out, err := a.saveModel(ctx, in)
	return out, toTemporal(err)
}

func (a *Activities) saveModel(ctx context.Context, in SaveInput) (SaveOutput, error) {
	dir := a.workDir(ctx, "model")
	if _, sha, err := flavor.VerifyDir(dir); err == nil {
		size, err := dirSize(dir)
		if err != nil {
			return SaveOutput{}, err
		}
		a.logger(ctx).Info("reusing saved model", "dir", dir, "manifest_sha256", sha)
		return SaveOutput{Dir: ArtifactRef{URI: "file://" + dir, SHA256: sha, Size: size}}, nil
	}
	if err := removeAll(dir); err != nil {
		return SaveOutput{}, err
	}
	stop := a.keepAlive(ctx, func() any { return "saving" })
	saved, err := flavor.SaveModel(ctx, dir, in.Model, a.saveOptions(ctx, in))
	stop()
	if err != nil {
		return SaveOutput{}, err
	}
	a.logger(ctx).Info("saved model", "dir", dir, "manifest_sha256", saved.ManifestSHA256, "bytes", saved.Size)
	return SaveOutput{Dir: ArtifactRef{URI: "file://" + dir, SHA256: saved.ManifestSHA256, Size: saved.Size}}, nil
}

func (a *Activities) saveOptions(ctx context.Context, in SaveInput) flavor.SaveOptions {
	id, _ := workflowKey(ctx)
	return flavor.SaveOptions{
		ModelUUID: uuidHex(uuid.NewSHA1(modelUUIDNamespace, []byte(id))),
		Created:   in.Created.UTC(),
		Metadata:  map[string]any{"model_name": in.ModelName, "workflow_id": id},
	}
}

// ensureSaved returns the saved directory, re-saving it from the durable
// inputs when this worker does not have it. It does not hash it: LogModel
// verifies every file and compares the manifest with the one recorded at
// save (LogOptions.SavedManifestSHA256), so a large model is read once.
func (a *Activities) ensureSaved(ctx context.Context, in SaveInput) (string, error) {
	dir := a.workDir(ctx, "model")
	if _, err := os.Stat(dir); err != nil {
		a.logger(ctx).Info("saved model not on this worker; re-saving from the training result", "dir", dir)
		if _, err := a.saveModel(ctx, in); err != nil {
			return "", err
		}
	}
	return dir, nil
}

func uuidHex(u uuid.UUID) string { return hex.EncodeToString(u[:]) }

func dirSize(dir string) (int64, error) {
	var total int64
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, failure.Wrap(failure.Internal, err, "read %s", dir)
	}
	for _, e := range entries {
		p := dir + string(os.PathSeparator) + e.Name()
		if e.IsDir() {
			n, err := dirSize(p)
			if err != nil {
				return 0, err
			}
			total += n
			continue
		}
		info, err := e.Info()
		if err != nil {
			return 0, failure.Wrap(failure.Internal, err, "stat %s", p)
		}
		total += info.Size()
	}
	return total, nil
}
