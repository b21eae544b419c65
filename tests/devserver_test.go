package tests

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/worker"

	"github.com/flavorflow/flavorflow/flavor"
	"github.com/flavorflow/flavorflow/internal/testrig/testenv"
	"github.com/flavorflow/flavorflow/workflows"
)

const goldenHistory = "testdata/lifecycle_history.json"

// startWorker runs a real worker with the rig's activities on the dev server.
func startWorker(t *testing.T, c client.Client, queue string, r *rig) {
	t.Helper()
	w := worker.New(c, queue, worker.Options{})
	workflows.Register(w)
	r.acts.Temporal = c // the promote step goes through the alias's keeper workflow
	w.RegisterActivity(r.acts)
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)
}

// The tutorial's test end to end: real Temporal dev server, real worker,
// embedded store. Also checks what users see in Temporal: search attributes
// and the memo, and refreshes the golden history when asked.
func TestTutorialOnDevServer(t *testing.T) {
	tp := testenv.StartTemporal(t, testenv.TemporalOptions{})
	r := newRig(t)
	startWorker(t, tp.Client, "e2e", r)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run, err := tp.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "e2e-tutorial", TaskQueue: "e2e"},
		workflows.WorkflowName, tutorialRequest("e2e-model"))
	require.NoError(t, err)
	var res workflows.LifecycleResult
	require.NoError(t, run.Get(ctx, &res))
	require.Equal(t, 1, res.Version)

	loaded, err := flavor.LoadModel(ctx, r.local, "models:/e2e-model@champion", filepath.Join(t.TempDir(), "dl"))
	require.NoError(t, err)
	require.Equal(t, 7.0, loaded.Model.Predict(4), "predict(4) must be 7 for FakeModel(3)")

	desc, err := tp.Client.DescribeWorkflowExecution(ctx, run.GetID(), run.GetRunID())
	require.NoError(t, err)
	sa := desc.WorkflowExecutionInfo.SearchAttributes.GetIndexedFields()
	var name, stage string
	var version int64
	require.NoError(t, converter.GetDefaultDataConverter().FromPayload(sa["ModelName"], &name))
	require.NoError(t, converter.GetDefaultDataConverter().FromPayload(sa["Stage"], &stage))
	require.NoError(t, converter.GetDefaultDataConverter().FromPayload(sa["ModelVersion"], &version))
	require.Equal(t, "e2e-model", name)
	require.Equal(t, workflows.StagePromoted, stage)
	require.Equal(t, int64(1), version)
	var memoURI string
	require.NoError(t, converter.GetDefaultDataConverter().FromPayload(desc.WorkflowExecutionInfo.Memo.GetFields()[workflows.MemoModelURI], &memoURI))
	require.Equal(t, "models:/e2e-model/1", memoURI)

	// Visibility: the pipeline is found by ModelName and Stage.
	require.Eventually(t, func() bool {
		resp, err := tp.Client.CountWorkflow(ctx, &countRequest{Query: `ModelName = "e2e-model" AND Stage = "promoted"`})
		return err == nil && resp.GetCount() == 1
	}, 10*time.Second, 200*time.Millisecond)

	if os.Getenv("FLAVORFLOW_UPDATE_GOLDEN") == "1" {
		writeHistory(t, tp.Client, run.GetID(), run.GetRunID(), goldenHistory)
	}
}

// The committed history of a full pipeline must replay against today's
// workflow code: a change that would break running pipelines fails here.
// Refresh it deliberately with FLAVORFLOW_UPDATE_GOLDEN=1 go test ./tests -run TestTutorialOnDevServer.
func TestReplayGoldenHistory(t *testing.T) {
	replayer := worker.NewWorkflowReplayer()
	workflows.Register(replayer)
	require.NoError(t, replayer.ReplayWorkflowHistoryFromJSONFile(nil, goldenHistory))
}

func writeHistory(t *testing.T, c client.Client, id, runID, path string) {
	t.Helper()
	iter := c.GetWorkflowHistory(context.Background(), id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var events []json.RawMessage
	for iter.HasNext() {
		ev, err := iter.Next()
		require.NoError(t, err)
		b, err := protoJSON(ev)
		require.NoError(t, err)
		events = append(events, b)
	}
	out, err := json.MarshalIndent(map[string]any{"events": events}, "", "  ")
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, out, 0o644))
	t.Logf("wrote %s (%d events)", path, len(events))
}
