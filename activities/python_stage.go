package activities

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/flavor"
	"github.com/flavorflow/flavorflow/internal/telemetry"
	"github.com/flavorflow/flavorflow/mlflow"
	"github.com/flavorflow/flavorflow/modeluri"
	"github.com/flavorflow/flavorflow/vocab"
)

// Verification of a model trained in Python (docs/ARCHITECTURE.md §18).
// Go cannot load a scikit-learn model, so the Python worker verifies it; but
// the Python worker reaches a store only through Python MLflow, which an
// MLflow server serves and the embedded store does not. On the embedded
// store the Go worker therefore brings the exact registered version to the
// Python worker (StagePythonVerify) and records the Python worker's verdict
// on the version (RecordPythonVerified).

// pythonStagedRel is the staged version's directory inside the workflow's work
// directory; the pipeline's CleanUp removes it with the rest.
func pythonStagedRel(version int) string { return fmt.Sprintf("python-verify-v%d", version) }

// pythonRelTol is the Python worker's REL_TOL: the tolerance a Python
// prediction may differ from the trainer's.
const pythonRelTol = 1e-9

// StagePythonInput is the input of StagePythonVerify.
type StagePythonInput struct {
	ModelName string `json:"model_name"`
	Version   int    `json:"version"`
	// ManifestSHA256 is the hash the pipeline logged; empty for a version
	// it did not log (the champion it is evaluated against): then the hash
	// recorded on the version is checked, and one must be recorded.
	ManifestSHA256 string `json:"manifest_sha256"`
}

// StagePythonOutput says how the Python worker verifies: Dir "" means it
// loads models:/<name>/<version> through Python MLflow itself (the store is
// an MLflow server); otherwise Dir is the absolute path of the version,
// downloaded and checked here, which it loads instead.
type StagePythonOutput struct {
	Dir            string `json:"dir,omitempty"`
	ManifestSHA256 string `json:"manifest_sha256,omitempty"`
	BytesRead      int64  `json:"bytes_read,omitempty"`
}

// StagePythonVerify downloads the exact registered version into the
// workflow's work directory, which both workers share, when the Python
// worker cannot read this worker's store itself; against an MLflow server
// it does nothing and returns Dir "" (the Python worker loads the version's
// models:/ URI, as MLflow users do). The download is the one LoadAndVerify
// makes: every file against the manifest, the manifest against the hash
// recorded on the version and the one the pipeline logged. It lands under a
// temporary name and is renamed, so the directory the Python worker is
// given is complete.
func (a *Activities) StagePythonVerify(ctx context.Context, in StagePythonInput) (StagePythonOutput, error) {
	// Heartbeats throughout: a large version downloads for long.
	return run(ctx, a, "staging for the Python worker", a.stagePythonVerify, in)
}

// pythonReadsStore reports whether the Python worker reaches this worker's
// store through Python MLflow: only an MLflow server. Anything else (the
// embedded store, or a store wrapped by a test rig) is staged, which works
// for every store, so an unknown store never leaves the Python worker
// looking for models:/ URIs it cannot resolve.
func (a *Activities) pythonReadsStore() bool {
	_, ok := a.Store.(*mlflow.Client)
	return ok
}

func (a *Activities) stagePythonVerify(ctx context.Context, in StagePythonInput) (StagePythonOutput, error) {
	if a.pythonReadsStore() {
		return StagePythonOutput{}, nil
	}
	if a.WorkDir == "" {
		return StagePythonOutput{}, failure.New(failure.InvalidConfig, "the worker has no work directory to hand the version to the Python worker")
	}
	mv, err := a.Store.GetModelVersion(ctx, in.ModelName, in.Version)
	if err != nil {
		return StagePythonOutput{}, err
	}
	// want is the hash the pipeline logged; a champion staged for
	// evaluation was logged by another pipeline, so its recorded hash is
	// the one to check against, and a version without one is not loaded.
	want, tag := in.ManifestSHA256, mv.Tags[vocab.TagManifestSHA256]
	if want == "" {
		if tag == "" {
			return StagePythonOutput{}, failure.New(failure.InvalidManifest, "version %d of %s records no manifest hash (%s) to check its bytes against", in.Version, in.ModelName, vocab.TagManifestSHA256)
		}
		want = tag
	}
	if tag != want {
		return StagePythonOutput{}, failure.New(failure.ChecksumMismatch, "version %d carries manifest hash %q, the pipeline logged %q", in.Version, tag, want)
	}
	final, err := filepath.Abs(a.workDir(ctx, pythonStagedRel(in.Version)))
	if err != nil {
		return StagePythonOutput{}, failure.Wrap(failure.Internal, err, "work directory")
	}
	// An earlier attempt that renamed its download into place and died
	// before it reported: keep it if it still matches, else fetch again.
	if _, err := os.Lstat(final); err == nil {
		if _, sum, err := flavor.VerifyDir(final); err == nil && sum == want {
			size, _ := dirSize(final)
			return StagePythonOutput{Dir: final, ManifestSHA256: sum, BytesRead: size}, nil
		}
		if err := removeAll(final); err != nil {
			return StagePythonOutput{}, err
		}
	}
	parent := filepath.Dir(final)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return StagePythonOutput{}, failure.Wrap(failure.Internal, err, "create %s", parent)
	}
	// .tmp-*: the janitor sweeps what a killed attempt leaves (isTemp).
	tmp, err := os.MkdirTemp(parent, ".tmp-stage-")
	if err != nil {
		return StagePythonOutput{}, failure.Wrap(failure.Internal, err, "create a temporary directory in %s", parent)
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	dst := filepath.Join(tmp, "m")

	dlCtx, handBack, cancel := a.untilStop(ctx)
	_, err = flavor.Download(dlCtx, a.Store, modeluri.Version(in.ModelName, in.Version), dst)
	cancel()
	if err = handBack(err); err != nil {
		return StagePythonOutput{}, err
	}
	// Download checked the manifest against the version's hash as it
	// fetched; this checks the directory as it is on disk, the bytes the
	// Python worker will read.
	_, sum, err := flavor.VerifyDir(dst)
	if err != nil {
		return StagePythonOutput{}, err
	}
	if sum != want {
		return StagePythonOutput{}, failure.New(failure.ChecksumMismatch, "version %d downloads with manifest hash %s, the pipeline logged %s", in.Version, sum, want)
	}
	if err := os.Rename(dst, final); err != nil {
		return StagePythonOutput{}, failure.Wrap(failure.Internal, err, "rename %s to %s", dst, final)
	}
	size, _ := dirSize(final)
	a.Metrics.AddBytes(ctx, telemetry.Download, size)
	a.logger(ctx).Info("staged the version for the Python worker", "model", in.ModelName, "version", in.Version, "dir", final, "manifest_sha256", sum)
	return StagePythonOutput{Dir: final, ManifestSHA256: sum, BytesRead: size}, nil
}

