package activities

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/flavor"
	"github.com/flavorflow/flavorflow/internal/telemetry"
	"github.com/flavorflow/flavorflow/modeluri"
	"github.com/flavorflow/flavorflow/store"
	"github.com/flavorflow/flavorflow/vocab"
)

// LoadAndVerify downloads the exact registered version into a fresh
// directory, checks every file against the manifest and the manifest against
// the hash recorded at log time and on the version, loads the model and
// compares its predictions with the trained model's. Only then does it tag
// the version verified, which PromoteAlias requires.
func (a *Activities) LoadAndVerify(ctx context.Context, in VerifyInput) (VerifyOutput, error) {
	return run(ctx, a, "", a.loadAndVerify, in)
}

func (a *Activities) loadAndVerify(ctx context.Context, in VerifyInput) (VerifyOutput, error) {
	if len(in.Inputs) == 0 && !isGeneric(in.Flavor) {
		return VerifyOutput{}, failure.New(failure.InvalidArgument, "no verification inputs")
	}
	a.hintLocation(in.ModelName, in.Version, in.Location)
	mv, err := a.Store.GetModelVersion(ctx, in.ModelName, in.Version)
	if err != nil {
		return VerifyOutput{}, err
	}
	if tag := mv.Tags[vocab.TagManifestSHA256]; tag != in.ManifestSHA256 {
		return VerifyOutput{}, failure.New(failure.ChecksumMismatch, "version %d carries manifest hash %q, the pipeline logged %q", in.Version, tag, in.ManifestSHA256)
	}
	dst, release, err := a.downloadDir(ctx)
	if err != nil {
		return VerifyOutput{}, err
	}
	defer release()

	// The download resolves the version from the answer just checked, and
	// fetches the files the recorded manifest names without listing the
	// tree: the promotion lists it (CheckStored) before the alias moves.
	st := readVersion(a.Store, mv)
	byManifest := flavor.LoadOptions{ManifestFiles: true}
	if local, ok := a.Store.(store.LocalDirs); ok {
		// The embedded store: read the stored files where they are.
		byManifest.Local = local
	}
	stop := a.keepAlive(ctx, func() any { return "downloading" })
	dlCtx, handBack, cancel := a.untilStop(ctx)
	if isGeneric(in.Flavor) {
		loaded, err := flavor.LoadWith(dlCtx, a.registry(), st, modeluri.Version(in.ModelName, in.Version), dst, byManifest)
		cancel()
		stop()
		if err = handBack(err); err != nil {
			return VerifyOutput{}, err
		}
		return a.verifyLoaded(ctx, in, loaded)
	}
	loaded, err := flavor.LoadModelWith(dlCtx, st, modeluri.Version(in.ModelName, in.Version), dst, byManifest)
	cancel()
	stop()
	err = handBack(err)
	if err != nil {
		return VerifyOutput{}, err
	}
	if loaded.ManifestSHA256 != in.ManifestSHA256 {
		return VerifyOutput{}, failure.New(failure.ChecksumMismatch, "downloaded manifest hash %s differs from the logged %s", loaded.ManifestSHA256, in.ManifestSHA256)
	}
	preds := loaded.Model.PredictAll(in.Inputs)
	for i, x := range in.Inputs {
		if want := in.Expected.Predict(x); preds[i] != want {
			return VerifyOutput{}, failure.New(failure.VerificationFailed, "version %d predicts %v for %v, the trained model %v", in.Version, preds[i], x, want)
		}
	}
	if !loaded.Model.Equal(in.Expected) {
		return VerifyOutput{}, failure.New(failure.VerificationFailed, "version %d loads as %v, the trained model is %v", in.Version, loaded.Model, in.Expected)
	}
	if err := a.Store.SetModelVersionTag(ctx, in.ModelName, in.Version, vocab.TagVerified, "true"); err != nil {
		return VerifyOutput{}, err
	}
	size, _ := dirSize(loaded.Dir)
	a.Metrics.AddBytes(ctx, telemetry.Download, size)
	a.logger(ctx).Info("verified", "model", in.ModelName, "version", in.Version, "manifest_sha256", loaded.ManifestSHA256)
	return VerifyOutput{ManifestSHA256: loaded.ManifestSHA256, Predictions: preds, BytesRead: size}, nil
}

