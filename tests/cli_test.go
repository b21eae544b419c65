package tests

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
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
	"go.temporal.io/sdk/client"

	"github.com/flavorflow/flavorflow/activities"
	"github.com/flavorflow/flavorflow/internal/testrig/testenv"
	"github.com/flavorflow/flavorflow/store/localstore"
	"github.com/flavorflow/flavorflow/vocab"
	"github.com/flavorflow/flavorflow/workflows"
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
	queue  string
	env    []string
}

const cliUI = "http://ui.test:8233"

func newCLIEnv(t *testing.T) *cliEnv {
	t.Helper()
	return newCLIEnvWith(t, testenv.TemporalOptions{})
}

// newCLIEnvWith is newCLIEnv on a dev server started with opts (a database
// file and a fixed port let a test restart it).
func newCLIEnvWith(t *testing.T, opts testenv.TemporalOptions) *cliEnv {
	t.Helper()
	bin := binaries(t)
	tp := testenv.StartTemporal(t, opts)
	dir := t.TempDir()
	c := &cliEnv{t: t, bin: bin, dir: dir, tp: tp, config: filepath.Join(dir, "temporal-dev.yml"), store: filepath.Join(dir, "store")}
	c.queue = fmt.Sprintf("cli-%d", time.Now().UnixNano())
	yml := fmt.Sprintf(`temporal:
  address: %s
  namespace: default
  task_queue: %s
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
`, tp.HostPort, c.queue, cliUI)
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

// runJSON is `starter run --output json`.
type runJSON struct {
	WorkflowID  string `json:"workflow_id"`
	Status      string `json:"status"`
	TemporalURL string `json:"temporal_ui_url"`
	Result      *struct {
		Version  int     `json:"version"`
		Offset   float64 `json:"offset"`
		ModelURI string  `json:"model_uri"`
		AliasURI string  `json:"alias_uri"`
	} `json:"result"`
	Error *struct {
		Type string `json:"type"`
	} `json:"error"`
}

type aliasJSON struct {
	WorkflowID  string `json:"workflow_id"`
	Version     int    `json:"version"`
	Previous    int    `json:"previous_version"`
	Changed     bool   `json:"changed"`
	AliasURI    string `json:"alias_uri"`
	TemporalURL string `json:"temporal_ui_url"`
}

// Every command answers --help with examples and exit 0; unknown commands
// and missing arguments are exit 2.
func TestCLIHelp(t *testing.T) {
	t.Parallel()
	c := &cliEnv{t: t, bin: binaries(t), dir: t.TempDir(), env: os.Environ()}
	r := c.ok("--help")
	for _, cmd := range []string{"run", "watch", "status", "list", "promote", "rollback", "schedule", "config", "predict"} {
		require.Contains(t, r.stdout, "\n  "+cmd+" ", "starter --help lists %s", cmd)
		h := c.starter(nil, cmd, "--help")
		require.Equal(t, 0, h.code, "%s --help\n%s", cmd, h)
		require.Contains(t, h.stdout+h.stderr, "Example", "%s --help has examples", cmd)
	}
	for _, sub := range []string{"create", "list", "describe", "pause", "unpause", "trigger", "backfill", "delete"} {
		h := c.starter(nil, "schedule", sub, "--help")
		require.Equal(t, 0, h.code, "schedule %s --help\n%s", sub, h)
		require.Contains(t, h.stdout+h.stderr, "Example", "schedule %s --help", sub)
	}
	for _, args := range [][]string{{"frobnicate"}, {"status"}, {"watch"}, {"schedule", "describe"}, {"schedule", "nope"},
		{"promote", "--model", "m", "--alias", "a"}, {"list", "--output", "yaml"}, {"run", "--model", "m"}} {
		r := c.starter(nil, args...)
		require.Equal(t, 2, r.code, "%v\n%s", args, r)
		require.NotEmpty(t, r.stderr, "%v says why", args)
	}
}

// The configuration precedence, level by level: temporal-dev.yml <
// envconfig profile (temporal.toml) < environment < flags.
func TestCLIConfigPrecedence(t *testing.T) {
	t.Parallel()
	c := &cliEnv{t: t, bin: binaries(t), dir: t.TempDir()}
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !strings.HasPrefix(k, "TEMPORAL_") && !strings.HasPrefix(k, "MLFLOW_") && !strings.HasPrefix(k, "FLAVORFLOW_") {
			c.env = append(c.env, kv)
		}
	}
	yml := filepath.Join(c.dir, "temporal-dev.yml")
	require.NoError(t, os.WriteFile(yml, []byte("temporal:\n  address: yml:7233\n  namespace: yml-ns\nstore:\n  tracking_uri: http://yml-mlflow:5000\n"), 0o644))
	toml := filepath.Join(c.dir, "temporal.toml")
	require.NoError(t, os.WriteFile(toml, []byte("[profile.default]\naddress = \"profile:7233\"\nnamespace = \"profile-ns\"\n\n[profile.other]\naddress = \"other:7233\"\n"), 0o644))
	base := []string{"FLAVORFLOW_CONFIG=" + yml, "TEMPORAL_CONFIG_FILE=" + filepath.Join(c.dir, "absent.toml")}
	type cfg struct {
		Address     string `json:"address"`
		Namespace   string `json:"namespace"`
		TrackingURI string `json:"tracking_uri"`
	}
	get := func(env []string, args ...string) cfg {
		t.Helper()
		r := c.starter(append(append([]string{}, base...), env...), append([]string{"config", "--output", "json"}, args...)...)
		require.Equal(t, 0, r.code, "%s", r)
		var got cfg
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &got), "%s", r)
		return got
	}
	require.Equal(t, cfg{"yml:7233", "yml-ns", "http://yml-mlflow:5000"}, get(nil), "temporal-dev.yml alone")
	profile := []string{"TEMPORAL_CONFIG_FILE=" + toml}
	require.Equal(t, cfg{"profile:7233", "profile-ns", "http://yml-mlflow:5000"}, get(profile), "the envconfig profile beats temporal-dev.yml")
	require.Equal(t, "other:7233", get(append(profile, "TEMPORAL_PROFILE=other")).Address, "TEMPORAL_PROFILE picks the profile")
	require.Equal(t, "other:7233", get(profile, "--profile", "other").Address, "--profile picks the profile")
	env := append(profile, "TEMPORAL_ADDRESS=env:7233", "TEMPORAL_NAMESPACE=env-ns", "MLFLOW_TRACKING_URI=http://env-mlflow:5000")
	require.Equal(t, cfg{"env:7233", "env-ns", "http://env-mlflow:5000"}, get(env), "the environment beats the profile")
	require.Equal(t, cfg{"flag:7233", "flag-ns", "http://flag-mlflow:5000"},
		get(env, "--address", "flag:7233", "--namespace", "flag-ns", "--tracking-uri", "http://flag-mlflow:5000"), "flags beat everything")
}

