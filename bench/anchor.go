package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// pyProcessMemory is what one Python pipeline process is given when
// -py-parallel is not set: mlflow's imports (pandas, numpy, SQLAlchemy…)
// make each process some hundreds of MiB, so more at once than free memory
// holds would measure swapping.
const pyProcessMemory = 400 << 20

// anchorSide is one side of P7, measured through the counting proxy.
type anchorSide struct {
	wall      time.Duration
	failed    int
	requests  *requestCount
	serverCPU float64 // MLflow server CPU-seconds
	clientCPU float64 // the side's own processes: workers + dev server, or the Python processes
}

func (s anchorSide) rate(n int) float64 { return float64(n) / s.wall.Seconds() }

// benchAnchor is P7: n lifecycles on flavorflow's workers against n Python
// processes (bench/py/lifecycle.py), one after the other against the same
// MLflow server, each side's requests counted at the proxy and the server's
// CPU read from /proc.
func (e *env) benchAnchor(ctx context.Context, r *report, o options) error {
	if e.proxy == nil {
		return fmt.Errorf("P7 needs the counting proxy (run with -p6-mlflow)")
	}
	if err := e.scaleWorkers(ctx, o); err != nil {
		return err
	}
	n := o.concurrent
	par := o.pyParallel
	if par <= 0 {
		par = n
		if avail := memAvailable(); avail > 0 {
			par = max(1, min(n, int(avail/pyProcessMemory)))
		}
	}
	prefix := fmt.Sprintf("p7-%d", time.Now().UnixNano()%1e6)
	var workerPIDs []int
	for _, p := range e.pl.procs {
		if strings.HasSuffix(p.name, queueMLflow) {
			workerPIDs = append(workerPIDs, p.pid())
		}
	}
	server := fixed(childPIDs("start-dev"))

	// Warm-up, not counted: each worker process looks its experiment up once.
	if _, _, err := concurrently(2*o.workers, func(i int) error {
		_, _, err := e.runPipeline(ctx, queueMLflow, fmt.Sprintf("%s-warm-%d", prefix, i), 0)
		return err
	}); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	var ours, py anchorSide
	before := e.proxy.snapshot()
	meter := newCPUMeter(map[string]func() []int{"mlflow server": e.mlflowPIDs, "worker": fixed(workerPIDs), "temporal dev server": server})
	var err error
	ours.wall, ours.failed, err = concurrently(n, func(i int) error {
		_, _, err := e.runPipeline(ctx, queueMLflow, fmt.Sprintf("%s-go-%d", prefix, i), 0)
		return err
	})
	if err != nil {
		return err
	}
	cpu := meter.Seconds()
	ours.serverCPU, ours.clientCPU = cpu["mlflow server"], cpu["worker"]+cpu["temporal dev server"]
	ours.requests = countSince(before, e.proxy.snapshot(), n)

	// The Python side's experiment exists before the processes start, as
	// flavorflow's does: n processes creating it at once would race.
	expName := "bench-p7-python"
	if _, err := e.client.CreateExperiment(ctx, expName+"-"+prefix, nil); err != nil {
		return err
	}
	before = e.proxy.snapshot()
	meter = newCPUMeter(map[string]func() []int{"mlflow server": e.mlflowPIDs})
	var mu sync.Mutex
	slots := make(chan struct{}, par)
	py.wall, py.failed, err = concurrently(n, func(i int) error {
		slots <- struct{}{}
		defer func() { <-slots }()
		c, err := e.runPythonLifecycle(ctx, expName+"-"+prefix, fmt.Sprintf("%s-py-%d", prefix, i))
		mu.Lock()
		py.clientCPU += c
		mu.Unlock()
		return err
	})
	if err != nil {
		return err
	}
	py.serverCPU = meter.Seconds()["mlflow server"]
	py.requests = countSince(before, e.proxy.snapshot(), n)
	rows, figs := anchorRows(n, o.workers, par, ours, py)
	for k, v := range figs { // the analysis quotes the sides under "P7"
		r.fig("P7", k, v)
	}
	for _, x := range rows {
		r.add(x)
	}
	return nil
}