// ReadAlias returns the version an alias points at, 0 when it is not set.
func (a *Activities) ReadAlias(ctx context.Context, in AliasInput) (AliasOutput, error) {
	return run(ctx, a, "", func(ctx context.Context, in AliasInput) (AliasOutput, error) {
		v, err := a.readAlias(ctx, in.ModelName, in.Alias)
		return AliasOutput{Version: v}, err
	}, in)
}

func (a *Activities) readAlias(ctx context.Context, name, alias string) (int, error) {
	mv, err := a.Store.GetModelVersionByAlias(ctx, name, alias)
	switch {
	case failure.Has(err, failure.NotFound):
		return 0, nil
	case err != nil:
		return 0, err
	}
	return mv.Version, nil
}

// maxVerifyInputs bounds VerifyVersion's inputs: the predictions are kept
// in a tag, and MLflow caps tag values at a few thousand characters.
const maxVerifyInputs = 64

// VerifyVersionInput is the input of VerifyVersion.
type VerifyVersionInput struct {
	ModelName string    `json:"model_name"`
	Version   int       `json:"version"`
	Inputs    []float64 `json:"inputs"`
}

// VerifyVersionOutput reports a verified version.
type VerifyVersionOutput struct {
	ManifestSHA256 string `json:"manifest_sha256"`
	// ManifestCreated is true when this verification built the manifest
	// and recorded its hash (the version was registered outside
	// flavorflow); false when the version had one and matched it.
	ManifestCreated bool      `json:"manifest_created"`
	Flavor          string    `json:"flavor"`
	Offset          float64   `json:"offset"`
	Predictions     []float64 `json:"predictions"`
	BytesRead       int64     `json:"bytes_read"`
}

// VerifyVersion makes a version registered elsewhere (Python MLflow, the
// MLflow UI) promotable. It downloads the version; when the version records
// no manifest hash it builds the manifest of what it downloaded, uploads it
// next to the model files and records its hash on the version (and on its
// logged model), so every later load is checked; a version that records one
// is checked against it and never overwritten (ChecksumMismatch). It loads
// the model with its flavor (model.pkl is never unpickled), predicts on the
// inputs, records the predictions and tags the version verified.
//
// Retries are safe: an attempt that uploaded the manifest and stopped before
// recording its hash leaves a directory that verifies against it, and the
// next attempt records that manifest's hash instead of building another.
func (a *Activities) VerifyVersion(ctx context.Context, in VerifyVersionInput) (VerifyVersionOutput, error) {
	return run(ctx, a, "verifying version", a.verifyVersion, in)
}

