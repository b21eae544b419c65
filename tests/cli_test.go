package tests

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flavorflow/flavorflow/internal/testenv"
	"github.com/flavorflow/flavorflow/store/localstore"
)

// The CLI tests run the binaries as a user would: `go build` the starter and
// the worker, start a dev server, run a worker process with a temporary
// temporal-dev.yml, and read stdout, stderr and exit codes.

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binaries builds ./starter and ./worker once per test process.
func binaries(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "flavorflow-bin-")
		if buildErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", binDir+string(os.PathSeparator), "./starter", "./worker")
		cmd.Dir = testenv.RepoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	require.NoError(t, buildErr)
	return binDir
}

// cliEnv is a dev server, a config file and the binaries.
type cliEnv struct {
	t      *testing.T
	bin    string
	dir    string
	tp     *testenv.Temporal
	config string
	store  string
	env    []string
}

const cliUI = "http://ui.test:8233"

func newCLIEnv(t *testing.T) *cliEnv {
	t.Helper()
	bin := binaries(t)
	tp := testenv.StartTemporal(t, testenv.TemporalOptions{})
	dir := t.TempDir()
	c := &cliEnv{t: t, bin: bin, dir: dir, tp: tp, config: filepath.Join(dir, "temporal-dev.yml"), store: filepath.Join(dir, "store")}
	yml := fmt.Sprintf(`temporal:
  address: %s
  namespace: default
  task_queue: cli-%d
  ui_url: %s
worker:
  stop_timeout: 3s
  work_dir: work
  health_addr: 127.0.0.1:0
store:
  tracking_uri: store
  experiment: cli
pipeline:
  alias: champion
  verify_inputs: [4, 0]
`, tp.HostPort, time.Now().UnixNano(), cliUI)
	require.NoError(t, os.WriteFile(c.config, []byte(yml), 0o644))
	// Only what the test sets: no TEMPORAL_*/MLFLOW_* from the caller, no user temporal.toml.
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !strings.HasPrefix(k, "TEMPORAL_") && !strings.HasPrefix(k, "MLFLOW_") && !strings.HasPrefix(k, "FLAVORFLOW_") && !strings.HasPrefix(k, "OTEL_") {
			c.env = append(c.env, kv)
		}
	}
	c.env = append(c.env, "FLAVORFLOW_CONFIG="+c.config, "TEMPORAL_CONFIG_FILE="+filepath.Join(dir, "absent.toml"))
	return c
}

type cliResult struct {
	stdout, stderr string
	code           int
}

func (r cliResult) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", r.code, r.stdout, r.stderr)
}

// starter runs the starter binary with extra environment variables.
func (c *cliEnv) starter(env []string, args ...string) cliResult {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, "starter"), args...)
	cmd.Dir = c.dir
	cmd.Env = append(append([]string{}, c.env...), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		c.t.Fatalf("starter %v: %v", args, err)
	}
	return cliResult{out.String(), errb.String(), code}
}

// ok runs the starter and requires exit 0.
func (c *cliEnv) ok(args ...string) cliResult {
	c.t.Helper()
	r := c.starter(nil, args...)
	require.Equal(c.t, 0, r.code, "starter %v\n%s", args, r)
	return r
}

// okJSON runs the starter with --output json and decodes stdout into v.
func (c *cliEnv) okJSON(v any, args ...string) {
	c.t.Helper()
	r := c.ok(append(args, "--output", "json")...)
	require.NoError(c.t, json.Unmarshal([]byte(r.stdout), v), "%s", r)
}

// workerProc is a running worker binary.
type workerProc struct {
	cmd    *exec.Cmd
	log    *bytes.Buffer
	mu     *sync.Mutex
	health string
	done   chan error
}

var healthURL = regexp.MustCompile(`"url":"(http://[^"]+/healthz)"`)

// startWorker starts the worker binary and waits until it says it started.
func (c *cliEnv) startWorker(env ...string) *workerProc {
	c.t.Helper()
	cmd := exec.Command(filepath.Join(c.bin, "worker"))
	cmd.Dir = c.dir
	cmd.Env = append(append([]string{}, c.env...), env...)
	pr, err := cmd.StderrPipe()
	require.NoError(c.t, err)
	require.NoError(c.t, cmd.Start())
	w := &workerProc{cmd: cmd, log: &bytes.Buffer{}, mu: &sync.Mutex{}, done: make(chan error, 1)}
	started := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Text()
			w.mu.Lock()
			w.log.WriteString(line + "\n")
			if m := healthURL.FindStringSubmatch(line); m != nil {
				w.health = m[1]
			}
			w.mu.Unlock()
			if strings.Contains(line, `"worker started"`) {
				once.Do(func() { close(started) })
			}
		}
		w.done <- cmd.Wait()
	}()
	c.t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-w.done
		}
	})
	select {
	case <-started:
	case err := <-w.done:
		c.t.Fatalf("worker exited: %v\n%s", err, w.logs())
	case <-time.After(30 * time.Second):
		c.t.Fatalf("worker did not start\n%s", w.logs())
	}
	return w
}

func (w *workerProc) logs() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.log.String()
}

// stop sends SIGTERM and returns how long the worker took to exit.
func (w *workerProc) stop(t *testing.T, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	require.NoError(t, w.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-w.done:
		require.NoError(t, err, "worker exit\n%s", w.logs())
	case <-time.After(within):
		t.Fatalf("worker still running %s after SIGTERM\n%s", within, w.logs())
	}
	return time.Since(start)
}

// openStore opens the embedded store the worker writes (read-only use).
func (c *cliEnv) openStore() *localstore.Store {
	c.t.Helper()
	st, err := localstore.Open(c.store)
	require.NoError(c.t, err)
	c.t.Cleanup(func() { _ = st.Close() })
	return st
}

// eventually polls cond every 200 ms for up to d.
func eventually(t *testing.T, d time.Duration, cond func() bool, msg string) {
	t.Helper()
	require.Eventually(t, cond, d, 200*time.Millisecond, msg)
}

// statusJSON is `starter status --output json`.
type statusJSON struct {
	WorkflowID  string  `json:"workflow_id"`
	Type        string  `json:"workflow_type"`
	Status      string  `json:"status"`
	Model       string  `json:"model"`
	Step        string  `json:"step"`
	Version     int     `json:"version"`
	Offset      float64 `json:"offset"`
	ModelURI    string  `json:"model_uri"`
	AliasURI    string  `json:"alias_uri"`
	MLflowURL   string  `json:"mlflow_ui_url"`
	TemporalURL string  `json:"temporal_ui_url"`
	Error       *struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}