// RecordPythonInput is the input of RecordPythonVerified: the version, what
// the pipeline logged and trained, and the Python worker's verdict.
type RecordPythonInput struct {
	ModelName      string             `json:"model_name"`
	Version        int                `json:"version"`
	ManifestSHA256 string             `json:"manifest_sha256"`
	Check          *ModelCheck        `json:"check"`
	Verified       PythonVerifyOutput `json:"verified"`
}

// RecordPythonVerified tags a version the Python worker verified from a
// staged directory (the Python worker cannot write to the embedded store).
// It does not take the verdict on trust: the manifest the Python worker
// checked must be the one logged and recorded on the version, and its
// predictions must be the trainer's within the Python worker's tolerance.
func (a *Activities) RecordPythonVerified(ctx context.Context, in RecordPythonInput) (struct{}, error) {
	// Heartbeats: the step's heartbeat timeout holds for a slow store too.
	return run(ctx, a, "recording the Python verification", a.recordPythonVerified, in)
}

func (a *Activities) recordPythonVerified(ctx context.Context, in RecordPythonInput) (struct{}, error) {
	if in.Verified.ManifestSHA256 != in.ManifestSHA256 {
		return struct{}{}, failure.New(failure.ChecksumMismatch, "the Python worker verified manifest %q, the pipeline logged %q", in.Verified.ManifestSHA256, in.ManifestSHA256)
	}
	if in.Check == nil || len(in.Check.Predictions) == 0 {
		return struct{}{}, failure.New(failure.InvalidArgument, "no check rows to compare the Python worker's predictions with")
	}
	got, want := in.Verified.Predictions, in.Check.Predictions
	if len(got) != len(want) {
		return struct{}{}, failure.New(failure.VerificationFailed, "version %d: the Python worker returned %d predictions for %d check rows", in.Version, len(got), len(want))
	}
	for i := range want {
		if !closeEnough(got[i], want[i]) {
			return struct{}{}, failure.New(failure.VerificationFailed, "version %d predicts %v on check row %d, the trained model %v", in.Version, got[i], i, want[i])
		}
	}
	mv, err := a.Store.GetModelVersion(ctx, in.ModelName, in.Version)
	if err != nil {
		return struct{}{}, err
	}
	if tag := mv.Tags[vocab.TagManifestSHA256]; tag != in.ManifestSHA256 {
		return struct{}{}, failure.New(failure.ChecksumMismatch, "version %d carries manifest hash %q, the pipeline logged %q", in.Version, tag, in.ManifestSHA256)
	}
	if err := a.Store.SetModelVersionTag(ctx, in.ModelName, in.Version, vocab.TagVerified, "true"); err != nil {
		return struct{}{}, err
	}
	a.logger(ctx).Info("verified by the Python worker", "model", in.ModelName, "version", in.Version, "manifest_sha256", in.ManifestSHA256)
	return struct{}{}, nil
}

// closeEnough is the Python worker's comparison (math.isclose with a
// relative tolerance, or equal): finite numbers only.
func closeEnough(got, want float64) bool {
	if math.IsNaN(got) || math.IsInf(got, 0) || math.IsNaN(want) || math.IsInf(want, 0) {
		return false
	}
	return got == want || math.Abs(got-want) <= pythonRelTol*math.Max(math.Abs(got), math.Abs(want))
}
