package tests

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flavorflow/flavorflow/vocab"
	"github.com/flavorflow/flavorflow/workflows"
)

// A pipeline whose next task sits on a task queue no worker polls waits
// without an error. run and watch say which queue and which worker to
// start, status shows it, and once the worker is there the same pipeline
// finishes: nothing was lost while it waited.
func TestFollowingNamesTheMissingWorker(t *testing.T) {
	c := newCLIEnv(t)
	data := planeCSV(t, t.TempDir(), "rows.csv", 0, 20, time.Time{})
	id := fmt.Sprintf("idle-%d", time.Now().UnixNano())
	const wait = "20s" // twice the 10 s a step may stand still before the starter looks

	// No worker at all: the workflow task waits on the Go worker's queue.
	r := c.starter(nil, "run", "--model", "idle", "--data", data, "--trainer", "sklearn-linear", "--id", id, "--timeout", wait)
	require.Equal(t, 3, r.code, "%s", r)
	require.Contains(t, r.stderr, fmt.Sprintf("no worker polls task queue %q, where the workflow task waits: start the worker", c.queue), "%s", r)

	// The Go worker alone: TrainPython waits on the Python worker's queue.
	c.startWorker()
	py := c.queue + vocab.PythonQueueSuffix
	r = c.starter(nil, "watch", id, "--timeout", wait)
	require.Equal(t, 3, r.code, "%s", r)
	require.Contains(t, r.stderr, fmt.Sprintf("no worker polls task queue %q, where activity TrainPython waits: start the Python worker", py), "%s", r)
	require.NotContains(t, r.stderr, fmt.Sprintf("task queue %q,", c.queue), "the Go worker polls its queue now")

	st := c.ok("status", id)
	require.Contains(t, st.stdout, fmt.Sprintf("waiting      no worker polls task queue %q", py), "%s", st)

	// The Python worker comes: the same pipeline goes on and finishes.
	c.startPyWorker("")
	var out struct {
		Result workflows.LifecycleResult `json:"result"`
	}
	c.okJSON(&out, "watch", id)
	require.Equal(t, workflows.OutcomePromoted, out.Result.Outcome, out.Result.Reason)
	require.Equal(t, 1, out.Result.Version)
	st = c.ok("status", id)
	require.NotContains(t, st.stdout, "no worker polls", "%s", st)
}
