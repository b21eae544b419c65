package activities

import (
	"context"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/flavor"
	"github.com/flavorflow/flavorflow/internal/telemetry"
	"github.com/flavorflow/flavorflow/store"
	"github.com/flavorflow/flavorflow/vocab"
)

// LoggedModelName is the logged model's name inside its run, as Python's
// log_model(name="model") would give it.
const LoggedModelName = "model"

// Training metrics LogModel logs to the run, and links to the logged model.
const (
	MetricTrainingMSE     = "training_mse"
	MetricTrainingSamples = "training_samples"
)

// LogModel finds or creates the experiment, the run (tagged with the
// workflow ID) and the logged model, and streams the saved directory up,
// resuming where an earlier attempt stopped.
func (a *Activities) LogModel(ctx context.Context, in LogInput) (LogOutput, error) {
	return run(ctx, a, "", a.logModel, in)
}

func (a *Activities) logModel(ctx context.Context, in LogInput) (LogOutput, error) {
	// Heartbeat from the start: a re-save or a slow store before the upload
	// must not look like a dead worker.
	var sent atomic.Int64
	stop := a.keepAlive(ctx, func() any { return sent.Load() })
	defer stop()
	dir, err := a.savedDir(ctx, in)
	if err != nil {
		return LogOutput{}, err
	}
	expID, err := store.EnsureExperiment(ctx, a.Store, a.Experiment)
	if err != nil {
		return LogOutput{}, err
	}
	run, err := a.ensureRun(ctx, expID, in)
	if err != nil {
		return LogOutput{}, err
	}
	wfID, _ := workflowKey(ctx)
	upCtx, handBack, cancel := a.untilStop(ctx)
	logged, err := flavor.LogModel(upCtx, a.Store, dir, flavor.LogOptions{
		ExperimentID: expID,
		RunID:        run.ID,
		// As ensureRun left it, with trainParams logged: no second read.
		Run:                 run,
		Name:                LoggedModelName,
		Params:              trainParams(in),
		Tags:                store.Tags{vocab.TagWorkflowID: wfID, vocab.TagSavedCreated: in.Save.Created.UTC().Format(time.RFC3339Nano)},
		IdempotencyKey:      wfID,
		SavedManifestSHA256: in.Saved.SHA256,
		Parallelism:         a.UploadParallelism,
		Progress:            func(n int64) { sent.Store(n) },
	})
	cancel()
	err = handBack(err)
	a.Metrics.AddBytes(ctx, telemetry.Upload, sent.Load())
	if err != nil && in.External {
		return LogOutput{}, err // not this worker's save: never removed here
	}
	if err != nil {
		return LogOutput{}, a.damagedAtRest(ctx, dir, err)
	}
	if err := a.logModelMetrics(ctx, run, logged.ModelID, in); err != nil {
		return LogOutput{}, err
	}
	if err := a.Store.UpdateRun(ctx, run.ID, store.RunFinished, time.Now().UnixMilli()); err != nil {
		return LogOutput{}, err
	}
	a.logger(ctx).Info("logged model", "run_id", run.ID, "model_id", logged.ModelID, "bytes_sent", logged.Bytes, "reused", logged.Reused)
	return LogOutput{
		ExperimentID: expID,
		RunID:        run.ID,
		ModelID:      logged.ModelID,
		ModelURI:     logged.ModelURI,
		Logged:       ArtifactRef{URI: logged.ArtifactURI, SHA256: logged.ManifestSHA256, Size: in.Saved.Size},
		BytesSent:    logged.Bytes,
	}, nil
}

// savedDir is the directory LogModel uploads: this worker's save (re-saved
// if missing), or the one another worker saved. The latter cannot be
// re-saved here: missing or damaged, it is NotFound or ChecksumMismatch, and
// the pipeline fails rather than log other bytes than the trainer's.
func (a *Activities) savedDir(ctx context.Context, in LogInput) (string, error) {
	if !in.External {
		return a.ensureSaved(ctx, in.Save, in.Saved.SHA256)
	}
	dir, ok := strings.CutPrefix(in.Saved.URI, "file://")
	if !ok || !filepath.IsAbs(dir) {
		return "", failure.New(failure.InvalidArgument, "saved model %q is not a file:// URI of an absolute path", in.Saved.URI)
	}
	if err := checkSaved(dir, in.Saved.SHA256); err != nil {
		return "", failure.Wrap(failure.CodeOf(err), err, "the directory the Python worker saved (both workers must share the work directory)")
	}
	return dir, nil
}

// damagedAtRest turns a non-retryable integrity failure of the local copy
// into a retryable one after removing the copy, so the next attempt re-saves
// it: the cheap check in ensureSaved passed, but a file's bytes changed on
// this worker's disk. Only on this error path is the directory hashed again.
func (a *Activities) damagedAtRest(ctx context.Context, dir string, err error) error {
	switch failure.CodeOf(err) {
	case failure.ChecksumMismatch, failure.InvalidManifest, failure.InvalidPath:
	default:
		return err
	}
	if _, _, verr := flavor.VerifyDir(dir); verr == nil {
		return err // the local copy is sound: the failure is the store's
	}
	if rerr := removeAll(dir); rerr != nil {
		return err
	}
	a.logger(ctx).Warn("the saved model on this worker is damaged; removed it so the retry re-saves it", "dir", dir, "error", err)
	return failure.Wrap(failure.Internal, err, "the saved model in %s is damaged; it is re-saved on retry", dir)
}

