package tests

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// The command line as the issue asks for it, on a real dev server and
// worker: flags after or before the positional argument (the flag package
// stopped at the first positional, so "status ID --json" was refused and
// schedule commands reordered argv), --json beside --output json, the help
// of one command, and an unknown flag named wherever it is.
func TestCLIFlagsAnywhere(t *testing.T) {
	t.Parallel()
	c := newCLIEnv(t)
	c.startWorker()
	c.ok("run", "--model", "cobra-model", "--pairs", "1,4;2,5", "--id", "cobra-run")

	var want statusJSON
	c.okJSON(&want, "status", "cobra-run")
	require.Equal(t, "Completed", want.Status)
	for _, args := range [][]string{
		{"status", "cobra-run", "--json"}, {"status", "--json", "cobra-run"}, {"status", "cobra-run", "--output", "json"},
		{"--json", "status", "cobra-run"}, {"status", "cobra-run", "--output=json", "--namespace", "default"},
	} {
		var got statusJSON
		r := c.ok(args...)
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &got), "%v\n%s", args, r)
		require.Equal(t, want, got, "%v", args)
	}

	c.ok("schedule", "create", "--id", "cobra-sched", "--model", "cobra-model", "--pairs", "1,4", "--every", "24h", "--paused")
	for _, args := range [][]string{
		{"schedule", "pause", "cobra-sched", "--note", "after"}, {"schedule", "pause", "--note", "before", "cobra-sched"},
		{"schedule", "describe", "--json", "cobra-sched"}, {"schedule", "describe", "cobra-sched", "--json"},
	} {
		c.ok(args...)
	}
	var sched struct {
		Paused bool   `json:"paused"`
		Note   string `json:"note"`
	}
	r := c.ok("schedule", "describe", "cobra-sched", "--json")
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &sched), "%s", r)
	require.Equal(t, "before", sched.Note)
	c.ok("schedule", "delete", "cobra-sched")

	h := c.ok("help", "run")
	for _, flag := range []string{"--model", "--pairs", "--data", "--alias", "--no-wait", "--timeout", "--json"} {
		require.Contains(t, h.stdout, flag, "starter help run shows the run flags")
	}
	for _, args := range [][]string{{"status", "cobra-run", "--frob"}, {"predict", "models:/cobra-model/1", "4", "--frob"}} {
		r := c.starter(nil, args...)
		require.Equal(t, 2, r.code, "%v\n%s", args, r)
		require.Contains(t, r.stderr, "unknown flag: --frob", "%v", args)
	}
	// predict: negative inputs, flags anywhere.
	r = c.ok("predict", "models:/cobra-model@champion", "-1", "--json", "4")
	var pred struct {
		Predictions []float64 `json:"predictions"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &pred), "%s", r)
	require.Equal(t, []float64{2, 7}, pred.Predictions)
}
