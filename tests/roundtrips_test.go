package tests

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/flavorflow/flavorflow/activities"
	"github.com/flavorflow/flavorflow/internal/app"
	"github.com/flavorflow/flavorflow/internal/testrig/testenv"
	"github.com/flavorflow/flavorflow/mlflow"
	"github.com/flavorflow/flavorflow/workflows"
)

// countingTransport counts the MLflow requests a worker's client sends, by
// endpoint (mlflow.EndpointKey, as the benchmarks' counting proxy names
// them), so that equal calls add up.
type countingTransport struct {
	next http.RoundTripper
	mu   sync.Mutex
	n    map[string]int
}

func (c *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	k := mlflow.EndpointKey(req.Method, req.URL.Path)
	c.mu.Lock()
	c.n[k]++
	c.mu.Unlock()
	return c.next.RoundTrip(req)
}

// take returns the counts since the last take and starts again.
func (c *countingTransport) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.n
	c.n = map[string]int{}
	return out
}

// roundTripBudget is the most MLflow requests of each kind one pipeline
// with an alias may send (the model has 9 files in 2 directories). A new
// round trip fails TestMLflowRoundTripBudget: either it buys a guarantee
// (raise the budget here and say what it buys in bench/proxy.go's
// requestPurpose) or it goes.
var roundTripBudget = map[string]int{
	"PUT mlflow-artifacts/artifacts/…":           9,
	"GET mlflow-artifacts/artifacts/…":           18,
	"GET mlflow-artifacts/artifacts":             4, // after the upload and the promotion's check; verification follows the manifest
	"GET mlflow/model-versions/get-download-uri": 1, // once per version: the client keeps it
	"GET mlflow/model-versions/get":              2, // verify and promote; their downloads reuse the answer
	"GET mlflow/registered-models/alias":         4,
	"GET mlflow/experiments/get-by-name":         1, // the client keeps it for a minute
	"POST mlflow/logged-models/search":           2,
	"GET mlflow/model-versions/search":           1, // a model that has versions: find before create
	"POST mlflow/model-versions/set-tag":         2,
	"POST mlflow/runs/log-batch":                 2,
	"PATCH mlflow/logged-models/{id}":            1,
	"PATCH mlflow/logged-models/{id}/tags":       1,
	"POST mlflow/logged-models":                  1,
	"POST mlflow/model-versions/create":          1,
	"POST mlflow/registered-models/alias":        1,
	"POST mlflow/registered-models/create":       1,
	"POST mlflow/runs/create":                    1,
	"POST mlflow/runs/log-inputs":                1,
	"POST mlflow/runs/outputs":                   1,
	"POST mlflow/runs/search":                    1,
	"POST mlflow/runs/update":                    1,
}

// The MLflow requests of one pipeline (train, save, log, register, read the
// alias, verify, promote through the alias keeper) against the real server,
// counted in the worker's HTTP client: each kind stays within
// roundTripBudget. The first pipeline of the worker is a warm-up (its
// client's caches are empty, as after a worker start); the second is a new
// model, as every pipeline of the P7 benchmark; the third a second version
// of that model, whose promotion moves an alias that is set.
func TestMLflowRoundTripBudget(t *testing.T) {
	t.Parallel() // own dev server; distinct model names on the shared MLflow
	tp := testenv.StartTemporal(t, testenv.TemporalOptions{})
	ml := testenv.SharedMLflow(t, testenv.MLflowOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	counter := &countingTransport{n: map[string]int{}}
	st, err := app.OpenStore(ctx, ml.URL, slog.New(slog.DiscardHandler), app.WithTransport(func(rt http.RoundTripper) http.RoundTripper {
		counter.next = rt
		return counter
	}))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	c, err := client.Dial(client.Options{HostPort: tp.HostPort})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	const queue = "roundtrips"
	w := worker.New(c, queue, worker.Options{})
	workflows.Register(w)
	w.RegisterActivity(&activities.Activities{
		Store: st, Experiment: experiment, WorkDir: filepath.Join(t.TempDir(), "work"), UploadParallelism: 2,
		Temporal: c, // promotions go through the alias keeper, as in the worker binary
	})
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)

	pipeline := func(id, model string, wantVersion int) map[string]int {
		t.Helper()
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: queue}, workflows.WorkflowName, tutorialRequest(model))
		require.NoError(t, err)
		var res workflows.LifecycleResult
		require.NoError(t, run.Get(ctx, &res))
		require.Equal(t, wantVersion, res.Version)
		require.Equal(t, "champion", res.Alias, "promoted")
		return counter.take()
	}
	pipeline("roundtrips-warm", "roundtrips-warm", 1)
	for _, p := range []struct {
		name    string
		id      string
		version int
	}{{"new model", "roundtrips-1", 1}, {"second version", "roundtrips-2", 2}} {
		got := pipeline(p.id, "roundtrips-model", p.version)
		total := 0
		var report []string
		for _, k := range slices.Sorted(maps.Keys(got)) {
			total += got[k]
			report = append(report, fmt.Sprintf("%s ×%d (budget %d)", k, got[k], roundTripBudget[k]))
		}
		t.Logf("%s: %d MLflow requests:\n  %s", p.name, total, strings.Join(report, "\n  "))
		for k, n := range got {
			require.LessOrEqual(t, n, roundTripBudget[k], "%s: %s ×%d is over its budget of %d", p.name, k, n, roundTripBudget[k])
		}
	}
}
