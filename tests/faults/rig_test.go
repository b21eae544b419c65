package faults

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/flavorflow/flavorflow/internal/testrig/faultproxy"
	"github.com/flavorflow/flavorflow/internal/testrig/testenv"
	"github.com/flavorflow/flavorflow/mlflow"
	"github.com/flavorflow/flavorflow/store"
	"github.com/flavorflow/flavorflow/store/localstore"
	"github.com/flavorflow/flavorflow/vocab"
	"github.com/flavorflow/flavorflow/workflows"
)

// full selects the long version of every scenario (make faults).
var full = os.Getenv("FLAVORFLOW_FAULTS") == "full"

// workerBin is the worker binary built once by TestMain.
var workerBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "flavorflow-faults-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// FLAVORFLOW_FAULTS_WORKER runs a prebuilt worker (e.g. a mutant, to
	// see a scenario catch it) instead of building ./worker.
	workerBin = os.Getenv("FLAVORFLOW_FAULTS_WORKER")
	if workerBin == "" {
		workerBin = filepath.Join(dir, "worker")
		gobin := os.Getenv("GO")
		if gobin == "" {
			gobin = "go"
		}
		build := exec.Command(gobin, "build", "-o", workerBin, "./worker")
		build.Dir = testenv.RepoRoot()
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build worker: %v\n%s", err, out)
			os.Exit(1)
		}
	}
	code := testenv.RunWithMLflow(m)
	os.RemoveAll(dir)
	os.Exit(code)
}

// pick returns the short or the full value of a knob.
func pick[T any](short, long T) T {
	if full {
		return long
	}
	return short
}

// rig is one scenario's world: a Temporal dev server, the package's MLflow
// server behind its own fault proxy, a task queue, an experiment, and worker
// processes (the real binary) it starts and kills.
type rig struct {
	t          *testing.T
	tp         *testenv.Temporal
	tpOpts     testenv.TemporalOptions
	ml         *testenv.MLflow
	px         *faultproxy.Proxy
	direct     store.Store // straight to the server (or the local store): the auditor's view
	dir        string
	queue      string
	experiment string
	prefix     string // unique per rig: model names and workflow IDs start with it
	env        []string
	rng        *rand.Rand

	mu      sync.Mutex
	workers []*workerProc
}

type rigOptions struct {
	temporal    testenv.TemporalOptions
	stopTimeout time.Duration // the worker's WorkerStopTimeout (default 30 s)
	// localStore points the workers at an embedded local store in the rig's
	// directory instead of the MLflow server (the proxy is then unused).
	localStore bool
	// mlflow, when set, is the server behind the proxy instead of the
	// package's shared one (e.g. one keeping its artifacts in S3).
	mlflow *testenv.MLflow
}

func newRig(t *testing.T, opts rigOptions) *rig {
	t.Helper()
	ml := opts.mlflow
	if ml == nil {
		ml = testenv.SharedMLflow(t, testenv.MLflowOptions{})
	}
	tp := testenv.StartTemporal(t, opts.temporal)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	px, err := faultproxy.Start(ml.URL, seed)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(px.Close)
	dir := t.TempDir()
	trackingURI := px.URL
	var direct store.Store
	if opts.localStore {
		trackingURI = filepath.Join(dir, "store")
		local, err := localstore.Open(trackingURI)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = local.Close() })
		direct = local
	} else {
		client, err := mlflow.New(mlflow.Config{TrackingURI: ml.URL})
		if err != nil {
			t.Fatal(err)
		}
		direct = client
	}
	name := strings.NewReplacer("/", "-", "_", "-").Replace(t.Name())
	prefix := fmt.Sprintf("%s-%04x", name, seed&0xffff)
	r := &rig{
		t: t, tp: tp, tpOpts: opts.temporal, ml: ml, px: px, direct: direct,
		dir:        dir,
		queue:      prefix,
		experiment: "faults-" + prefix,
		prefix:     prefix,
		rng:        rand.New(rand.NewPCG(seed, 7)),
	}
	stop := opts.stopTimeout
	if stop == 0 {
		stop = 30 * time.Second
	}
	r.env = append(os.Environ(),
		"TEMPORAL_NAMESPACE=default",
		"MLFLOW_TRACKING_URI="+trackingURI,
		"FLAVORFLOW_WORK_DIR="+filepath.Join(r.dir, "work"),
		"FLAVORFLOW_TASK_QUEUE="+r.queue,
		"FLAVORFLOW_EXPERIMENT="+r.experiment,
		"FLAVORFLOW_CONFIG=",
		"FLAVORFLOW_HEALTH_ADDR=",
		"FLAVORFLOW_WORKER_STOP_TIMEOUT="+stop.String(),
	)
	t.Cleanup(r.killAll)
	return r
}

