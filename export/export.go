package export

import (
	"context"
	"os"
	"path/filepath"
	"strconv"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/flavor"
	"github.com/flavorflow/flavorflow/modeluri"
	"github.com/flavorflow/flavorflow/store"
	"github.com/flavorflow/flavorflow/vocab"
)

// Options control an export.
type Options struct {
	// Experiment on the destination (created when missing).
	Experiment string
	// Aliases to set on the destination version; nil copies the aliases the
	// source version has.
	Aliases []string
	// TempDir holds the downloaded model while it is copied.
	TempDir string
}

// Result describes the destination version.
type Result struct {
	Name           string   `json:"name"`
	SourceVersion  int      `json:"source_version"`
	Version        int      `json:"version"`
	ModelURI       string   `json:"model_uri"`
	LoggedModelURI string   `json:"logged_model_uri"`
	RunID          string   `json:"run_id"`
	ManifestSHA256 string   `json:"manifest_sha256"`
	Aliases        []string `json:"aliases,omitempty"`
	Created        bool     `json:"created"` // false when the export had already been done
	BytesSent      int64    `json:"bytes_sent"`
	UIURL          string   `json:"ui_url,omitempty"`
}

// Version copies version of name from src to dst.
func Version(ctx context.Context, src, dst store.Store, name string, version int, opts Options) (Result, error) {
	if err := vocab.ValidateModelName(name); err != nil {
		return Result{}, err
	}
	for _, a := range opts.Aliases {
		if err := vocab.ValidateAlias(a); err != nil {
			return Result{}, err
		}
	}
	if opts.Experiment == "" {
		return Result{}, failure.New(failure.InvalidArgument, "no destination experiment")
	}
	smv, err := src.GetModelVersion(ctx, name, version)
	if err != nil {
		return Result{}, err
	}
	if smv.Status != store.VersionReady {
		return Result{}, failure.New(failure.InvalidArgument, "version %d of %s is %s, not READY", version, name, smv.Status)
	}
	if smv.ModelID == "" {
		return Result{}, failure.New(failure.InvalidArgument, "version %d of %s has no logged model to export", version, name)
	}
	key := name + "/" + strconv.Itoa(version) + "/" + smv.ModelID
	x := &exporter{src: src, dst: dst, key: key, name: name}

	if smv.Tags[vocab.TagManifestSHA256] == "" {
		// Registered outside flavorflow (Python MLflow): nothing says what
		// its bytes should be, so they cannot be checked on either side.
		return Result{}, failure.New(failure.InvalidManifest, "version %d of %s records no manifest hash (%s); run `starter verify --model %s --version %d` first", version, name, vocab.TagManifestSHA256, name, version)
	}
	tmp, err := os.MkdirTemp(opts.TempDir, "flavorflow-export-")
	if err != nil {
		return Result{}, failure.Wrap(failure.Internal, err, "temp dir")
	}
	defer os.RemoveAll(tmp)
	// LoadModel by the version's URI compares the download with the hash
	// the version records: a version changed at rest is not published.
	srcModel, err := flavor.LoadModel(ctx, src, modeluri.Version(name, version), filepath.Join(tmp, "src"))
	if err != nil {
		return Result{}, err
	}
	dir := srcModel.Dir

	expID, err := store.EnsureExperiment(ctx, dst, opts.Experiment)
	if err != nil {
		return Result{}, err
	}
	runID, err := x.run(ctx, expID, smv.RunID)
	if err != nil {
		return Result{}, err
	}
	slm, err := src.GetLoggedModel(ctx, smv.ModelID)
	if err != nil {
		return Result{}, err
	}
	logged, err := flavor.LogModel(ctx, dst, dir, flavor.LogOptions{
		ExperimentID: expID, RunID: runID, Name: slm.Name, Params: slm.Params,
		Tags: store.Tags{vocab.TagExportKey: key}, IdempotencyKey: "export:" + key,
	})
	if err != nil {
		return Result{}, err
	}
	dmv, created, err := x.version(ctx, logged, runID, srcModel.ManifestSHA256)
	if err != nil {
		return Result{}, err
	}
	if err := x.verify(ctx, dmv.Version, logged.ManifestSHA256, srcModel, filepath.Join(tmp, "verify")); err != nil {
		return Result{}, err
	}
	aliases := opts.Aliases
	if aliases == nil {
		aliases = smv.Aliases
	}
	for _, a := range aliases {
		if err := dst.SetAlias(ctx, name, a, dmv.Version); err != nil {
			return Result{}, err
		}
	}
	return Result{
		Name: name, SourceVersion: version, Version: dmv.Version,
		ModelURI: modeluri.Version(name, dmv.Version), LoggedModelURI: logged.ModelURI,
		RunID: runID, ManifestSHA256: logged.ManifestSHA256, Aliases: aliases,
		Created: created, BytesSent: logged.Bytes, UIURL: dst.UIURL(name, dmv.Version),
	}, nil
}

