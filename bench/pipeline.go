package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/flavorflow/flavorflow/internal/app"
	"github.com/flavorflow/flavorflow/store"
	"github.com/flavorflow/flavorflow/vocab"
	"github.com/flavorflow/flavorflow/workflows"
)

// Task queues: one worker (set) per store, one for the floor.
const (
	queueEmbedded = "bench-embedded"
	queueMLflow   = "bench-mlflow"
	queueFloor    = "bench-floor"
)

// proc is a worker process started by the harness.
type proc struct {
	name string
	cmd  *exec.Cmd
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

type pipelines struct {
	dev       *devServer
	tc        client.Client
	workerBin string
	procs     []*proc
	mlWorker  *proc // the worker P3 measures
	storeDir  string
	scaled    bool // the extra -workers processes run
}

// startPipelines builds bin/worker, starts a dev server, a worker on the
// embedded store, one on the MLflow server and a floor worker.
func (e *env) startPipelines(ctx context.Context, root string) error {
	p := &pipelines{storeDir: filepath.Join(e.tmp, "store")}
	e.pl = p
	p.workerBin = filepath.Join(e.tmp, "worker")
	build := exec.CommandContext(ctx, "go", "build", "-o", p.workerBin, "./worker")
	build.Dir, build.Stdout, build.Stderr = root, os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build worker: %w", err)
	}
	dir := filepath.Join(e.tmp, "temporal")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var err error
	if p.dev, err = startTemporal(root, dir); err != nil {
		return err
	}
	if p.tc, err = client.Dial(client.Options{HostPort: p.dev.HostPort, Logger: quietLogger{}}); err != nil {
		return err
	}
	if _, err := e.startWorker(ctx, queueEmbedded, p.storeDir); err != nil {
		return err
	}
	if p.mlWorker, err = e.startWorker(ctx, queueMLflow, e.mlURL); err != nil {
		return err
	}
	return e.startFloor(ctx, queueFloor)
}

// startWorker runs bin/worker on queue against trackingURI and waits for
// its /healthz.
func (e *env) startWorker(ctx context.Context, queue, trackingURI string) (*proc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	n := len(e.pl.procs)
	logf, err := os.Create(filepath.Join(e.tmp, fmt.Sprintf("worker-%d.log", n)))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	args := []string{"-log-level", "warn", "-address", e.pl.dev.HostPort}
	if e.cpuProfile != "" && n == 0 {
		args = append(args, "-cpuprofile", e.cpuProfile)
	}
	cmd := exec.Command(e.pl.workerBin, args...)
	cmd.Dir = e.root // finds temporal-dev.yml: the worker runs with the shipped tuning
	cmd.Env = append(os.Environ(),
		"FLAVORFLOW_TASK_QUEUE="+queue,
		"MLFLOW_TRACKING_URI="+trackingURI,
		"FLAVORFLOW_WORK_DIR="+filepath.Join(e.tmp, fmt.Sprintf("work-%d", n)),
		"FLAVORFLOW_HEALTH_ADDR=127.0.0.1:"+strconv.Itoa(port),
		"FLAVORFLOW_EXPERIMENT=bench")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{name: "worker " + queue, cmd: cmd}
	e.pl.procs = append(e.pl.procs, p)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	if err := waitHTTP(fmt.Sprintf("http://127.0.0.1:%d/healthz", port), 60*time.Second, exited); err != nil {
		return nil, fmt.Errorf("worker on %s: %w (log %s)", queue, err, logf.Name())
	}
	return p, nil
}

// startFloor runs this binary as a floor worker.
func (e *env) startFloor(ctx context.Context, queue string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(self, "floor-worker", "-address", e.pl.dev.HostPort, "-task-queue", queue)
	cmd.Dir = e.root
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	e.pl.procs = append(e.pl.procs, &proc{name: "floor " + queue, cmd: cmd})
	// Ready when it has completed one workflow.
	_, err = e.runFloor(ctx, queue, "warmup-floor-"+queue)
	return err
}

func (e *env) stopPipelines() {
	if e.pl == nil {
		return
	}
	for _, p := range e.pl.procs {
		killGroup(p.cmd)
	}
	if e.pl.tc != nil {
		e.pl.tc.Close()
	}
	e.pl.dev.Stop()
}

