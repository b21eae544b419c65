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
// the worker with UnknownTrainer (exit 1), and a policy with another flavor
// is refused before anything starts (exit 2).
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

	r = c.starter(nil, "run", "--model", "cli-linear", "--data", data, "--trainer", "linear", "--holdout-fraction", "0.2", "--id", "cli-linear-policy")
	require.Equal(t, 2, r.code, "%s", r)
	require.Contains(t, r.stderr, "fakemodel models only")
}