type exporter struct {
	src, dst  store.Store
	key, name string
}

// run finds or creates the destination run — the source run's name, tags
// plus the export key — then writes its params, metrics, dataset inputs and
// final status.
// Those writes run whether the run was found or created: an earlier export
// may have stopped after creating it, and repeating them with the same
// values changes nothing.
func (x *exporter) run(ctx context.Context, expID, srcRunID string) (string, error) {
	var srcRun store.Run
	if srcRunID != "" {
		r, err := x.src.GetRun(ctx, srcRunID)
		if err != nil {
			return "", err
		}
		srcRun = *r
	}
	find := func() (*store.Run, error) {
		runs, err := x.dst.SearchRunsByTag(ctx, expID, vocab.TagExportKey, x.key)
		if err != nil || len(runs) == 0 {
			return nil, err
		}
		return &runs[0], nil
	}
	create := func() (*store.Run, error) {
		tags := store.Tags{}
		for k, v := range srcRun.Tags {
			tags[k] = v
		}
		tags[vocab.TagExportKey] = x.key
		return x.dst.CreateRun(ctx, store.CreateRunRequest{ExperimentID: expID, Name: srcRun.Name, StartTimeMs: srcRun.StartTimeMs, Tags: tags})
	}
	run, _, err := store.FindOrCreate(find, create)
	if err != nil {
		return "", err
	}
	if len(srcRun.Params) > 0 || len(srcRun.Metrics) > 0 {
		if err := x.dst.LogBatch(ctx, run.ID, store.Batch{Params: srcRun.Params, Metrics: srcRun.Metrics}); err != nil {
			return "", err
		}
	}
	// The datasets that trained and scored it; the store logs each once
	// per run, so a repeated export adds nothing.
	if len(srcRun.Inputs) > 0 {
		if err := x.dst.LogInputs(ctx, run.ID, srcRun.Inputs); err != nil {
			return "", err
		}
	}
	status := srcRun.Status
	if status == "" {
		status = store.RunFinished
	}
	return run.ID, x.dst.UpdateRun(ctx, run.ID, status, srcRun.EndTimeMs)
}

// version finds or creates the destination model version.
func (x *exporter) version(ctx context.Context, logged flavor.Logged, runID, srcManifest string) (*store.ModelVersion, bool, error) {
	if _, err := x.dst.CreateRegisteredModel(ctx, x.name, nil); err != nil && !failure.Has(err, failure.AlreadyExists) && !failure.Has(err, failure.ServerUnavailable) {
		return nil, false, err
	}
	find := func() (*store.ModelVersion, error) {
		mvs, err := x.dst.SearchModelVersions(ctx, x.name, vocab.TagExportKey, x.key)
		if err != nil || len(mvs) == 0 {
			return nil, err
		}
		return &mvs[0], nil
	}
	create := func() (*store.ModelVersion, error) {
		return x.dst.CreateModelVersion(ctx, store.CreateModelVersionRequest{
			Name: x.name, Source: logged.ModelURI, RunID: runID, ModelID: logged.ModelID,
			Tags: store.Tags{
				vocab.TagExportKey:            x.key,
				vocab.TagManifestSHA256:       logged.ManifestSHA256,
				vocab.TagSourceManifestSHA256: srcManifest,
			},
		})
	}
	return store.FindOrCreate(find, create)
}

// verify loads the destination version back, checks its hashes and that it
// is the same model, and tags it verified.
func (x *exporter) verify(ctx context.Context, version int, manifest string, want flavor.Loaded, dst string) error {
	got, err := flavor.LoadModel(ctx, x.dst, modeluri.Version(x.name, version), dst)
	if err != nil {
		return err
	}
	if got.ManifestSHA256 != manifest {
		return failure.New(failure.ChecksumMismatch, "exported version %d has manifest %s, uploaded %s", version, got.ManifestSHA256, manifest)
	}
	if !got.Model.Equal(want.Model) {
		return failure.New(failure.VerificationFailed, "exported version %d loads as %v, the source is %v", version, got.Model, want.Model)
	}
	return x.dst.SetModelVersionTag(ctx, x.name, version, vocab.TagVerified, "true")
}