// runPythonLifecycle runs one Python pipeline process and returns its CPU
// seconds.
func (e *env) runPythonLifecycle(ctx context.Context, experiment, name string) (float64, error) {
	cmd := exec.CommandContext(ctx, e.py, filepath.Join(e.root, "bench", "py", "lifecycle.py"), e.mlURL, experiment, name, "champion")
	cmd.Env = append(os.Environ(), "MLFLOW_DISABLE_TELEMETRY=true", "PYTHONWARNINGS=ignore", "MLFLOW_TRACKING_URI="+e.mlURL)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	cpu := 0.0
	if cmd.ProcessState != nil {
		cpu = (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
	}
	if err != nil {
		return cpu, fmt.Errorf("lifecycle.py %s: %w\n%s", name, err, tail(stderr.String(), 1500))
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var res struct{ Version int }
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil || res.Version < 1 {
		return cpu, fmt.Errorf("lifecycle.py %s: no version in %q", name, tail(string(out), 300))
	}
	return cpu, nil
}

// anchorRows are P7's three targets, each its own row: throughput, MLflow
// requests per pipeline, MLflow-server CPU per pipeline.
func anchorRows(n, workers, par int, ours, py anchorSide) ([]row, map[string]string) {
	or, pr := ours.rate(n), py.rate(n)
	oq, pq := ours.requests.perPipeline(), py.requests.perPipeline()
	oc, pc := ours.serverCPU/float64(n), py.serverCPU/float64(n)
	what := fmt.Sprintf("%d lifecycles each way on one MLflow server: flavorflow (%d worker process(es)) vs a Python process per pipeline (%d at once)", n, workers, par)
	figs := map[string]string{
		"concurrent": fmt.Sprint(n), "py_parallel": fmt.Sprint(par), "healthcheck_s": fmt.Sprint(int(mlflowWorkerHealthcheck / time.Second)),
		"ours_rate": fmt.Sprintf("%.2f pipelines/s", or), "py_rate": fmt.Sprintf("%.2f pipelines/s", pr), "ratio": ratioX(or / pr),
		"ours_reqs": fmt.Sprintf("%.1f", oq), "py_reqs": fmt.Sprintf("%.1f", pq),
		"ours_cpu": cpuS(oc), "py_cpu": cpuS(pc),
		"ours_cpu_per_req": cpuS(perRequest(oc, oq)), "py_cpu_per_req": cpuS(perRequest(pc, pq)),
		"ours_client_cpu": cpuS(ours.clientCPU / float64(n)), "py_client_cpu": cpuS(py.clientCPU / float64(n)),
		"paths": ours.requests.list(true), "py_paths": py.requests.list(false),
	}
	g := guaranteeRequests(ours.requests)
	figs["ours_guarantee_reqs"], figs["ours_other_reqs"] = fmt.Sprintf("%.1f", g), fmt.Sprintf("%.1f", oq-g)
	figs["ours_other_cpu"] = cpuS((oq - g) * perRequest(oc, oq))
	fail := fmt.Sprintf("%d failed", ours.failed)
	pyFail := fmt.Sprintf("%d failed", py.failed)
	ok := ours.failed == 0 && py.failed == 0
	rows := []row{
		{ID: "P7a", What: what + ": throughput",
			Ours:      fmt.Sprintf("%.2f pipelines/s (%s), %s", or, secs(ours.wall), fail),
			Baselines: fmt.Sprintf("Python %.2f pipelines/s (%s), %s", pr, secs(py.wall), pyFail),
			Ratio:     ratioX(or/pr) + " Python",
			Target:    "≥ 1.5× Python",
			Met:       ok && or/pr >= 1.5,
		},
		{ID: "P7b", What: "MLflow requests per pipeline (counting proxy)",
			Ours:      fmt.Sprintf("%.1f", oq),
			Baselines: fmt.Sprintf("Python %.1f", pq),
			Ratio:     ratioX(oq/pq) + " Python's",
			Target:    "≤ Python's",
			Met:       oq <= pq,
		},
		{ID: "P7c", What: "MLflow-server CPU per pipeline (/proc utime+stime)",
			Ours:      cpuS(oc),
			Baselines: "Python " + cpuS(pc),
			Ratio:     ratioX(oc/pc) + " Python's",
			Target:    "≤ Python's",
			Met:       oc <= pc,
			Notes: fmt.Sprintf("client side per pipeline: flavorflow's workers and dev server %s, the Python processes %s",
				cpuS(ours.clientCPU/float64(n)), cpuS(py.clientCPU/float64(n))),
		},
	}
	return rows, figs
}

// memAvailable is /proc/meminfo's MemAvailable in bytes (0 if unknown).
func memAvailable() int64 {
	v := procField("/proc/meminfo", "MemAvailable")
	kb, err := strconv.ParseInt(strings.TrimSuffix(v, " kB"), 10, 64)
	if err != nil {
		return 0
	}
	return kb << 10
}

// perRequest is server CPU per request (0 when nothing was counted).
func perRequest(cpu, requests float64) float64 {
	if requests == 0 {
		return 0
	}
	return cpu / requests
}