// ensureRun finds the workflow's run by tag or creates it (looking again
// after an ambiguous create failure, since the server may have committed),
// then logs the training params and metrics. The log runs whether the run
// was found or created: an earlier attempt may have made the run and failed
// before its LogBatch committed, and a repeated LogBatch with the same values
// and timestamps changes nothing.
func (a *Activities) ensureRun(ctx context.Context, expID string, in LogInput) (*store.Run, error) {
	wfID, wfRunID := workflowKey(ctx)
	find := func() (*store.Run, error) {
		runs, err := a.Store.SearchRunsByTag(ctx, expID, vocab.TagWorkflowID, wfID)
		if err != nil || len(runs) == 0 {
			return nil, err
		}
		return &runs[0], nil
	}
	create := func() (*store.Run, error) {
		tags := store.Tags{
			vocab.TagWorkflowID:    wfID,
			vocab.TagWorkflowRunID: wfRunID,
			vocab.TagDataSHA256:    in.Train.DataSHA256,
			"mlflow.runName":       in.ModelName + "-" + shortID(wfID),
			"mlflow.source.name":   "flavorflow",
			"mlflow.source.type":   "JOB",
			"mlflow.user":          "flavorflow",
		}
		if !in.Cutoff.IsZero() {
			tags[vocab.TagCutoff] = in.Cutoff.UTC().Format(time.RFC3339)
		}
		return a.Store.CreateRun(ctx, store.CreateRunRequest{
			ExperimentID: expID, Name: tags["mlflow.runName"], StartTimeMs: time.Now().UnixMilli(), Tags: tags,
		})
	}
	run, created, err := store.FindOrCreate(find, create)
	if err != nil {
		return nil, err
	}
	if !created && run.Status != store.RunRunning && run.Status != store.RunFinished {
		// A failed attempt of this workflow ID was compensated (FAILED) or
		// killed: a re-run with the same ID revives its run, so the workflow
		// still has exactly one.
		if err := a.Store.UpdateRun(ctx, run.ID, store.RunRunning, 0); err != nil {
			return nil, err
		}
		a.logger(ctx).Info("revived the run of an earlier failed attempt", "run_id", run.ID, "status", run.Status)
		run.Status = store.RunRunning
	}
	batch := store.Batch{
		Params: trainParams(in),
		Metrics: []store.Metric{
			{Key: MetricTrainingMSE, Value: in.Train.Stats.MSE, TimestampMs: run.StartTimeMs},
			{Key: MetricTrainingSamples, Value: float64(in.Train.Stats.N), TimestampMs: run.StartTimeMs},
			{Key: "offset", Value: in.Train.Model.Offset, TimestampMs: run.StartTimeMs},
		},
	}
	if isGeneric(in.Train.Flavor) {
		// No offset: the trainer's own metrics instead, in key order so
		// a retried LogBatch sends the same batch.
		batch.Metrics = batch.Metrics[:2]
		for _, k := range slices.Sorted(maps.Keys(in.Train.Metrics)) {
			if k != "mse" && k != "n" {
				batch.Metrics = append(batch.Metrics, store.Metric{Key: "training_" + k, Value: in.Train.Metrics[k], TimestampMs: run.StartTimeMs})
			}
		}
	}
	if err := a.Store.LogBatch(ctx, run.ID, batch); err != nil {
		return nil, err
	}
	// The training rows as the run's dataset input. Every attempt logs it:
	// the store keeps one input per (run, name, digest), so a retry after a
	// lost answer adds nothing.
	if ds := in.Train.Dataset; ds != nil && in.Train.DataSHA256 != "" {
		input := datasetInput(TrainingDatasetName, in.Train.DataSHA256, ds.Source, ds.Rows, ContextTraining)
		if err := a.Store.LogInputs(ctx, run.ID, []store.DatasetInput{input}); err != nil {
			return nil, err
		}
	}
	return run, nil
}

// logModelMetrics links the training metrics to the logged model (MLflow
// 3's model page and the experiment's model table show them), with the
// training dataset when there is one. The points equal the run's (same
// key, value, time and step), so the run gains nothing new and a retry
// repeats identical points.
func (a *Activities) logModelMetrics(ctx context.Context, run *store.Run, modelID string, in LogInput) error {
	point := func(key string, v float64) store.Metric {
		m := store.Metric{Key: key, Value: v, TimestampMs: run.StartTimeMs, ModelID: modelID}
		if in.Train.Dataset != nil && in.Train.DataSHA256 != "" {
			m.DatasetName = TrainingDatasetName
			m.DatasetDigest = datasetDigest(in.Train.DataSHA256)
		}
		return m
	}
	return a.Store.LogBatch(ctx, run.ID, store.Batch{Metrics: []store.Metric{
		point(MetricTrainingMSE, in.Train.Stats.MSE),
		point(MetricTrainingSamples, float64(in.Train.Stats.N)),
	}})
}

func trainParams(in LogInput) store.Tags {
	p := store.Tags{
		"model_name":   in.ModelName,
		"flavor":       flavor.FlavorName,
		"weights_size": strconv.FormatInt(in.Train.Model.WeightsSize, 10),
		"samples":      strconv.Itoa(in.Train.Stats.N),
	}
	if isGeneric(in.Train.Flavor) {
		p["flavor"] = in.Train.Flavor
		delete(p, "weights_size")
	}
	if in.Train.HeldOut != "" {
		// samples counts the rows trained on; these say what was kept out.
		p["held_out"] = in.Train.HeldOut
		p["held_out_rows"] = strconv.Itoa(in.Train.HeldOutRows)
	}
	return p
}

// shortID keeps run names readable: the last 12 characters of the ID.
func shortID(id string) string {
	if len(id) <= 12 {
		return id
	}
	return id[len(id)-12:]
}
