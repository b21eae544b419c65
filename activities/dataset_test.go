package activities

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flavorflow/flavorflow/internal/testrig/testenv"
	"github.com/flavorflow/flavorflow/mlflow"
	"github.com/flavorflow/flavorflow/store"
	"github.com/flavorflow/flavorflow/store/localstore"
	"github.com/flavorflow/flavorflow/vocab"
)

// datasetStores are the embedded store and, unless -short, a real MLflow
// server: the run's inputs must look the same on both.
func datasetStores(t *testing.T) map[string]func(t *testing.T) store.Store {
	stores := map[string]func(t *testing.T) store.Store{
		"local": func(t *testing.T) store.Store {
			st, err := localstore.Open(t.TempDir())
			require.NoError(t, err)
			t.Cleanup(func() { _ = st.Close() })
			return st
		},
	}
	if !testing.Short() {
		stores["mlflow"] = func(t *testing.T) store.Store {
			srv := testenv.StartMLflow(t, testenv.MLflowOptions{})
			st, err := mlflow.New(mlflow.Config{TrackingURI: srv.URL})
			require.NoError(t, err)
			t.Cleanup(func() { _ = st.Close() })
			return st
		}
	}
	return stores
}

// TestLogModelLogsTrainingDataset (issue 11, part 3): the run of a
// pipeline shows which data trained its model, as an MLflow dataset input
// with context "training", its digest and its source; a retried LogModel
// does not log it twice; the training metrics are linked to the logged
// model with that dataset.
func TestLogModelLogsTrainingDataset(t *testing.T) {
	for kind, open := range datasetStores(t) {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			st := open(t)
			data := filepath.Join(t.TempDir(), "train.csv")
			require.NoError(t, os.WriteFile(data, []byte("x,y\n1,4\n2,5.5\n3,5.5\n"), 0o644))
			a := &Activities{Store: st, Experiment: "datasets-" + strconv.FormatInt(time.Now().UnixNano(), 36), WorkDir: t.TempDir()}
			trained, err := a.train(ctx, TrainInput{ModelName: "m", Data: vocab.TrainingData{Path: data}})
			require.NoError(t, err)
			require.Equal(t, &TrainingDataset{Source: "file://" + data, Rows: 3}, trained.Dataset)
			save := SaveInput{ModelName: "m", Model: trained.Model, Created: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
			saved, err := a.saveModel(ctx, save)
			require.NoError(t, err)
			in := LogInput{ModelName: "m", Save: save, Saved: saved.Dir, Train: trained}
			out, err := a.logModel(ctx, in)
			require.NoError(t, err)
			// A retry (the first answer was lost) logs nothing twice.
			again, err := a.logModel(ctx, in)
			require.NoError(t, err)
			require.Equal(t, out.ModelID, again.ModelID)

			run, err := st.GetRun(ctx, out.RunID)
			require.NoError(t, err)
			require.Len(t, run.Inputs, 1, "one training dataset input: %+v", run.Inputs)
			got := run.Inputs[0]
			require.Equal(t, store.Tags{store.DatasetContextTag: "training"}, got.Tags)
			require.Equal(t, "training", got.Dataset.Name)
			require.Equal(t, trained.DataSHA256[:16], got.Dataset.Digest)
			require.Equal(t, "local", got.Dataset.SourceType)
			require.JSONEq(t, `{"uri": "file://`+data+`"}`, got.Dataset.Source)
			require.Contains(t, got.Dataset.Schema, `"name": "x"`)
			require.JSONEq(t, `{"num_rows": 3, "num_elements": 6}`, got.Dataset.Profile)

			lm, err := st.GetLoggedModel(ctx, out.ModelID)
			require.NoError(t, err)
			linked := map[string]store.Metric{}
			for _, m := range lm.Metrics {
				linked[m.Key] = m
			}
			require.Contains(t, linked, MetricTrainingMSE, "training metrics linked to the logged model: %+v", lm.Metrics)
			mse := linked[MetricTrainingMSE]
			require.InDelta(t, trained.Stats.MSE, mse.Value, 1e-12)
			require.Equal(t, "training", mse.DatasetName)
			require.Equal(t, got.Dataset.Digest, mse.DatasetDigest)
			require.Equal(t, 3.0, linked[MetricTrainingSamples].Value)
		})
	}
}

