package tests

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// SIGTERM stops the worker within worker.stop_timeout (3 s in the test
// config) even with a long step running, and a new worker finishes the
// pipeline. /healthz answers while the worker runs.
func TestWorkerGracefulStopAndHealth(t *testing.T) {
	t.Parallel()
	c := newCLIEnv(t)
	w := c.startWorker()
	require.NotEmpty(t, w.health, "the worker logs its /healthz URL\n%s", w.logs())
	resp, err := http.Get(w.health)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var h struct {
		Status    string `json:"status"`
		FreeBytes uint64 `json:"free_bytes"`
	}
	require.NoError(t, json.Unmarshal(body, &h), "/healthz answers JSON: %s", body)
	require.Contains(t, []string{"ok", "degraded"}, h.Status, "degraded: less than worker.min_free_bytes free")
	require.Positive(t, h.FreeBytes, "/healthz reports WORK_DIR's free space")
	require.Contains(t, w.logs(), `"build_id"`, "the build ID is logged")

	// 256 MiB of weights: saving and logging take several seconds.
	c.ok("run", "--model", "slow", "--pairs", "1,4", "--weights-size", "268435456", "--id", "slow-1", "--no-wait")
	eventually(t, 30*time.Second, func() bool {
		var s statusJSON
		r := c.starter(nil, "status", "slow-1", "--output", "json")
		return json.Unmarshal([]byte(r.stdout), &s) == nil && (s.Step == "saving" || s.Step == "logging")
	}, "the pipeline reaches a long step")

	took := w.stop(t, 3*time.Second+5*time.Second)
	t.Logf("worker stopped %s after SIGTERM", took.Round(time.Millisecond))
	logs := w.logs()
	require.Contains(t, logs, `"stopping worker"`)
	require.Contains(t, logs, `"worker stopped"`)
	_, err = http.Get(w.health)
	require.Error(t, err, "the health endpoint is gone with the worker")

	restarted := time.Now()
	c.startWorker()
	r := c.ok("watch", "slow-1", "--timeout", "90s")
	t.Logf("completed %s after the new worker started", time.Since(restarted).Round(time.Millisecond))
	require.Contains(t, r.stdout, "Pipeline slow-1 completed")
	var s statusJSON
	c.okJSON(&s, "status", "slow-1")
	require.Equal(t, 1, s.Version)
	require.True(t, strings.HasPrefix(s.AliasURI, "models:/slow@"))
}