var tinyData = vocab.TrainingData{Pairs: []vocab.Sample{{X: 1, Y: 4}, {X: 2, Y: 5}, {X: 3, Y: 6}}}

// runPipeline runs one ModelLifecycle to completion.
func (e *env) runPipeline(ctx context.Context, queue, name string, weights int64) (workflows.LifecycleResult, time.Duration, error) {
	t0 := time.Now()
	run, err := e.pl.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "bench-" + name, TaskQueue: queue},
		workflows.WorkflowName, workflows.LifecycleRequest{ModelName: name, Alias: "champion", Data: tinyData, WeightsSize: weights})
	if err != nil {
		return workflows.LifecycleResult{}, 0, err
	}
	var res workflows.LifecycleResult
	err = run.Get(ctx, &res)
	return res, time.Since(t0), err
}

func (e *env) runFloor(ctx context.Context, queue, name string) (time.Duration, error) {
	t0 := time.Now()
	run, err := e.pl.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "floor-" + name, TaskQueue: queue}, floorWorkflow, name)
	if err != nil {
		return 0, err
	}
	err = run.Get(ctx, nil)
	return time.Since(t0), err
}

// rss reads VmRSS and VmHWM of pid in bytes.
func rss(pid int) (cur, peak int64, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch k {
		case "VmRSS":
			cur = n << 10
		case "VmHWM":
			peak = n << 10
		}
	}
	return cur, peak, nil
}

// benchRSS is P3: the MLflow-backed worker's peak RSS above idle while a
// model of each size goes through the whole pipeline.
func (e *env) benchRSS(ctx context.Context, r *report, sizes []int64) error {
	pid := e.pl.mlWorker.pid()
	// Warm up: the first pipeline loads code and fills pools.
	if _, _, err := e.runPipeline(ctx, queueMLflow, "rss-warmup", 1<<20); err != nil {
		return err
	}
	var points []rssPoint
	for i, size := range sizes {
		time.Sleep(500 * time.Millisecond)
		idle, _, err := rss(pid)
		if err != nil {
			return err
		}
		// Reset VmHWM (clear_refs 5) so each size has its own peak.
		_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
		var mu sync.Mutex
		sampled := idle
		done := make(chan struct{})
		go func() {
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-done:
					return
				case <-tick.C:
					if cur, _, err := rss(pid); err == nil {
						mu.Lock()
						sampled = max(sampled, cur)
						mu.Unlock()
					}
				}
			}
		}()
		_, took, err := e.runPipeline(ctx, queueMLflow, fmt.Sprintf("rss-%d", i), size)
		close(done)
		if err != nil {
			return err
		}
		_, hwm, _ := rss(pid)
		mu.Lock()
		peak := max(hwm, sampled)
		mu.Unlock()
		points = append(points, rssPoint{size: size, idle: idle, above: peak - idle, took: took})
		_ = os.RemoveAll(e.ml.ArtifactsDir) // keep the disk small between sizes
	}
	r.add(rssRow(points))
	return nil
}

// benchLatency is P4: tiny-model lifecycle on the embedded store against
// the floor workflow, interleaved, after a warm-up.
func (e *env) benchLatency(ctx context.Context, r *report, n int) error {
	var ours, floor []time.Duration
	for i := -2; i < n; i++ {
		_, d, err := e.runPipeline(ctx, queueEmbedded, fmt.Sprintf("lat-%d", i+2), 0)
		if err != nil {
			return err
		}
		f, err := e.runFloor(ctx, queueFloor, fmt.Sprintf("lat-%d", i+2))
		if err != nil {
			return err
		}
		if i >= 0 {
			ours, floor = append(ours, d), append(floor, f)
		}
	}
	r.add(latencyRow(n, ours, floor))
	return nil
}

