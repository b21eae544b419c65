package tests

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flavorflow/flavorflow/fakemodel"
)

// writeRows writes rows copies of row to a new file in dir.
func writeRows(t *testing.T, dir, name string, rows int, row string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	f, err := os.Create(p)
	require.NoError(t, err)
	w := bufio.NewWriter(f)
	for i := 0; i < rows; i++ {
		_, err = w.WriteString(row)
		require.NoError(t, err)
	}
	require.NoError(t, w.Flush())
	require.NoError(t, f.Close())
	return p
}

// Data the worker would refuse is refused by the starter before any
// pipeline starts, with the worker's error: InvalidTrainingData, exit 2,
// nothing registered. The cases used to start a pipeline that then failed
// (exit 1): a 72 MB file of 900k rows (under the sample limit, over the
// byte limit), and pairs whose fitted offset overflows. A file of
// MaxSamples+1 rows is refused too, by run and by schedule create.
func TestCLIRefusesDataOverTheLimits(t *testing.T) {
	t.Parallel()
	c := newCLIEnv(t)
	// A verification input whose prediction overflows with some data.
	yml, err := os.ReadFile(c.config)
	require.NoError(t, err)
	require.Contains(t, string(yml), "verify_inputs: [4, 0]")
	require.NoError(t, os.WriteFile(c.config, []byte(strings.Replace(string(yml), "verify_inputs: [4, 0]", "verify_inputs: [4, 0, 1e308]", 1)), 0o644))
	c.startWorker()
	// 80-byte rows: 900k of them are 72 MB.
	wide := writeRows(t, c.dir, "wide.csv", 900_000, "1.00000000000000000000000000000000000,4.000000000000000000000000000000000000000\n")
	many := writeRows(t, c.dir, "many.csv", fakemodel.MaxSamples+1, "1,4\n")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"72 MB file", []string{"run", "--model", "lim-wide", "--data", wide}, "over the limit of 67108864 bytes"},
		{"too many rows", []string{"run", "--model", "lim-many", "--data", many}, "more than 1000000 samples"},
		{"offset overflow", []string{"run", "--model", "lim-overflow", "--pairs", "-1e308,1e308"}, "overflows"},
		{"mse overflow", []string{"run", "--model", "lim-mse", "--pairs", "0,1e200;0,-1e200"}, "overflows"},
		{"prediction overflow", []string{"run", "--model", "lim-predict", "--pairs", "0,1e308"}, "overflows on the verification input 1e+308"},
		{"schedule, 72 MB file", []string{"schedule", "create", "--model", "lim-wide", "--data", wide, "--every", "1h"}, "over the limit of 67108864 bytes"},
		{"schedule, overflow", []string{"schedule", "create", "--model", "lim-overflow", "--pairs", "-1e308,1e308", "--every", "1h"}, "overflows"},
	} {
		r := c.starter(nil, append(tc.args, "--output", "json")...)
		require.Equal(t, 2, r.code, "%s\n%s", tc.name, r)
		var out struct {
			Error struct{ Type, Message string } `json:"error"`
		}
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &out), "%s\n%s", tc.name, r)
		require.Equal(t, "InvalidTrainingData", out.Error.Type, "%s\n%s", tc.name, r)
		require.Contains(t, out.Error.Message, tc.want, tc.name)
	}
	// Nothing started, nothing registered.
	var listed []statusJSON
	c.okJSON(&listed, "list")
	require.Empty(t, listed, "no pipeline started")
	r := c.ok("schedule", "list")
	require.Contains(t, r.stdout, "No schedules.")
	st := c.openStore()
	for _, m := range []string{"lim-wide", "lim-many", "lim-overflow", "lim-mse", "lim-predict"} {
		_, err := st.GetRegisteredModel(context.Background(), m)
		require.Error(t, err, "%s is not registered", m)
	}
}
