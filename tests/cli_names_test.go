package tests

import (
	"context"
	"encoding/json"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"

	"github.com/flavorflow/flavorflow/internal/app"
	"github.com/flavorflow/flavorflow/internal/testrig/testenv"
	"github.com/flavorflow/flavorflow/store"
	"github.com/flavorflow/flavorflow/workflows"
)

// Any name MLflow accepts works end to end in every command of the starter
// that takes one: run (and its workflow ID), status, watch, list --model,
// predict, schedule create/describe/trigger/delete. A Unicode name used to
// fail run (exit 3: the ID went into a gRPC header as non-ASCII) and always
// failed schedule create; a name with spaces and quotes must survive the
// visibility query. A name with leading whitespace is refused up front.
// Both stores: the embedded one and a real MLflow server.
func TestCLIAnyValidModelName(t *testing.T) {
	t.Parallel()
	t.Run("local", func(t *testing.T) {
		t.Parallel()
		c := newCLIEnv(t)
		testAnyValidModelName(t, c, func() store.Store { return c.openStore() })
		// export publishes each version to an MLflow server (its own: the
		// shared one has these names from the other subtest).
		ml := testenv.StartMLflow(t, testenv.MLflowOptions{})
		for _, name := range validNames() {
			r := c.ok("export", "--model", name, "--version", "1", "--to", ml.URL)
			require.Contains(t, r.stdout, "models:/"+name+"/1")
			require.Contains(t, c.ok("predict", "--tracking-uri", ml.URL, "models:/"+name+"@champion", "4").stdout, "predict(4) = 7")
			require.Contains(t, c.ok("export", "--model", name, "--version", "1", "--to", ml.URL).stdout, "Already exported")
		}
	})
	t.Run("mlflow", func(t *testing.T) {
		t.Parallel()
		ml := testenv.SharedMLflow(t, testenv.MLflowOptions{})
		c := newCLIEnv(t)
		c.env = append(c.env, "MLFLOW_TRACKING_URI="+ml.URL)
		testAnyValidModelName(t, c, func() store.Store {
			st, err := app.OpenStore(context.Background(), ml.URL, slog.New(slog.DiscardHandler))
			require.NoError(t, err)
			t.Cleanup(func() { _ = st.Close() })
			return st
		})
	})
}

// validNames are names MLflow accepts that a naive CLI gets wrong: outside
// ASCII, with a space and both quote kinds, and the longest one (256 bytes)
// all outside ASCII, whose IDs (three bytes of ID per byte of name) must
// stay under Temporal's limit and its work directory under a file name's.
func validNames() []string {
	return []string{"名前-モデル", `it's a "quoted" model`, strings.Repeat("名", 85) + "x"}
}