// benchConcurrent is P6: n pipelines at once against n floor workflows.
func (e *env) benchConcurrent(ctx context.Context, r *report, o options) error {
	queue, st, where := queueEmbedded, store.Store(nil), "embedded store"
	if o.p6MLflow {
		queue, st, where = queueMLflow, e.client, "MLflow server"
	}
	if err := e.scaleWorkers(ctx, o); err != nil {
		return err
	}
	if st == nil {
		ls, err := app.OpenStore(ctx, e.pl.storeDir, slog.New(slog.DiscardHandler))
		if err != nil {
			return err
		}
		defer ls.Close()
		st = ls
	}
	prefix := fmt.Sprintf("conc%d", time.Now().UnixNano()%1e6)
	var workerPIDs, floorPIDs []int
	for _, p := range e.pl.procs {
		switch {
		case strings.HasSuffix(p.name, queue):
			workerPIDs = append(workerPIDs, p.pid())
		case strings.HasPrefix(p.name, "floor"):
			floorPIDs = append(floorPIDs, p.pid())
		}
	}
	server := fixed(childPIDs("start-dev"))
	groups := map[string]func() []int{"worker": fixed(workerPIDs), "temporal dev server": server}
	if o.p6MLflow {
		groups["mlflow server"] = e.mlflowPIDs // and its uvicorn workers
	}
	if e.cpuProfile != "" {
		signalAll(workerPIDs[:1], syscall.SIGUSR1)
	}
	calls := startSyscallCounter(workerPIDs)
	meter := newCPUMeter(groups)
	var ours, floor concurrentResult
	var err error
	ours.wall, ours.failed, err = concurrently(o.concurrent, func(i int) error {
		_, _, err := e.runPipeline(ctx, queue, fmt.Sprintf("%s-%d", prefix, i), 0)
		return err
	})
	if err != nil {
		return err
	}
	ours.cpu = meter.Seconds()
	ours.syscalls = calls.stop()
	if e.cpuProfile != "" {
		signalAll(workerPIDs[:1], syscall.SIGUSR2)
	}
	meter = newCPUMeter(map[string]func() []int{"floor worker": fixed(floorPIDs), "temporal dev server": server})
	floor.wall, floor.failed, err = concurrently(o.concurrent, func(i int) error {
		_, err := e.runFloor(ctx, queueFloor, fmt.Sprintf("%s-%d", prefix, i))
		return err
	})
	if err != nil {
		return err
	}
	floor.cpu = meter.Seconds()
	if ours.duplicat, err = duplicates(ctx, st, prefix, o.concurrent); err != nil {
		return err
	}
	ours.sample = min(o.concurrent, 20)
	if ours.hist, ours.keeper, floor.hist, err = e.historyFigures(ctx, queue, prefix, ours.sample); err != nil {
		return err
	}
	r.add(concurrentRow(o.concurrent, o.workers, where, ours, floor))
	return nil
}

// duplicates counts model versions beyond one for each of the n models
// prefix-0 … prefix-(n-1): exactly-once registration says none.
func duplicates(ctx context.Context, st store.Store, prefix string, n int) (int, error) {
	dups := 0
	for i := 0; i < n; i++ {
		vs, err := st.SearchModelVersions(ctx, fmt.Sprintf("%s-%d", prefix, i), "", "")
		if err != nil {
			return 0, fmt.Errorf("count versions: %w", err)
		}
		dups += max(len(vs)-1, 0)
	}
	return dups, nil
}

// mlflowPIDs lists the MLflow server's processes: its process group (the
// server and the uvicorn workers it forked).
func (e *env) mlflowPIDs() []int { return groupPIDs(e.ml.cmd.Process.Pid) }

// scaleWorkers starts the extra worker processes (-workers) on the P6/P7
// queue and as many extra floor workers, once.
func (e *env) scaleWorkers(ctx context.Context, o options) error {
	if e.pl.scaled {
		return nil
	}
	e.pl.scaled = true
	queue, uri := queueEmbedded, e.pl.storeDir
	if o.p6MLflow {
		queue, uri = queueMLflow, e.mlURL
	}
	for i := 1; i < o.workers; i++ {
		if _, err := e.startWorker(ctx, queue, uri); err != nil {
			return err
		}
		if err := e.startFloor(ctx, queueFloor); err != nil {
			return err
		}
	}
	return nil
}

// concurrently runs fn(0..n-1) at once and returns the wall time and how
// many failed.
func concurrently(n int, fn func(int) error) (time.Duration, int, error) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := 0
	var first error
	t0 := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(i); err != nil {
				mu.Lock()
				failed++
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	d := time.Since(t0)
	if failed == n {
		return d, failed, first
	}
	if first != nil {
		fmt.Fprintln(os.Stderr, "first failure:", first)
	}
	return d, failed, nil
}
