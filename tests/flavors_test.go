package tests

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/flavor"
	"github.com/flavorflow/flavorflow/internal/testrig/testenv"
	"github.com/flavorflow/flavorflow/linearmodel"
	"github.com/flavorflow/flavorflow/rows"
	"github.com/flavorflow/flavorflow/vocab"
	"github.com/flavorflow/flavorflow/workflows"
)

// A pipeline naming a trainer or flavor the worker was not built with fails
// in its first step with UnknownTrainer or FlavorNotFound, on the first
// attempt (no retry could help), having created nothing in the store; the
// same request naming the defaults runs through. Real dev server and worker.
func TestPipelineNamesTrainerAndFlavor(t *testing.T) {
	tp := testenv.StartTemporal(t, testenv.TemporalOptions{})
	r := newRig(t)
	startWorker(t, tp.Client, "flavors", r)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, tc := range []struct {
		id, flavor, trainer string
		code                failure.Code
	}{
		{"flavors-unknown-trainer", "", "nosuch-linear", failure.UnknownTrainer},
		{"flavors-unknown-flavor", "sklearn", "", failure.FlavorNotFound},
	} {
		req := tutorialRequest("fl")
		req.Flavor, req.Trainer = tc.flavor, tc.trainer
		run, err := tp.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: tc.id, TaskQueue: "flavors"}, workflows.WorkflowName, req)
		require.NoError(t, err)
		err = run.Get(ctx, nil)
		require.Equal(t, string(tc.code), workflows.ErrorType(err), "%s: %v", tc.id, err)
		var app *temporal.ApplicationError
		require.True(t, errors.As(err, &app) && app.NonRetryable(), "%s: %v", tc.id, err)
		require.Equal(t, counts{0, 0, 0}, r.count(t, "fl", tc.id))
		// One Train attempt: the error is not retried.
		iter := tp.Client.GetWorkflowHistory(ctx, tc.id, run.GetRunID(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for iter.HasNext() {
			ev, err := iter.Next()
			require.NoError(t, err)
			if a := ev.GetActivityTaskStartedEventAttributes(); a != nil {
				require.EqualValues(t, 1, a.GetAttempt(), "%s: Train was retried", tc.id)
			}
		}
	}
	req := tutorialRequest("fl")
	req.Flavor, req.Trainer = "fakemodel", "fakemodel"
	run, err := tp.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "flavors-named-default", TaskQueue: "flavors"}, workflows.WorkflowName, req)
	require.NoError(t, err)
	var res workflows.LifecycleResult
	require.NoError(t, run.Get(ctx, &res))
	require.Equal(t, 1, res.Version)
	require.Equal(t, 3.0, res.Offset)
}

// A pipeline of the linear flavor runs end to end on the dev server: the
// trainer from the worker's registry fits the rows of a CSV file, the model
// travels as JSON, is saved, logged, registered, verified by its
// predictions on training rows and promoted; the version loads back
// through the registry. With held-out rows it is evaluated too.
func TestLinearPipelineOnDevServer(t *testing.T) {
	tp := testenv.StartTemporal(t, testenv.TemporalOptions{})
	r := newRig(t)
	reg := flavor.Builtin()
	require.NoError(t, reg.AddFlavor(linearmodel.Flavor{}))
	require.NoError(t, reg.AddTrainer(linearmodel.Trainer("y")))
	r.acts.Flavors = reg
	startWorker(t, tp.Client, "linear", r)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	data := filepath.Join(t.TempDir(), "rows.csv")
	csv := "a,b,y\n"
	for i := range 12 {
		a, b := float64(i), float64((i*5)%7)
		csv += fmt.Sprintf("%g,%g,%g\n", a, b, 1+2*a-3*b)
	}
	require.NoError(t, os.WriteFile(data, []byte(csv), 0o644))
	req := workflows.LifecycleRequest{ModelName: "lin", Alias: "champion", Data: vocab.TrainingData{Path: data}, Trainer: "linear"}
	run, err := tp.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "linear-pipeline", TaskQueue: "linear"}, workflows.WorkflowName, req)
	require.NoError(t, err)
	var res workflows.LifecycleResult
	require.NoError(t, run.Get(ctx, &res))
	require.Equal(t, 1, res.Version)
	require.Equal(t, "models:/lin@champion", res.AliasURI)
	require.Equal(t, counts{1, 1, 1}, r.count(t, "lin", "linear-pipeline"))

	loaded, err := flavor.Load(ctx, reg, r.local, "models:/lin@champion", filepath.Join(t.TempDir(), "dl"))
	require.NoError(t, err)
	require.Equal(t, linearmodel.Name, loaded.Flavor)
	require.Equal(t, res.ManifestSHA256, loaded.ManifestSHA256)
	got, err := loaded.Predictor.Predict(ctx, rows.Table{Columns: []string{"a", "b"}, Rows: [][]float64{{2, 2}}})
	require.NoError(t, err)
	require.InDelta(t, 1+4-6, got[0], 1e-9)
	mv, err := r.local.GetModelVersion(ctx, "lin", 1)
	require.NoError(t, err)
	require.Equal(t, "true", mv.Tags["flavorflow.verified"])
	rn, err := r.local.GetRun(ctx, res.RunID)
	require.NoError(t, err)
	require.Equal(t, linearmodel.Name, rn.Params["flavor"])

	// Held-out rows are evaluated for this flavor as for FakeModels.
	req.ModelName, req.Holdout = "lin2", vocab.Holdout{Fraction: 0.25}
	run, err = tp.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "linear-policy", TaskQueue: "linear"}, workflows.WorkflowName, req)
	require.NoError(t, err)
	require.NoError(t, run.Get(ctx, &res))
	require.Equal(t, workflows.OutcomePromoted, res.Outcome)
	require.NotNil(t, res.Evidence)
	require.InDelta(t, 0, res.Evidence.ChallengerScores.MSE, 1e-9)
}