func testAnyValidModelName(t *testing.T, c *cliEnv, openStore func() store.Store) {
	c.startWorker()
	ctx := context.Background()
	asciiID := regexp.MustCompile(`^[\x21-\x7e]+$`)

	for _, name := range validNames() {
		var run runJSON
		c.okJSON(&run, "run", "--model", name, "--pairs", "1,4;2,5;10,13")
		require.Equal(t, "Completed", run.Status, name)
		require.Regexp(t, asciiID, run.WorkflowID, name)
		require.True(t, strings.HasPrefix(run.WorkflowID, "lifecycle-"+workflows.IDPart(name)+"-"), "%s: %s", name, run.WorkflowID)
		require.Equal(t, "models:/"+name+"/1", run.Result.ModelURI, name)
		require.Equal(t, "models:/"+name+"@champion", run.Result.AliasURI, name)

		// The real name is in the search attribute and the memo.
		d, err := c.tp.Client.DescribeWorkflowExecution(ctx, run.WorkflowID, "")
		require.NoError(t, err)
		var saName, memoName string
		require.NoError(t, converter.GetDefaultDataConverter().FromPayload(d.WorkflowExecutionInfo.SearchAttributes.GetIndexedFields()["ModelName"], &saName))
		require.NoError(t, converter.GetDefaultDataConverter().FromPayload(d.WorkflowExecutionInfo.Memo.GetFields()[workflows.MemoModelName], &memoName))
		require.Equal(t, name, saName)
		require.Equal(t, name, memoName)

		var st statusJSON
		c.okJSON(&st, "status", run.WorkflowID)
		require.Equal(t, name, st.Model)
		require.Equal(t, "models:/"+name+"/1", st.ModelURI)
		require.Contains(t, c.ok("watch", run.WorkflowID).stdout, "models:/"+name+"/1")
		require.Contains(t, c.ok("predict", "models:/"+name+"/1", "4").stdout, "predict(4) = 7")
		require.Contains(t, c.ok("predict", "models:/"+name+"@champion", "4").stdout, "predict(4) = 7")

		// Scheduled retraining of the same model.
		var sch scheduleJSON
		c.okJSON(&sch, "schedule", "create", "--model", name, "--pairs", "1,5;2,6", "--every", "1h", "--paused", "--alias", "-")
		require.Equal(t, workflows.ScheduleID(name), sch.ScheduleID)
		require.Regexp(t, asciiID, sch.ScheduleID)
		require.Equal(t, name, sch.Model)
		c.ok("schedule", "trigger", sch.ScheduleID)
		eventually(t, 2*time.Minute, func() bool {
			var d scheduleJSON
			c.okJSON(&d, "schedule", "describe", sch.ScheduleID)
			return d.NumActions == 1 && len(d.Running) == 0
		}, "the triggered run of "+name+" ends")
		c.ok("schedule", "delete", sch.ScheduleID)

		// list --model finds both pipelines by the real name, and only them.
		eventually(t, 30*time.Second, func() bool {
			var listed []statusJSON
			c.okJSON(&listed, "list", "--model", name)
			return len(listed) == 2 && listed[0].Model == name && listed[1].WorkflowID == run.WorkflowID && listed[0].Status == "Completed"
		}, "list --model "+name)
		require.Contains(t, c.ok("predict", "models:/"+name+"/2", "4").stdout, "predict(4) = 8", "the scheduled run registered version 2")
	}

	// Leading or trailing whitespace or invisible characters, and '@' (no
	// models:/ URI can name it), are refused before anything starts.
	for _, args := range [][]string{
		{"run", "--model", " lead-space", "--pairs", "1,4"},
		{"run", "--model", "zero-width\u200b", "--pairs", "1,4"},
		{"run", "--model", "at@sign", "--pairs", "1,4"},
		{"schedule", "create", "--model", "at@sign", "--pairs", "1,4", "--every", "1h"},
		{"schedule", "create", "--model", " lead-space", "--pairs", "1,4", "--every", "1h"},
		{"run", "--model", "trail-space ", "--pairs", "1,4"},
	} {
		r := c.starter(nil, append(args, "--output", "json")...)
		require.Equal(t, 2, r.code, "%v\n%s", args, r)
		var out struct {
			Error struct{ Type string } `json:"error"`
		}
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &out), "%s", r)
		require.Equal(t, "InvalidModelName", out.Error.Type, "%s", r)
	}
	// An ID given by hand must be one Temporal can carry.
	r := c.starter(nil, "run", "--model", "名前-モデル", "--pairs", "1,4", "--id", "run-名前")
	require.Equal(t, 2, r.code, "%s", r)
	r = c.starter(nil, "schedule", "create", "--model", "名前-モデル", "--pairs", "1,4", "--every", "1h", "--id", "retrain-名前")
	require.Equal(t, 2, r.code, "%s", r)
	for _, id := range []string{`run\1`, `it's`, `a"b`, "a b"} {
		r = c.starter(nil, "run", "--model", "m", "--pairs", "1,4", "--id", id)
		require.Equal(t, 2, r.code, "--id %q\n%s", id, r)
	}

	st := openStore()
	for _, name := range []string{" lead-space", "lead-space", "trail-space ", "trail-space", "zero-width\u200b", "at@sign", "at"} {
		_, err := st.GetRegisteredModel(ctx, name)
		require.Error(t, err, "%q is not registered", name)
	}
	var listed []statusJSON
	c.okJSON(&listed, "list", "--query", `ModelName = " lead-space" OR ModelName = "trail-space "`)
	require.Empty(t, listed)
}
