package tests

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/flavorflow/flavorflow/activities"
	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/internal/testrig/faultstore"
	"github.com/flavorflow/flavorflow/store/localstore"
	"github.com/flavorflow/flavorflow/vocab"
	"github.com/flavorflow/flavorflow/workflows"
)

// The scikit-learn pipeline end to end on the embedded store (the default:
// no MLflow server anywhere): the worker binary and the Python worker on
// the dev server. The Python worker cannot read the embedded store, so the
// Go worker stages the registered version in the shared work directory, the
// Python worker loads it with pyfunc and compares predictions, and the Go
// worker records the verdict; the alias moves and the work directory is
// cleaned up.
func TestSklearnPipelineOnEmbeddedStore(t *testing.T) {
	c := newCLIEnv(t)
	c.startWorker()
	py := c.startPyWorker("")
	data := writeLinearRows(t, c.dir)

	var out struct {
		Result workflows.LifecycleResult `json:"result"`
	}
	c.okJSON(&out, "run", "--model", "ske", "--data", data, "--trainer", "sklearn-linear", "--alias", "champion", "--id", "ske-1")
	res := out.Result
	if os.Getenv("FLAVORFLOW_UPDATE_GOLDEN") == "1" {
		writeHistory(t, c.tp.Client, "ske-1", "", pythonEmbeddedHistory)
	}
	require.Equal(t, "sklearn", res.Flavor)
	require.Equal(t, 1, res.Version)
	require.Equal(t, "models:/ske@champion", res.AliasURI)
	require.Equal(t, workflows.OutcomePromoted, res.Outcome)
	require.NotEmpty(t, res.ManifestSHA256)

	// The Python worker verified the staged version: its manifest, and
	// predictions of y = 1 + 2a - 3b on the first training rows.
	pv := res.PythonVerified
	require.NotNil(t, pv, "no Python verification in the result")
	require.Equal(t, res.ManifestSHA256, pv.ManifestSHA256)
	require.NotEmpty(t, pv.Dir, "the version was not staged for the Python worker")
	require.Equal(t, "models:/ske/1", pv.ModelURI)
	require.Len(t, pv.Predictions, 5)
	for i, p := range pv.Predictions {
		a, b := float64(i), float64((i*5)%7)
		require.InDelta(t, 1+2*a-3*b, p, 1e-6, "prediction %d", i)
	}
	require.Contains(t, py.logs(), "verified ske version 1")

	st := c.openStore()
	ctx := context.Background()
	mv, err := st.GetModelVersion(ctx, "ske", 1)
	require.NoError(t, err)
	require.Equal(t, "true", mv.Tags[vocab.TagVerified])
	require.Equal(t, res.ManifestSHA256, mv.Tags[vocab.TagManifestSHA256])
	alias, err := st.GetModelVersionByAlias(ctx, "ske", "champion")
	require.NoError(t, err)
	require.Equal(t, 1, alias.Version)
	mvs, err := st.SearchModelVersions(ctx, "ske", "", "")
	require.NoError(t, err)
	require.Len(t, mvs, 1)

	// The pipeline's clean-up removed the staged copy with the work directory.
	_, err = os.Stat(pv.Dir)
	require.ErrorIs(t, err, os.ErrNotExist, "the staged version was left behind")

	// Python MLflow loads what the embedded store holds for version 1
	// (<store>/artifacts/<p> is the file behind mlflow-artifacts:/<p>).
	rel, ok := strings.CutPrefix(mv.StorageLocation, "mlflow-artifacts:/")
	require.True(t, ok, "storage location %q", mv.StorageLocation)
	dir := filepath.Join(c.store, "artifacts", filepath.FromSlash(rel))
	got := pyMLflow(t, "", fmt.Sprintf(`
import mlflow, pandas as pd
m = mlflow.pyfunc.load_model(%q)
print(round(float(m.predict(pd.DataFrame({"a": [2.0], "b": [2.0]}))[0]), 6))`, dir))
	require.Equal(t, "-1.0", got)
}

// Golden histories of the Python path. pythonMLflowHistory was recorded
// against an MLflow server before StagePythonVerify existed (VerifyPython
// alone); pythonEmbeddedHistory on the embedded store with it. Refresh the
// second deliberately with FLAVORFLOW_UPDATE_GOLDEN=1 go test ./tests -run
// TestSklearnPipelineOnEmbeddedStore; the first cannot be re-recorded.
const (
	pythonMLflowHistory   = "testdata/python_mlflow_history.json"
	pythonEmbeddedHistory = "testdata/python_embedded_history.json"
)

// Python pipelines recorded before and after the staged verification
// replay against today's workflow code: the new commands are behind
// workflow.GetVersion.
func TestReplayPythonHistories(t *testing.T) {
	for _, f := range []string{pythonMLflowHistory, pythonEmbeddedHistory} {
		replayer := worker.NewWorkflowReplayer()
		workflows.Register(replayer)
		require.NoError(t, replayer.ReplayWorkflowHistoryFromJSONFile(nil, f), f)
	}
}

// A byte of the stored scikit-learn model flipped on the embedded store
// between registration and verification: staging the version for the Python
// worker finds it (ChecksumMismatch, not retried), the version is never
// tagged verified and the alias never set. The Go worker runs in this
// process so the store can be corrupted at that exact point.
func TestCorruptSklearnArtifactOnEmbeddedStoreIsNeverPromoted(t *testing.T) {
	c := newCLIEnv(t)
	local, err := localstore.Open(c.store)
	require.NoError(t, err)
	t.Cleanup(func() { _ = local.Close() })
	fs := faultstore.New(local)
	flipped := make(chan string, 1)
	fs.OnCall("CreateModelVersion", func() {
		matches, _ := filepath.Glob(filepath.Join(c.store, "artifacts", "*", "models", "*", "artifacts", "model.*"))
		for _, m := range matches {
			flipByte(t, m)
		}
		select {
		case flipped <- strings.Join(matches, " "):
		default:
		}
	})
	w := worker.New(c.tp.Client, c.queue, worker.Options{})
	workflows.Register(w)
	w.RegisterActivity(&activities.Activities{
		Store: fs, Experiment: "cli", WorkDir: filepath.Join(c.dir, "work"), Temporal: c.tp.Client,
	})
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)
	py := c.startPyWorker("")
	data := writeLinearRows(t, c.dir)

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	run, err := c.tp.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "skc-1", TaskQueue: c.queue}, workflows.WorkflowName,
		workflows.LifecycleRequest{ModelName: "skc", Alias: "champion", Data: vocab.TrainingData{Path: data}, Trainer: "sklearn-linear"})
	require.NoError(t, err)
	err = run.Get(ctx, nil)
	require.Error(t, err, "a corrupt version was promoted\n%s", py.logs())
	require.Equal(t, string(failure.ChecksumMismatch), workflows.ErrorType(err), "%v\n%s", err, py.logs())
	select {
	case f := <-flipped:
		require.NotEmpty(t, f, "no stored model file to corrupt")
	default:
		t.Fatal("the store was never corrupted")
	}

	_, err = local.GetModelVersionByAlias(ctx, "skc", "champion")
	require.True(t, failure.Has(err, failure.NotFound), "alias set on a corrupt version: %v", err)
	mvs, err := local.SearchModelVersions(ctx, "skc", "", "")
	require.NoError(t, err)
	require.Len(t, mvs, 1)
	require.NotEqual(t, "true", mvs[0].Tags[vocab.TagVerified], "the corrupt version is tagged verified")
	require.NotContains(t, py.logs(), "verified skc version", "the Python worker verified a corrupt version")
}
