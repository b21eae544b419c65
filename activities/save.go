package activities

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/fakemodel"
	"github.com/flavorflow/flavorflow/flavor"
	"github.com/flavorflow/flavorflow/store"
	"github.com/flavorflow/flavorflow/vocab"
)

// modelUUIDNamespace derives model_uuid from the workflow ID (uuid v5), so
// re-saving on another worker writes the same MLmodel bytes.
var modelUUIDNamespace = uuid.MustParse("6f1d3a52-7c1e-4d59-9a36-0b8f5e7f2a10")

// SaveModel writes the MLflow model directory for the trained model into the
// workflow's work directory. A directory left by an earlier attempt is
// reused when its manifest verifies, and rewritten otherwise.
func (a *Activities) SaveModel(ctx context.Context, in SaveInput) (SaveOutput, error) {
	return run(ctx, a, "", a.saveModel, in)
}

func (a *Activities) saveModel(ctx context.Context, in SaveInput) (SaveOutput, error) {
	created, err := a.createdFor(ctx, in)
	if err != nil {
		return SaveOutput{}, err
	}
	in.Created = created
	dir := a.workDir(ctx, "model")
	if _, sha, err := flavor.VerifyDir(dir); err == nil && a.sameSave(ctx, dir, sha, in) {
		size, err := dirSize(dir)
		if err != nil {
			return SaveOutput{}, err
		}
		a.logger(ctx).Info("reusing saved model", "dir", dir, "manifest_sha256", sha)
		return SaveOutput{Dir: ArtifactRef{URI: "file://" + dir, SHA256: sha, Size: size}, Created: created}, nil
	}
	stop := a.keepAlive(ctx, func() any { return "saving" })
	defer stop()
	// Save into a temporary sibling and rename it into place once its
	// manifest is written: a worker killed mid-save leaves a .tmp-model-*
	// directory (swept by the janitor), never a "model" directory that
	// looks saved but is not.
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return SaveOutput{}, failure.Wrap(failure.Internal, err, "create %s", parent)
	}
	tmp, err := os.MkdirTemp(parent, TmpSavePrefix)
	if err != nil {
		return SaveOutput{}, failure.Wrap(failure.Internal, err, "create a temporary directory in %s", parent)
	}
	saved, err := a.saveInto(ctx, tmp, in)
	if err != nil {
		_ = os.RemoveAll(tmp)
		return SaveOutput{}, err
	}
	// Whatever is at dir did not verify: a damaged or half-written copy.
	if err := removeAll(dir); err != nil {
		_ = os.RemoveAll(tmp)
		return SaveOutput{}, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		_ = os.RemoveAll(tmp)
		return SaveOutput{}, failure.Wrap(failure.Internal, err, "move the saved model into %s", dir)
	}
	if err := syncDir(parent); err != nil {
		return SaveOutput{}, err
	}
	a.logger(ctx).Info("saved model", "dir", dir, "manifest_sha256", saved.ManifestSHA256, "bytes", saved.Size)
	return SaveOutput{Dir: ArtifactRef{URI: "file://" + dir, SHA256: saved.ManifestSHA256, Size: saved.Size}, Created: created}, nil
}

// createdFor returns the creation time to write into MLmodel: the one an
// earlier run of this workflow ID recorded on the logged model it finished
// (vocab.TagSavedCreated), else in.Created (this run's start time). A re-run with
// the same ID, after a failure that came after logging, so writes the same
// bytes, reuses that logged model and its version, and the pipeline still
// ends with exactly one version.
func (a *Activities) createdFor(ctx context.Context, in SaveInput) (time.Time, error) {
	if a.Store == nil {
		return in.Created, nil
	}
	wfID, _ := workflowKey(ctx)
	exp, err := a.Store.GetExperimentByName(ctx, a.Experiment)
	if failure.Has(err, failure.NotFound) {
		return in.Created, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	lms, err := a.Store.SearchLoggedModelsByTag(ctx, exp.ID, vocab.TagIdempotencyKey, wfID)
	if err != nil {
		return time.Time{}, err
	}
	for _, lm := range lms {
		if lm.Status != store.LoggedModelReady || lm.Tags[vocab.TagSavedCreated] == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, lm.Tags[vocab.TagSavedCreated])
		if err != nil {
			continue
		}
		if !t.Equal(in.Created) {
			a.logger(ctx).Info("an earlier run of this workflow logged the model; saving it as it was", "model_id", lm.ID, "created", t)
		}
		return t, nil
	}
	return in.Created, nil
}

// saveInto saves in's model into dir: a FakeModel as always, a model of
// another flavor decoded from its JSON by that flavor.
func (a *Activities) saveInto(ctx context.Context, dir string, in SaveInput) (flavor.Saved, error) {
	if !isGeneric(in.Flavor) {
		return flavor.SaveModel(ctx, dir, in.Model, a.saveOptions(ctx, in))
	}
	fl, model, err := a.decodeModel(in.Flavor, in.Params)
	if err != nil {
		return flavor.Saved{}, err
	}
	return flavor.Save(ctx, dir, fl, model, a.saveOptions(ctx, in))
}