// TestLogModelInlineDataset: pairs carried in the workflow input are a
// "code" source, and a TrainOutput recorded before datasets existed logs
// none rather than a wrong one.
func TestLogModelInlineDataset(t *testing.T) {
	ctx := context.Background()
	w1, _, st, save := twoWorkers(t)
	trained, err := w1.train(ctx, TrainInput{ModelName: "m", Data: vocab.TrainingData{Pairs: []vocab.Sample{{X: 1, Y: 4}, {X: 2, Y: 5}}}})
	require.NoError(t, err)
	require.Equal(t, &TrainingDataset{Source: "inline", Rows: 2}, trained.Dataset)
	save.Model = trained.Model
	saved, err := w1.saveModel(ctx, save)
	require.NoError(t, err)
	out, err := w1.logModel(ctx, LogInput{ModelName: "m", Save: save, Saved: saved.Dir, Train: trained})
	require.NoError(t, err)
	run, err := st.GetRun(ctx, out.RunID)
	require.NoError(t, err)
	require.Len(t, run.Inputs, 1)
	require.Equal(t, "code", run.Inputs[0].Dataset.SourceType)

	old := trained
	old.Dataset = nil
	expID, err := store.EnsureExperiment(ctx, st, "old")
	require.NoError(t, err)
	w1.Experiment = "old"
	out, err = w1.logModel(ctx, LogInput{ModelName: "m", Save: save, Saved: saved.Dir, Train: old})
	require.NoError(t, err)
	run, err = st.GetRun(ctx, out.RunID)
	require.NoError(t, err)
	require.Equal(t, expID, run.ExperimentID)
	require.Empty(t, run.Inputs)
}

// TestEvaluateLogsEvaluationDataset: the held-out rows become the
// challenger run's "evaluation" input, named and digested as the metrics'
// dataset, once however often Evaluate runs.
func TestEvaluateLogsEvaluationDataset(t *testing.T) {
	for kind, open := range datasetStores(t) {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			st := open(t)
			a := &Activities{Store: st, WorkDir: t.TempDir()}
			name := "eval-ds-" + strconv.FormatInt(time.Now().UnixNano(), 36)
			v1 := newEvalVersion(t, st, name, 3, 0)
			evalFile := filepath.Join(t.TempDir(), "eval.csv")
			require.NoError(t, os.WriteFile(evalFile, []byte("x,y\n1,4\n2,5\n"), 0o644))
			in := evalInput(name, v1, 0)
			in.Holdout = vocab.Holdout{Data: &vocab.TrainingData{Path: evalFile}}
			out, err := a.evaluate(ctx, in)
			require.NoError(t, err)
			_, err = a.evaluate(ctx, in)
			require.NoError(t, err)
			run, err := st.GetRun(ctx, v1.runID)
			require.NoError(t, err)
			require.Len(t, run.Inputs, 1, "%+v", run.Inputs)
			got := run.Inputs[0]
			require.Equal(t, store.Tags{store.DatasetContextTag: "evaluation"}, got.Tags)
			require.Equal(t, EvalDatasetName, got.Dataset.Name)
			require.Equal(t, out.Evidence.HeldOutDataSHA256[:16], got.Dataset.Digest)
			require.JSONEq(t, `{"uri": "file://`+evalFile+`"}`, got.Dataset.Source)
			require.JSONEq(t, `{"num_rows": 2, "num_elements": 4}`, got.Dataset.Profile)
		})
	}
}