// A user's session: run, status, watch, list, promote, rollback, against a
// dev server and a worker process, reading what the binaries print.
func TestCLIPipelineCommands(t *testing.T) {
	t.Parallel()
	c := newCLIEnv(t)
	c.startWorker()

	r := c.ok("run", "--model", "cli-model", "--pairs", "1,4;2,5;10,13", "--id", "cli-run-1", "--weights-size", "33554432")
	require.Contains(t, r.stdout, "Pipeline cli-run-1 completed")
	require.Contains(t, r.stdout, "models:/cli-model/1")
	require.Contains(t, r.stdout, cliUI+"/namespaces/default/workflows/cli-run-1/")
	require.Regexp(t, `(?m)^  (training|saving|logging|registering|verifying|promoting) +\d+\.\ds`, r.stderr, "run shows live progress")
	require.Regexp(t, `(?m)^  done +\d+\.\ds`, r.stderr)

	var st statusJSON
	c.okJSON(&st, "status", "cli-run-1")
	require.Equal(t, statusJSON{WorkflowID: "cli-run-1", Type: "ModelLifecycle", Status: "Completed", Model: "cli-model", Step: "done", Version: 1, Offset: 3,
		ModelURI: "models:/cli-model/1", AliasURI: "models:/cli-model@champion", TemporalURL: st.TemporalURL}, st)
	require.Contains(t, st.TemporalURL, cliUI+"/namespaces/default/workflows/cli-run-1/")
	// The MLflow UI link appears when the store is an MLflow server.
	c.okJSON(&st, "status", "cli-run-1", "--tracking-uri", "http://user:secret@mlflow.test:5000/")
	require.Equal(t, "http://mlflow.test:5000/#/models/cli-model/versions/1", st.MLflowURL)
	text := c.ok("status", "cli-run-1").stdout
	require.Contains(t, text, "ModelLifecycle cli-run-1: Completed")
	require.Contains(t, text, "version      1")

	// A second version, registered and verified but not promoted; watch it
	// from another command.
	var started runJSON
	c.okJSON(&started, "run", "--model", "cli-model", "--pairs", "1,5", "--alias", "-", "--id", "cli-run-2", "--no-wait")
	require.Equal(t, "Running", started.Status)
	w := c.ok("watch", "cli-run-2")
	require.Contains(t, w.stdout, "Pipeline cli-run-2 completed")
	require.Contains(t, w.stdout, "models:/cli-model/2\n")
	w = c.ok("watch", "cli-run-2") // finished: prints the result at once
	require.Contains(t, w.stdout, "version 2 (offset 4)")

	// list: by model, stage, status and raw query.
	var listed []statusJSON
	c.okJSON(&listed, "list", "--model", "cli-model")
	require.Len(t, listed, 2)
	require.Equal(t, "cli-run-2", listed[0].WorkflowID, "newest first")
	c.okJSON(&listed, "list", "--model", "cli-model", "--stage", "promoted")
	require.Len(t, listed, 1)
	require.Equal(t, "cli-run-1", listed[0].WorkflowID)
	c.okJSON(&listed, "list", "--status", "Completed", "--query", `WorkflowId = "cli-run-2"`)
	require.Len(t, listed, 1)
	lt := c.ok("list", "--model", "cli-model").stdout
	require.Contains(t, lt, "WORKFLOW ID")
	require.Contains(t, lt, "cli-run-1")
	r = c.starter(nil, "list", "--query", "NotAField = 1")
	require.Equal(t, 2, r.code, "%s", r)

	// promote / rollback through Temporal.
	var al aliasJSON
	c.okJSON(&al, "promote", "--model", "cli-model", "--alias", "champion", "--version", "2")
	// Every change of the alias goes through its one keeper workflow, the
	// pipeline's promotion included.
	require.Equal(t, aliasJSON{WorkflowID: workflows.AliasKeeperID(c.queue, "cli-model", "champion"), Version: 2, Previous: 1, Changed: true, AliasURI: "models:/cli-model@champion", TemporalURL: al.TemporalURL}, al)
	require.Contains(t, al.TemporalURL, "/workflows/"+url.PathEscape(workflows.AliasKeeperID(c.queue, "cli-model", "champion"))+"/")
	r = c.starter(nil, "promote", "--model", "cli-model", "--alias", "champion", "--version", "1")
	require.Equal(t, 2, r.code, "an older version needs rollback\n%s", r)
	require.Contains(t, r.stderr, "AliasConflict")
	r = c.ok("rollback", "--model", "cli-model", "--alias", "champion", "--version", "1")
	require.Contains(t, r.stdout, "Alias champion of cli-model now points at version 1 (was version 2)")
	r = c.ok("promote", "--model", "cli-model", "--alias", "champion", "--version", "1")
	require.Contains(t, r.stdout, "already points at version 1")

	r = c.starter(nil, "promote", "--model", "cli-model", "--alias", "champion", "--version", "9")
	require.Equal(t, 2, r.code, "%s", r)
	require.Contains(t, r.stderr, "NotFound")
	require.Contains(t, r.stderr, "Temporal UI")
	r = c.starter(nil, "promote", "--model", "no-such-model", "--alias", "champion", "--version", "1")
	require.Equal(t, 2, r.code, "%s", r)
	require.Contains(t, r.stderr, "NotFound")

	// A version that did not pass verification is never promoted.
	store := c.openStore()
	require.NoError(t, store.SetModelVersionTag(context.Background(), "cli-model", 2, vocab.TagVerified, "false"))
	r = c.starter(nil, "promote", "--model", "cli-model", "--alias", "champion", "--version", "2")
	require.Equal(t, 2, r.code, "%s", r)
	require.Contains(t, r.stderr, "VerificationFailed")
	mv, err := store.GetModelVersionByAlias(context.Background(), "cli-model", "champion")
	require.NoError(t, err)
	require.Equal(t, 1, mv.Version, "the alias did not move")

	// The keeper's history says who moved the alias from where to where.
	hv, err := c.tp.Client.QueryWorkflow(context.Background(), workflows.AliasKeeperID(c.queue, "cli-model", "champion"), "", activities.AliasHistoryQuery)
	require.NoError(t, err)
	var hist activities.AliasHistory
	require.NoError(t, hv.Get(&hist))
	var events []string
	for _, ev := range hist.Events {
		events = append(events, fmt.Sprintf("%s %d->%d rollback=%v %s", ev.Requester, ev.From, ev.To, ev.Rollback, ev.Outcome))
	}
	require.Equal(t, []string{
		"cli-run-1 0->1 rollback=false changed",
		"starter promote 1->2 rollback=false changed",
		"starter promote 2->1 rollback=false AliasConflict",
		"starter rollback 2->1 rollback=true changed",
		"starter promote 1->1 rollback=false unchanged",
		"starter promote 1->9 rollback=false NotFound",
		"starter promote 1->2 rollback=false VerificationFailed",
	}, events)

	// Unknown IDs are exit 2 with a message naming them.
	for _, args := range [][]string{{"status", "no-such-wf"}, {"watch", "no-such-wf"}} {
		r := c.starter(nil, args...)
		require.Equal(t, 2, r.code, "%v\n%s", args, r)
		require.Contains(t, r.stderr, "NotFound")
		require.Contains(t, r.stderr, "no-such-wf")
	}

	// A failed pipeline: run and status exit 1.
	r = c.starter(nil, "run", "--model", "cli-model", "--pairs", "1,4", "--alias", "latest", "--id", "cli-bad")
	require.Equal(t, 2, r.code, "a reserved alias is refused before starting\n%s", r)
	r = c.starter(nil, "status", "no-such-wf", "--output", "json")
	require.Equal(t, 2, r.code, "%s", r)
	var jerr struct {
		Error struct{ Type string } `json:"error"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &jerr), "--output json failures are JSON too\n%s", r)
	require.Equal(t, "NotFound", jerr.Error.Type)

	// A pipeline that fails in the worker (its data file is gone).
	run, err := c.tp.Client.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: "cli-fail", TaskQueue: c.queue},
		workflows.WorkflowName, workflows.LifecycleRequest{ModelName: "cli-model", Data: vocab.TrainingData{Path: filepath.Join(c.dir, "gone.csv")}})
	require.NoError(t, err)
	require.Error(t, run.Get(context.Background(), nil))
	r = c.starter(nil, "watch", "cli-fail")
	require.Equal(t, 1, r.code, "%s", r)
	require.Contains(t, r.stderr, "Pipeline cli-fail failed: InvalidTrainingData")
	r = c.starter(nil, "status", "cli-fail", "--output", "json")
	require.Equal(t, 1, r.code, "%s", r)
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &st))
	require.Equal(t, "Failed", st.Status)
	require.Equal(t, "InvalidTrainingData", st.Error.Type)

	// Server unreachable: exit 3.
	r = c.starter(nil, "status", "cli-run-1", "--address", "127.0.0.1:1")
	require.Equal(t, 3, r.code, "%s", r)
}