// sameSave reports whether the complete directory dir (manifest hash sha)
// holds this save. A save is deterministic, so for flavors other than
// fakemodel a scratch save of in must give the same manifest.
func (a *Activities) sameSave(ctx context.Context, dir, sha string, in SaveInput) bool {
	if !isGeneric(in.Flavor) {
		return sameSave(dir, in)
	}
	tmp, err := os.MkdirTemp("", "flavorflow-same-")
	if err != nil {
		return false
	}
	defer os.RemoveAll(tmp)
	saved, err := a.saveInto(ctx, filepath.Join(tmp, "model"), in)
	return err == nil && saved.ManifestSHA256 == sha
}

// sameSave reports whether the complete directory dir holds this save: the
// same model and creation time. A directory left by an earlier run of the
// same workflow ID (its clean-up ran on another worker) may hold another
// model, or the same one saved at another time.
func sameSave(dir string, in SaveInput) bool {
	f, err := os.Open(filepath.Join(dir, flavor.DataFile))
	if err != nil {
		return false
	}
	m, err := fakemodel.Load(f)
	f.Close()
	if err != nil || !m.Equal(in.Model) {
		return false
	}
	f, err = os.Open(filepath.Join(dir, flavor.MLmodelFile))
	if err != nil {
		return false
	}
	ml, err := flavor.ParseMLmodel(f)
	f.Close()
	return err == nil && ml.UTCTimeCreated == flavor.FormatCreated(in.Created.UTC())
}

// TmpSavePrefix names the temporary directory a save writes into before it
// is renamed to "model".
const TmpSavePrefix = ".tmp-model-"

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return failure.Wrap(failure.Internal, err, "open %s", dir)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return failure.Wrap(failure.Internal, err, "sync %s", dir)
	}
	return nil
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
// inputs when this worker does not have it, or has a copy that is not the
// one recorded at save (wantSHA): a half-written directory left by a worker
// killed mid-save before saves were renamed into place, or a damaged one.
// The check is cheap (the manifest's bytes and every file's size, no
// hashing): LogModel verifies every file's sha256 as it reads them, so on
// the normal path a large model is hashed once.
func (a *Activities) ensureSaved(ctx context.Context, in SaveInput, wantSHA string) (string, error) {
	dir := a.workDir(ctx, "model")
	err := checkSaved(dir, wantSHA)
	if err == nil {
		// Reading does not change the directory's time; the janitor takes a
		// workflow directory unchanged for its TTL for abandoned.
		now := time.Now()
		_ = os.Chtimes(dir, now, now)
		return dir, nil
	}
	if failure.Has(err, failure.NotFound) {
		a.logger(ctx).Info("saved model not on this worker; re-saving from the training result", "dir", dir)
	} else {
		a.logger(ctx).Warn("saved model on this worker is incomplete or damaged; re-saving from the training result", "dir", dir, "error", err)
		if err := removeAll(dir); err != nil {
			return "", err
		}
	}
	if _, err := a.saveModel(ctx, in); err != nil {
		return "", err
	}
	return dir, nil
}

// checkSaved checks dir against the manifest hash recorded at save without
// reading the data files: the manifest's bytes hash to wantSHA ("" accepts
// any manifest), every file it lists is there with its size, and there is no
// other file (a temporary file is a save that never finished).
func checkSaved(dir, wantSHA string) error {
	data, err := os.ReadFile(filepath.Join(dir, flavor.ManifestFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if _, serr := os.Stat(dir); errors.Is(serr, fs.ErrNotExist) {
			return failure.New(failure.NotFound, "%s does not exist", dir)
		}
		return failure.New(failure.InvalidManifest, "%s has no %s", dir, flavor.ManifestFile)
	case err != nil:
		return failure.Wrap(failure.InvalidManifest, err, "read the manifest in %s", dir)
	}
	if sum := sha256.Sum256(data); wantSHA != "" && hex.EncodeToString(sum[:]) != wantSHA {
		return failure.New(failure.ChecksumMismatch, "%s: manifest sha256 %x, recorded at save %s", dir, sum, wantSHA)
	}
	m, err := flavor.ParseManifest(data)
	if err != nil {
		return err
	}
	want := make(map[string]int64, len(m.Files))
	for _, e := range m.Files {
		want[e.Path] = e.Size
	}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return failure.Wrap(failure.Internal, err, "walk %s", dir)
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return failure.Wrap(failure.Internal, err, "walk %s", dir)
		}
		rel = filepath.ToSlash(rel)
		if rel == flavor.ManifestFile {
			return nil
		}
		size, ok := want[rel]
		if !ok {
			return failure.New(failure.ChecksumMismatch, "%s: %q is not in the manifest", dir, rel)
		}
		info, err := d.Info()
		if err != nil {
			return failure.Wrap(failure.Internal, err, "stat %s", p)
		}
		if info.Size() != size {
			return failure.New(failure.ChecksumMismatch, "%s: %q is %d bytes, the manifest says %d", dir, rel, info.Size(), size)
		}
		delete(want, rel)
		return nil
	})
	if err != nil {
		return err
	}
	for rel := range want {
		return failure.New(failure.ChecksumMismatch, "%s: %q listed in the manifest is missing", dir, rel)
	}
	return nil
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