// workerProc is one worker binary process.
type workerProc struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error // exit status, once done is closed
}

// startWorker starts a worker process and waits until it polls.
func (r *rig) startWorker() *workerProc {
	r.t.Helper()
	return r.startWorkerEnv()
}

// startWorkerEnv is startWorker with extra environment (KEY=value, winning
// over the rig's), e.g. a worker-specific FLAVORFLOW_WORK_DIR.
func (r *rig) startWorkerEnv(extra ...string) *workerProc {
	r.t.Helper()
	r.mu.Lock()
	n := len(r.workers)
	r.mu.Unlock()
	w := &workerProc{log: filepath.Join(r.dir, fmt.Sprintf("worker-%03d.log", n)), done: make(chan struct{})}
	logf, err := os.Create(w.log)
	if err != nil {
		r.t.Fatal(err)
	}
	defer logf.Close()
	w.cmd = exec.Command(workerBin, "--log-format", "text")
	w.cmd.Dir = r.dir
	w.cmd.Env = append(append(slices.Clone(r.env), "TEMPORAL_ADDRESS="+r.tp.HostPort), extra...)
	w.cmd.Stdout, w.cmd.Stderr = logf, logf
	if err := w.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	go func() { w.err = w.cmd.Wait(); close(w.done) }()
	r.mu.Lock()
	r.workers = append(r.workers, w)
	r.mu.Unlock()
	if err := poll(30*time.Second, func() (bool, error) {
		select {
		case <-w.done:
			return false, fmt.Errorf("worker exited during start-up: %v\n%s", w.err, readTail(w.log))
		default:
		}
		return strings.Contains(readTail(w.log), "worker started"), nil
	}); err != nil {
		r.t.Fatal(err)
	}
	return w
}

// signal sends sig and waits (bounded) for the process to exit.
func (w *workerProc) signal(sig syscall.Signal, within time.Duration) (time.Duration, error) {
	start := time.Now()
	if err := w.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return 0, err
	}
	select {
	case <-w.done:
		return time.Since(start), nil
	case <-time.After(within):
		return time.Since(start), fmt.Errorf("worker did not exit within %s of %s", within, sig)
	}
}

func (w *workerProc) running() bool {
	select {
	case <-w.done:
		return false
	default:
		return true
	}
}

func (r *rig) killAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, w := range r.workers {
		if w.running() {
			_, _ = w.signal(syscall.SIGKILL, 10*time.Second)
		}
		if r.t.Failed() && w == r.workers[len(r.workers)-1] {
			r.t.Logf("--- last worker log %s ---\n%s", w.log, readTail(w.log))
		}
	}
}

func readTail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 6000 {
		b = b[len(b)-6000:]
	}
	return string(b)
}

// poll calls cond every 50 ms until it is true, fails, or timeout passes.
func poll(timeout time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil || ok {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("condition not met within %s", timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// request is a pipeline training y = x + offset with a weights payload.
func request(model, alias string, offset float64, weights int64) workflows.LifecycleRequest {
	return workflows.LifecycleRequest{
		ModelName: model, Alias: alias, WeightsSize: weights,
		Data: vocab.TrainingData{Pairs: []vocab.Sample{{X: 1, Y: 1 + offset}, {X: 2, Y: 2 + offset}, {X: 10, Y: 10 + offset}}},
	}
}

// pipeline is one started workflow.
type pipeline struct {
	id    string
	model string
	alias string
	run   client.WorkflowRun
	res   workflows.LifecycleResult
	err   error
	done  chan struct{}
}

// start starts a pipeline; its outcome arrives on p.done.
func (r *rig) start(id string, req workflows.LifecycleRequest) *pipeline {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	run, err := r.tp.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: id, TaskQueue: r.queue, WorkflowExecutionTimeout: 30 * time.Minute,
	}, workflows.WorkflowName, req)
	if err != nil {
		r.t.Fatalf("start %s: %v", id, err)
	}
	p := &pipeline{id: id, model: req.ModelName, alias: req.Alias, run: run, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
		defer cancel()
		p.err = run.Get(ctx, &p.res)
	}()
	return p
}

// wait waits for every pipeline, failing the test after timeout.
func (r *rig) wait(timeout time.Duration, ps ...*pipeline) {
	r.t.Helper()
	deadline := time.After(timeout)
	for _, p := range ps {
		select {
		case <-p.done:
		case <-deadline:
			r.t.Fatalf("pipeline %s not finished within %s", p.id, timeout)
		}
	}
}

// scanLog reports whether any worker log line contains s.
func (r *rig) scanLogs(s string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, w := range r.workers {
		f, err := os.Open(w.log)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if strings.Contains(sc.Text(), s) {
				n++
			}
		}
		f.Close()
	}
	return n
}
