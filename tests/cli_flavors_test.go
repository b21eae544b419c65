package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flavorflow/flavorflow/workflows"
)

// The worker binary is built with linearmodel and its trainer: `starter run
// --trainer linear` runs that pipeline through; an unknown trainer fails in
// the worker with UnknownTrainer (exit 1), and a policy with held-out rows
// evaluates the linear flavor as it does FakeModels (held-out rows that
// leave nothing to train on are refused up front, exit 2).
func TestCLIRunNamesTrainer(t *testing.T) {
	c := newCLIEnv(t)
	c.startWorker()
	data := filepath.Join(c.dir, "rows.csv")
	csv := "a,b,y\n"
	for i := range 10 {
		a, b := float64(i), float64((i*3)%4)
		csv += fmt.Sprintf("%g,%g,%g\n", a, b, 0.5+a-2*b)
	}
	require.NoError(t, os.WriteFile(data, []byte(csv), 0o644))

	var out struct {
		Status string                    `json:"status"`
		Result workflows.LifecycleResult `json:"result"`
	}
	c.okJSON(&out, "run", "--model", "cli-linear", "--data", data, "--trainer", "linear", "--alias", "champion", "--id", "cli-linear-1")
	require.Equal(t, "flavorflow_linear", out.Result.Flavor)
	require.Equal(t, 1, out.Result.Version)
	require.Equal(t, "models:/cli-linear@champion", out.Result.AliasURI)
	r := c.ok("run", "--model", "cli-linear", "--data", data, "--trainer", "linear", "--id", "cli-linear-2")
	require.Contains(t, r.stdout, "(flavor flavorflow_linear)")

	r = c.starter(nil, "run", "--model", "cli-linear", "--data", data, "--trainer", "nosuch-linear", "--id", "cli-linear-bad")
	require.Equal(t, 1, r.code, "%s", r)
	require.Contains(t, r.stderr, "UnknownTrainer")

	// A policy with held-out rows runs for the linear flavor: v2 is the
	// champion and v3, as exact on the same plane, is not better by the
	// margin and keeps it.
	c.okJSON(&out, "run", "--model", "cli-linear", "--data", data, "--trainer", "linear", "--alias", "champion",
		"--policy", "beats-champion", "--margin", "0.001", "--margin-absolute", "--holdout-fraction", "0.3", "--holdout-seed", "7", "--id", "cli-linear-policy")
	require.Equal(t, workflows.OutcomeKeptChampion, out.Result.Outcome, "%+v", out.Result)
	require.NotNil(t, out.Result.Evidence)
	require.Equal(t, 2, out.Result.Evidence.Champion, "cli-linear-2 took the configured alias")
	// Held-out rows that leave nothing to train on are refused up front.
	r = c.starter(nil, "run", "--model", "cli-linear", "--data", data, "--trainer", "linear", "--alias", "champion",
		"--policy", "beats-champion", "--holdout-fraction", "0.999", "--id", "cli-linear-policy-bad")
	require.Equal(t, 2, r.code, "%s", r)
	require.Contains(t, r.stderr, "both must be non-empty")
}
