package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flavorflow/flavorflow/internal/testrig/testenv"
	"github.com/flavorflow/flavorflow/workflows"
)

// syncBuffer is a bytes.Buffer safe to read while a process writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// bgStarter is a starter process running in the background.
type bgStarter struct {
	args           []string
	stdout, stderr *syncBuffer
	done           chan struct{}
	code           int
}

// starterBG starts the starter binary and returns at once.
func (c *cliEnv) starterBG(args ...string) *bgStarter {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, "starter"), args...)
	cmd.Dir = c.dir
	cmd.Env = c.env
	b := &bgStarter{args: args, stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = b.stdout, b.stderr
	require.NoError(c.t, cmd.Start())
	go func() {
		defer cancel()
		defer close(b.done)
		err := cmd.Wait()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			b.code = ee.ExitCode()
		} else if err != nil {
			b.code = -1
		}
	}()
	c.t.Cleanup(func() { cancel(); <-b.done })
	return b
}

// wait waits (bounded) for the process to exit and returns its result.
func (b *bgStarter) wait(t *testing.T, within time.Duration) cliResult {
	t.Helper()
	select {
	case <-b.done:
	case <-time.After(within):
		t.Fatalf("starter %v still running after %s\n--- stdout\n%s--- stderr\n%s", b.args, within, b.stdout, b.stderr)
	}
	return cliResult{b.stdout.String(), b.stderr.String(), b.code}
}

// The Temporal server goes away for 70 s (longer than the SDK's 65 s long
// poll, so every follower's wait for the result fails at least once) while
// `starter run` and `starter watch` follow a pipeline. Losing the
// connection is not the pipeline's failure: the followers keep following
// and end with the real result (exit 0) once the server is back; a watch
// whose --timeout runs out during the outage exits 3 saying the pipeline
// goes on and how to watch it, never "Failed"/exit 1. They used to print
// "Failed", "Internal: context deadline exceeded" and exit 1.
func TestCLIFollowsPipelineThroughTemporalOutage(t *testing.T) {
	t.Parallel()
	opts := testenv.TemporalOptions{DBFile: filepath.Join(t.TempDir(), "temporal.db"), Port: testenv.FreePort(t)}
	c := newCLIEnvWith(t, opts)
	ctx := context.Background()

	// Version 1 is verified (no alias) while a worker runs; then no worker,
	// so the promotion below waits in its keeper and the pipeline waits for
	// its first step: both are surely unfinished when the server goes away.
	w0 := c.startWorker()
	c.ok("run", "--model", "outage-m", "--pairs", "1,4", "--alias", "-", "--id", "outage-0")
	w0.stop(t, time.Minute)
	promote := c.starterBG("promote", "--model", "outage-m", "--alias", "canary", "--version", "1", "--timeout", "8m", "--output", "json")
	keeper := workflows.AliasKeeperID(c.queue, "outage-m", "canary")
	eventually(t, time.Minute, func() bool {
		_, err := c.tp.Client.DescribeWorkflowExecution(ctx, keeper, "")
		return err == nil
	}, "the promotion reached its keeper")
	run := c.starterBG("run", "--model", "outage-m", "--pairs", "1,4;2,5;10,13", "--id", "outage-1", "--timeout", "8m", "--output", "json")
	eventually(t, time.Minute, func() bool {
		_, err := c.tp.Client.DescribeWorkflowExecution(ctx, "outage-1", "")
		return err == nil
	}, "the pipeline started")
	watch := c.starterBG("watch", "outage-1", "--timeout", "8m")
	short := c.starterBG("watch", "outage-1", "--timeout", "20s")
	shortJSON := c.starterBG("watch", "outage-1", "--timeout", "20s", "--output", "json")
	for _, w := range []*bgStarter{watch, short, shortJSON} {
		eventually(t, time.Minute, func() bool { return strings.Contains(w.stderr.String(), "watching outage-1") }, "watch attached")
	}

	c.tp.Stop(t)
	time.Sleep(70 * time.Second) // the outage itself, not a synchronization

	// The short watches ran out of time during the outage: exit 3, with the
	// way to follow the pipeline, never exit 1.
	r := short.wait(t, time.Minute)
	require.Equal(t, 3, r.code, "%s", r)
	require.Contains(t, r.stderr, "starter watch outage-1")
	require.Contains(t, r.stderr, "unreachable")
	require.NotContains(t, r.stderr, "failed")
	r = shortJSON.wait(t, time.Minute)
	require.Equal(t, 3, r.code, "%s", r)
	var pending struct {
		WorkflowID string `json:"workflow_id"`
		Status     string `json:"status"`
		Hint       string `json:"hint"`
		Error      struct{ Type string }
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &pending), "%s", r)
	require.Equal(t, "Unknown", pending.Status, "%s", r)
	require.Equal(t, "ServerUnavailable", pending.Error.Type, "%s", r)
	require.Equal(t, "starter watch outage-1", pending.Hint)

	c.tp = testenv.StartTemporal(t, opts)
	c.startWorker()

	r = run.wait(t, 5*time.Minute)
	require.Equal(t, 0, r.code, "run follows through the outage\n%s", r)
	var res runJSON
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &res), "%s", r)
	require.Equal(t, "Completed", res.Status)
	require.Equal(t, "models:/outage-m/2", res.Result.ModelURI)

	// The promotion sent before the outage is answered after it: the alias
	// moved once, exit 0 — not a connection error (exit 3) or a failure.
	r = promote.wait(t, 5*time.Minute)
	require.Equal(t, 0, r.code, "promote follows through the outage\n%s", r)
	var moved struct {
		Version  int  `json:"version"`
		Previous int  `json:"previous_version"`
		Changed  bool `json:"changed"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &moved), "%s", r)
	require.Equal(t, 1, moved.Version, "%s", r)
	require.True(t, moved.Changed, "%s", r)
	mv, err := c.openStore().GetModelVersionByAlias(ctx, "outage-m", "canary")
	require.NoError(t, err)
	require.Equal(t, 1, mv.Version)

	r = watch.wait(t, 5*time.Minute)
	require.Equal(t, 0, r.code, "watch follows through the outage\n%s", r)
	require.Contains(t, r.stdout, "Pipeline outage-1 completed")
	require.Contains(t, r.stderr, "lost the connection to Temporal")

	// A live pipeline and a short --timeout with the server up: exit 3,
	// status Running, the hint.
	r = c.starter(nil, "run", "--model", "outage-m", "--pairs", "1,4", "--id", "outage-2", "--timeout", "1ms", "--output", "json")
	if r.code != 0 { // 0 only if the pipeline beat the millisecond
		require.Equal(t, 3, r.code, "%s", r)
		var running runJSON
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &running), "%s", r)
		require.Equal(t, "Running", running.Status, "%s", r)
		require.Nil(t, running.Error, "%s", r)
		require.Contains(t, r.stdout, `"hint": "starter watch outage-2"`)
	}
}