func (a *Activities) verifyVersion(ctx context.Context, in VerifyVersionInput) (VerifyVersionOutput, error) {
	if err := vocab.ValidateModelName(in.ModelName); err != nil {
		return VerifyVersionOutput{}, err
	}
	switch {
	case in.Version < 1:
		return VerifyVersionOutput{}, failure.New(failure.InvalidArgument, "version %d: versions start at 1", in.Version)
	case len(in.Inputs) == 0:
		return VerifyVersionOutput{}, failure.New(failure.InvalidArgument, "no verification inputs")
	case len(in.Inputs) > maxVerifyInputs:
		return VerifyVersionOutput{}, failure.New(failure.InvalidArgument, "%d verification inputs is over the limit of %d", len(in.Inputs), maxVerifyInputs)
	}
	for _, x := range in.Inputs {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return VerifyVersionOutput{}, failure.New(failure.InvalidArgument, "verification input %v is not a finite number", x)
		}
	}
	mv, err := a.Store.GetModelVersion(ctx, in.ModelName, in.Version)
	if err != nil {
		return VerifyVersionOutput{}, err
	}
	if mv.Status != store.VersionReady {
		return VerifyVersionOutput{}, failure.New(failure.VersionNotReady, "version %d of %s is %s, not READY", in.Version, in.ModelName, mv.Status)
	}
	if err := refusedByItsPipeline(mv); err != nil {
		return VerifyVersionOutput{}, err
	}
	dst, release, err := a.downloadDir(ctx)
	if err != nil {
		return VerifyVersionOutput{}, err
	}
	defer release()

	uri := modeluri.Version(in.ModelName, in.Version)
	dlCtx, handBack, cancel := a.untilStop(ctx)
	defer cancel()
	out := VerifyVersionOutput{}
	var loaded flavor.Loaded
	if tag := mv.Tags[vocab.TagManifestSHA256]; tag != "" {
		// Recorded already (by a pipeline, an export or an earlier
		// verify): LoadModel checks the download against it.
		loaded, err = flavor.LoadModel(dlCtx, a.Store, uri, dst)
		if err = handBack(err); err != nil {
			return VerifyVersionOutput{}, err
		}
	} else {
		if loaded, out.ManifestCreated, err = a.recordManifest(dlCtx, in, mv, dst); err != nil {
			return VerifyVersionOutput{}, handBack(err)
		}
	}
	out.ManifestSHA256 = loaded.ManifestSHA256
	out.Flavor, out.Offset = loaded.Flavor, loaded.Model.Offset
	out.Predictions = loaded.Model.PredictAll(in.Inputs)
	for i, p := range out.Predictions {
		if math.IsNaN(p) || math.IsInf(p, 0) {
			return out, failure.New(failure.VerificationFailed, "version %d of %s predicts %v for %v", in.Version, in.ModelName, p, in.Inputs[i])
		}
	}
	record, err := json.Marshal(map[string]any{"inputs": in.Inputs, "predictions": out.Predictions})
	if err != nil {
		return out, failure.Wrap(failure.Internal, err, "encode predictions")
	}
	wfID, _ := workflowKey(ctx)
	for _, kv := range [][2]string{{vocab.TagVerifyPredictions, string(record)}, {vocab.TagVerifiedBy, wfID}, {vocab.TagVerified, "true"}} {
		if err := a.Store.SetModelVersionTag(ctx, in.ModelName, in.Version, kv[0], kv[1]); err != nil {
			return out, err
		}
	}
	out.BytesRead, _ = dirSize(dst)
	a.Metrics.AddBytes(ctx, telemetry.Download, out.BytesRead)
	a.logger(ctx).Info("verified version", "model", in.ModelName, "version", in.Version, "flavor", out.Flavor,
		"manifest_sha256", out.ManifestSHA256, "manifest_created", out.ManifestCreated)
	return out, nil
}