// A linear model whose stored weights change between registration and
// verification fails with ChecksumMismatch and never takes the alias, as a
// FakeModel does.
func TestCorruptedLinearArtifactIsNeverPromoted(t *testing.T) {
	r := newRig(t)
	reg := flavor.Builtin()
	require.NoError(t, reg.AddFlavor(linearmodel.Flavor{}))
	require.NoError(t, reg.AddTrainer(linearmodel.Trainer("y")))
	r.acts.Flavors = reg
	data := filepath.Join(t.TempDir(), "rows.json")
	require.NoError(t, os.WriteFile(data, []byte(`[{"a":0,"y":1},{"a":1,"y":3},{"a":2,"y":5.5}]`), 0o644))
	r.faults.OnCall("CreateModelVersion", func() {
		matches, _ := filepath.Glob(filepath.Join(r.dir, "store", "artifacts", "*", "models", "*", "artifacts", linearmodel.DataFile))
		require.NotEmpty(t, matches)
		for _, m := range matches {
			flipByte(t, m)
		}
	})
	_, err := r.runInTestEnv(t, "wf-linear-bad", workflows.LifecycleRequest{
		ModelName: "lc", Alias: "champion", Data: vocab.TrainingData{Path: data}, Trainer: "linear", Flavor: linearmodel.Name,
	})
	require.Error(t, err)
	require.Equal(t, string(failure.ChecksumMismatch), workflows.ErrorType(err), err.Error())
	require.Equal(t, 0, r.aliasVersion(t, "lc", "champion"), "alias moved to a corrupt version")
}

// linearRig is a rig whose worker has the linear flavor and trainer, and a
// request that trains it on a small JSON file.
func linearRig(t *testing.T) (*rig, workflows.LifecycleRequest) {
	t.Helper()
	r := newRig(t)
	reg := flavor.Builtin()
	require.NoError(t, reg.AddFlavor(linearmodel.Flavor{}))
	require.NoError(t, reg.AddTrainer(linearmodel.Trainer("y")))
	r.acts.Flavors = reg
	data := filepath.Join(t.TempDir(), "rows.json")
	require.NoError(t, os.WriteFile(data, []byte(`[{"a":0,"b":1,"y":1},{"a":1,"b":0,"y":3},{"a":2,"b":2,"y":5.5},{"a":3,"b":1,"y":6}]`), 0o644))
	return r, workflows.LifecycleRequest{ModelName: "m", Alias: "champion", Data: vocab.TrainingData{Path: data}, Trainer: "linear"}
}

// The exactly-once rules hold for the linear flavor: every write can commit
// and lose its answer, and the pipeline still ends with one run, one logged
// model and one version, verified and promoted; re-running the workflow ID
// (the model re-saved from its JSON) makes nothing new.
func TestLinearExactlyOnceWhenAnswersAreLost(t *testing.T) {
	for _, method := range []string{"CreateRun", "LogBatch", "CreateLoggedModel", "PutArtifact", "FinalizeLoggedModel", "CreateModelVersion", "SetModelVersionTag", "SetAlias"} {
		t.Run(method, func(t *testing.T) {
			r, req := linearRig(t)
			r.faults.FailAfterCommit(method, 2)
			res, err := r.runInTestEnv(t, "wf-"+method, req)
			require.NoError(t, err)
			require.GreaterOrEqual(t, r.faults.Injected(method), 1, "the fault was not exercised")
			require.Equal(t, counts{1, 1, 1}, r.count(t, "m", "wf-"+method))
			require.Equal(t, 1, r.aliasVersion(t, "m", "champion"))
			require.Equal(t, 1, res.Version)
			require.NoError(t, os.RemoveAll(filepath.Join(r.dir, "work"))) // another worker: re-save from the history
			again, err := r.runInTestEnv(t, "wf-"+method, req)
			require.NoError(t, err)
			require.Equal(t, res.ModelID, again.ModelID)
			require.Equal(t, res.ManifestSHA256, again.ManifestSHA256)
			require.Len(t, r.allVersions(t, "m"), 1)
		})
	}
}
