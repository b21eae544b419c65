// Command bench is flavorflow's benchmark harness (`make bench`): it starts
// an MLflow server and a Temporal dev server on loopback ports, runs every
// comparison side by side against its baseline (curl, Python MLflow, a
// no-op "floor" workflow, a Python process per pipeline for P7) and prints a
// table; with -out it also writes BENCHMARKS.md, whose prose is
// bench/analysis.md rendered over this run's figures.
//
//	go run ./bench                      # full run, sizes as in BENCHMARKS.md
//	go run ./bench -quick               # small sizes, for debugging the harness
//	go run ./bench -only P1,P2 -size 64MiB
//	go run ./bench -only P7 -concurrent 6    # flavorflow vs Python on one MLflow server
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/flavorflow/flavorflow/config"
	"github.com/flavorflow/flavorflow/mlflow"
)

type options struct {
	only        map[string]bool
	size        int64   // P1, P2
	rssSizes    []int64 // P3
	reps        int     // P1, P2 repetitions
	latencyRuns int     // P4
	logRuns     int     // P5
	concurrent  int     // P6, P7
	pyParallel  int     // P7: Python processes at once
	workers     int     // worker processes for P6
	p6MLflow    bool    // P6 on the MLflow server instead of the embedded store
	out         string
	title       string
	appendOut   bool
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "floor-worker" {
		if err := runFloorWorker(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "floor-worker:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run() error {
	var o options
	only := flag.String("only", "P1,P2,P3,P4,P5,P6,GO", "comma-separated scenarios to run (GO: go test -bench)")
	size := flag.String("size", "1GiB", "P1/P2 file size")
	rss := flag.String("rss-sizes", "64MiB,512MiB,1GiB", "P3 model sizes")
	quick := flag.Bool("quick", false, "small sizes and counts, to debug the harness")
	flag.IntVar(&o.reps, "reps", 3, "P1/P2 repetitions (median reported)")
	flag.IntVar(&o.latencyRuns, "latency-runs", 30, "P4 pipelines per side")
	flag.IntVar(&o.logRuns, "log-runs", 10, "P5 log+register runs per side")
	flag.IntVar(&o.concurrent, "concurrent", 200, "P6 concurrent pipelines")
	flag.IntVar(&o.workers, "workers", 1, "P6 worker processes on the task queue")
	flag.BoolVar(&o.p6MLflow, "p6-mlflow", false, "run P6 on the MLflow server instead of the embedded store")
	flag.StringVar(&o.out, "out", "", "write the results as markdown to this file")
	flag.BoolVar(&o.appendOut, "append", false, "append to -out instead of replacing it")
	flag.StringVar(&o.title, "title", "flavorflow benchmarks", "markdown title")
	mlWorkers := flag.Int("mlflow-workers", 1, "mlflow server --workers")
	backend := flag.String("backend-store-uri", "", "mlflow server backend (default: SQLite in a temp dir)")
	artifacts := flag.String("artifacts-destination", "", "mlflow server --artifacts-destination, e.g. s3://bucket/path with MLFLOW_S3_ENDPOINT_URL set (default: a temp dir)")
	trace := flag.Bool("trace", false, "print every in-process MLflow request with its time")
	ownPIDs := flag.String("own-pids", "", "comma-separated PIDs of servers started for this run outside it (PostgreSQL, SeaweedFS): the header counts their CPU as the benchmark's, not as other load")
	cpuProfile := flag.String("cpuprofile", "", "P6: write the first worker's CPU profile during the pipelines to this file (go tool pprof)")
	flag.IntVar(&o.pyParallel, "py-parallel", 0, "P7: Python processes at once (0: -concurrent, lowered to what free memory holds)")
	flag.Parse()
	// The machine's load before anything starts, for the report's header.
	startLoad := sampleLoad()
	var err error
	if o.size, err = parseSize(*size); err != nil {
		return err
	}
	for _, s := range strings.Split(*rss, ",") {
		n, err := parseSize(s)
		if err != nil {
			return err
		}
		o.rssSizes = append(o.rssSizes, n)
	}
	if *quick {
		o.size, o.rssSizes, o.reps, o.latencyRuns, o.logRuns, o.concurrent = 16<<20, []int64{8 << 20, 32 << 20}, 1, 5, 3, 10
	}
	o.only = map[string]bool{}
	for _, s := range strings.Split(*only, ",") {
		o.only[strings.ToUpper(strings.TrimSpace(s))] = true
	}
	if o.only["P7"] && !o.p6MLflow {
		// P7 compares both sides on one MLflow server, so the workers
		// (P6's too) go there, through the counting proxy.
		fmt.Println("P7 runs against the MLflow server: -p6-mlflow is on")
		o.p6MLflow = true
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 40*time.Minute) // every run is bounded
	defer cancel()

	root, err := repoRoot()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "flavorflow-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	r := &report{started: time.Now(), command: "go run ./bench " + strings.Join(os.Args[1:], " "), load: startLoad}
	for _, s := range strings.Split(*ownPIDs, ",") {
		if pid, err := strconv.Atoi(strings.TrimSpace(s)); err == nil {
			r.ownPIDs = append(r.ownPIDs, pid)
		}
	}
	// The tuning the workers run with: they read temporal-dev.yml from the
	// repository root, as the floor worker does.
	cfg, err := config.Load(config.Find(filepath.Join(root, "temporal-dev.yml"), func(string) string { return "" }), os.Getenv)
	if err != nil {
		return err
	}
	r.tuning = cfg.Worker
	if c := os.Getenv("BENCH_COMMAND"); c != "" {
		r.command = c
	}
	py, err := tool(root, "python")
	if err != nil {
		return err
	}
	e := &env{root: root, tmp: tmp, py: py, reps: o.reps}
	if *cpuProfile != "" {
		if e.cpuProfile, err = filepath.Abs(*cpuProfile); err != nil {
			return err
		}
	}

	fmt.Printf("starting mlflow server (workers=%d) and temporal dev server in %s\n", *mlWorkers, tmp)
	mlDir := filepath.Join(tmp, "mlflow")
	if err := os.MkdirAll(mlDir, 0o755); err != nil {
		return err
	}
	e.ml, err = startMLflow(root, mlDir, *backend, *artifacts, *mlWorkers)
	if err != nil {
		return err
	}
	defer e.ml.Stop()
	e.mlURL = e.ml.URL
	if o.p6MLflow || o.only["P7"] {
		// The workers and the Python processes reach MLflow through one
		// counting proxy; the transfers (P1, P2) and P5 go direct.
		if e.proxy, err = startCountingProxy(e.ml.URL); err != nil {
			return err
		}
		defer e.proxy.Close()
		e.mlURL = e.proxy.URL
	}
	mcfg := mlflow.Config{TrackingURI: e.ml.URL, Logger: slog.New(slog.DiscardHandler)}
	base, err := mlflow.NewTransport(mcfg)
	if err != nil {
		return err
	}
	var tr http.RoundTripper = base
	if *trace {
		tr = &tracingTransport{next: tr}
	}
	e.counter = &countingTransport{next: tr}
	mcfg.Transport = e.counter
	e.client, err = mlflow.New(mcfg)
	if err != nil {
		return err
	}
	defer e.client.Close()

	step := func(id, what string, fn func() error) {
		if !o.only[id] || ctx.Err() != nil {
			return
		}
		// Write back the previous scenario's dirty pages (GiB files) now,
		// not in the middle of this one.
		syscall.Sync()
		fmt.Printf("-- %s %s\n", id, what)
		if err := fn(); err != nil {
			r.fail(id, what, err)
		}
	}
	step("P1", "upload", func() error { return e.benchUpload(ctx, r, o.size) })
	step("P2", "download+verify+load", func() error { return e.benchDownload(ctx, r, o.size) })
	if o.only["P3"] || o.only["P4"] || o.only["P6"] || o.only["P7"] {
		if err := e.startPipelines(ctx, root); err != nil {
			return err
		}
		defer e.stopPipelines()
	}
	step("P3", "worker RSS", func() error { return e.benchRSS(ctx, r, o.rssSizes) })
	step("P4", "tiny lifecycle latency", func() error { return e.benchLatency(ctx, r, o.latencyRuns) })
	step("P5", "log+register in process", func() error { return e.benchLogRegister(ctx, r, o.logRuns) })
	step("P6", "concurrent pipelines", func() error { return e.benchConcurrent(ctx, r, o) })
	step("P7", "scale-out against Python", func() error { return e.benchAnchor(ctx, r, o) })
	step("GO", "go test -bench", func() error { return runGoBench(ctx, root, r) })

	if o.out != "" {
		var keep []byte
		if o.appendOut {
			// Replace the section an earlier -append run wrote, keep the rest.
			old, _ := os.ReadFile(o.out)
			if i := bytes.Index(old, []byte(appendMarker)); i >= 0 {
				old = old[:i]
			}
			keep = append(old, appendMarker+"\n\n"...)
		}
		f, err := os.Create(o.out)
		if err != nil {
			return err
		}
		if _, err := f.Write(keep); err != nil {
			return err
		}
		text, err := os.ReadFile(filepath.Join(root, "bench", "analysis.md"))
		if err != nil {
			return err
		}
		a, missing, err := renderAnalysis(string(text), r, nil)
		if err != nil {
			return fmt.Errorf("bench/analysis.md: %w", err)
		}
		if len(missing) > 0 {
			fmt.Fprintf(os.Stderr, "bench/analysis.md names figures this run did not record (shown as n/a): %s\n", strings.Join(missing, ", "))
		}
		if o.appendOut { // one heading level deeper, as the rest of the section
			a = strings.ReplaceAll("\n"+a, "\n## ", "\n### ")[1:]
		}
		r.extra = append(r.extra, a)
		r.markdown(f, o.title, o.appendOut)
		if err := f.Close(); err != nil {
			return err
		}
		fmt.Println("wrote", o.out)
	}
	return ctx.Err()
}

// appendMarker starts the section an -append run writes.
const appendMarker = "<!-- appended by bench -append: replaced on the next run -->"

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for i := 0; i < 64; i++ {
		if fileExists(filepath.Join(dir, "go.mod")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return "", fmt.Errorf("run from inside the repository (no go.mod found)")
}

// parseSize reads 64MiB, 1GiB, 512KiB or a plain byte count.
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.m
			break
		}
	}
	var n int64
	if _, err := fmt.Sscanf(s, "%d", &n); err != nil || n < 0 {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return n * mult, nil
}