// recordManifest handles a version without a recorded manifest hash: it
// downloads the version, loads it (so no manifest is recorded for a model
// that does not load), uploads the manifest unless the download already
// has one that its files match (an earlier attempt's), and records the hash
// on the version and its logged model. created reports whether this call
// built the manifest.
func (a *Activities) recordManifest(ctx context.Context, in VerifyVersionInput, mv *store.ModelVersion, dst string) (flavor.Loaded, bool, error) {
	uri := modeluri.Version(in.ModelName, in.Version)
	dir, err := flavor.Download(ctx, a.Store, uri, dst)
	if err != nil {
		return flavor.Loaded{}, false, err
	}
	created := false
	if _, err := os.Lstat(filepath.Join(dir, flavor.ManifestFile)); errors.Is(err, fs.ErrNotExist) {
		data, _, err := flavor.BuildManifest(dir)
		if err != nil {
			return flavor.Loaded{}, false, err
		}
		// Load before anything is written to the store: a model that
		// does not load gets no manifest and no tag.
		if _, err := flavor.LoadModel(ctx, nil, dir, ""); err != nil {
			return flavor.Loaded{}, false, err
		}
		root, err := a.Store.GetModelVersionDownloadURI(ctx, in.ModelName, in.Version)
		if err != nil {
			return flavor.Loaded{}, false, err
		}
		sum := sha256.Sum256(data)
		// Last, as LogModel uploads it: its presence says the files it
		// lists are there.
		if err := a.Store.PutArtifact(ctx, root, flavor.ManifestFile, store.Source{
			Open:   func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
			Size:   int64(len(data)),
			SHA256: hex.EncodeToString(sum[:]),
		}); err != nil {
			return flavor.Loaded{}, false, err
		}
		if err := os.WriteFile(filepath.Join(dir, flavor.ManifestFile), data, 0o644); err != nil {
			return flavor.Loaded{}, false, failure.Wrap(failure.Internal, err, "write %s", flavor.ManifestFile)
		}
		created = true
	} else if err != nil {
		return flavor.Loaded{}, false, failure.Wrap(failure.Internal, err, "stat %s", flavor.ManifestFile)
	}
	// The directory now has a manifest: LoadModel checks every file
	// against it (an earlier attempt's manifest that its files do not
	// match is ChecksumMismatch, not replaced).
	loaded, err := flavor.LoadModel(ctx, nil, dir, "")
	if err != nil {
		return flavor.Loaded{}, false, err
	}
	// Never overwrite a hash someone recorded meanwhile.
	now, err := a.Store.GetModelVersion(ctx, in.ModelName, in.Version)
	if err != nil {
		return flavor.Loaded{}, false, err
	}
	switch tag := now.Tags[vocab.TagManifestSHA256]; tag {
	case "":
		if err := a.Store.SetModelVersionTag(ctx, in.ModelName, in.Version, vocab.TagManifestSHA256, loaded.ManifestSHA256); err != nil {
			return flavor.Loaded{}, false, err
		}
	case loaded.ManifestSHA256:
	default:
		return flavor.Loaded{}, false, failure.New(failure.ChecksumMismatch, "version %d of %s now records manifest hash %s, the download has %s", in.Version, in.ModelName, tag, loaded.ManifestSHA256)
	}
	if mv.ModelID != "" {
		// models:/m-<id> loads are checked against the logged model's tag.
		lm, err := a.Store.GetLoggedModel(ctx, mv.ModelID)
		switch {
		case failure.Has(err, failure.NotFound):
		case err != nil:
			return flavor.Loaded{}, false, err
		case lm.Tags[vocab.TagManifestSHA256] == "":
			if err := a.Store.SetLoggedModelTags(ctx, lm.ID, store.Tags{vocab.TagManifestSHA256: loaded.ManifestSHA256}); err != nil {
				return flavor.Loaded{}, false, err
			}
		}
	}
	return loaded, created, nil
}

// refusedByItsPipeline keeps VerifyVersion from overruling the pipeline that
// registered mv: that pipeline compared the version with the model it
// trained, which VerifyVersion cannot know, and found it wrong
// (VerificationFailed) or damaged at rest (ChecksumMismatch, after
// re-downloads agreed). Blessing it now would promote exactly what the
// evidence rejected; the way forward is a new pipeline run.
func refusedByItsPipeline(mv *store.ModelVersion) error {
	if mv.Tags[vocab.TagPipelineStatus] != vocab.PipelineFailed {
		return nil
	}
	switch code := failure.Code(mv.Tags[vocab.TagPipelineError]); code {
	case failure.VerificationFailed, failure.ChecksumMismatch:
		return failure.New(failure.VerificationFailed, "version %d of %s was rejected by the pipeline that registered it (%s, %s); starter verify does not overrule that: run the pipeline again",
			mv.Version, mv.Name, mv.Tags[vocab.TagWorkflowID], code)
	}
	return nil
}
