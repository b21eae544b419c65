package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"sync/atomic"
	"syscall"
	"time"

	"go.temporal.io/sdk/worker"

	"github.com/flavorflow/flavorflow/activities"
	"github.com/flavorflow/flavorflow/config"
	"github.com/flavorflow/flavorflow/flavor"
	"github.com/flavorflow/flavorflow/internal/app"
	"github.com/flavorflow/flavorflow/internal/telemetry"
	"github.com/flavorflow/flavorflow/linearmodel"
	"github.com/flavorflow/flavorflow/workflows"
)

func main() {
	if err := run(context.Background(), os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return // -h: the flags were printed
		}
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	// The standard flag package: the worker has no subcommands, and it
	// keeps taking -flag as well as --flag (the benchmark starts it so).
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "config file (default: FLAVORFLOW_CONFIG or temporal-dev.yml in this or a parent directory)")
	logFormat := fs.String("log-format", "json", "log format: json or text")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	cpuProfile := fs.String("cpuprofile", "", "benchmarks: write a CPU profile (go tool pprof) of the span between SIGUSR1 and SIGUSR2 to this file")
	var settings config.Flags
	settings.AddToGo(fs, app.WorkerFlags...)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.LoadWith(config.Options{Path: *cfgPath, Getenv: os.Getenv, Environ: os.Environ, Flags: settings.Values()})
	if err != nil {
		return err
	}

	buildID := buildRevision()
	logger, err := app.NewLogger(os.Stderr, *logFormat, *logLevel)
	if err != nil {
		return err
	}
	logger = logger.With("build_id", buildID, "task_queue", cfg.Temporal.TaskQueue)

	// Traces and metrics go to OTLP (OTEL_EXPORTER_OTLP_ENDPOINT) or stdout
	// (FLAVORFLOW_OTEL_STDOUT=1) when the environment asks; otherwise no-op.
	tel, err := telemetry.Setup(ctx, "flavorflow-worker", telemetry.Options{Getenv: os.Getenv, Logger: logger})
	if err != nil {
		return err
	}
	defer telemetry.ShutdownWithin(tel, 5*time.Second, logger)
	logger = slog.New(telemetry.LogHandler(logger.Handler()))

	st, err := app.OpenStore(ctx, cfg.Store.TrackingURI, logger, app.WithTransport(tel.WrapTransport), app.WithTuning(cfg.Worker), app.WithMLflow(cfg.MLflow))
	if err != nil {
		return err
	}
	defer st.Close()

	opts, err := app.ClientOptions(cfg, logger)
	if err != nil {
		return err
	}
	tel.ConfigureClient(&opts) // telemetry: tracing interceptor, metrics handler
	c, err := app.Dial(ctx, opts)
	if err != nil {
		return err
	}
	defer c.Close()

	wopts := app.WorkerOptions(cfg.Worker)
	wopts.Interceptors = tel.WorkerInterceptors() // telemetry: step metrics
	w := worker.New(c, cfg.Temporal.TaskQueue, wopts)
	flavors, err := workerFlavors()
	if err != nil {
		return err
	}
	workflows.Register(w)
	w.RegisterActivity(&activities.Activities{
		Store:             st,
		Experiment:        cfg.Store.Experiment,
		WorkDir:           cfg.Worker.WorkDir,
		UploadParallelism: cfg.Worker.UploadParallelism,
		// Hand unfinished transfers back while the worker can still report.
		StopGrace: cfg.Worker.StopTimeout * 3 / 4,
		Logger:    logger,
		Metrics:   tel.Metrics, // telemetry
		// PromoteAlias reaches the alias keeper workflows with it.
		Temporal: c,
		// The flavors and trainers pipelines may name.
		Flavors: flavors,
	})

	stopJanitor := startJanitor(ctx, cfg.Worker.WorkDir, cfg.Worker.SweepEvery,
		activities.SweepOptions{WorkflowTTL: cfg.Worker.WorkDirTTL, TempTTL: cfg.Worker.TempTTL}, logger)
	defer stopJanitor()

	var ready atomic.Bool
	if cfg.Worker.HealthAddr != "" {
		stopHealth, err := serveHealth(cfg.Worker.HealthAddr, healthHandler(&ready, cfg.Worker.WorkDir, cfg.Worker.MinFreeBytes), logger)
		if err != nil {
			return err
		}
		defer stopHealth()
	}
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	ready.Store(true)
	logger.Info("worker started", "store", st.Describe(), "temporal", opts.HostPort, "namespace", opts.Namespace)

	if *cpuProfile != "" {
		stopProfiling := profileOnSignal(*cpuProfile, logger)
		defer stopProfiling()
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	got := <-sig
	ready.Store(false)
	logger.Info("stopping worker", "signal", got.String(), "stop_timeout", cfg.Worker.StopTimeout)
	start := time.Now()
	w.Stop() // waits up to WorkerStopTimeout for running activities
	logger.Info("worker stopped", "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// profileOnSignal profiles the process's CPU from SIGUSR1 to SIGUSR2 into
// path, so a benchmark can profile exactly its measured span (the harness
// sends the signals; go run ./bench -only P6 -cpuprofile FILE). The returned
// func stops listening and writes a profile still running.
func profileOnSignal(path string, logger *slog.Logger) func() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR1, syscall.SIGUSR2)
	done := make(chan struct{})
	exited := make(chan struct{})
	var f *os.File
	stop := func() {
		if f == nil {
			return
		}
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			logger.Error("cpu profile", "error", err)
		}
		logger.Info("cpu profile written", "path", path)
		f = nil
	}
	go func() {
		defer close(exited)
		for {
			select {
			case <-done:
				stop()
				return
			case s := <-sig:
				if s == syscall.SIGUSR2 {
					stop()
					continue
				}
				if f != nil {
					continue
				}
				var err error
				if f, err = os.Create(path); err != nil {
					logger.Error("cpu profile", "error", err)
					f = nil
					continue
				}
				if err := pprof.StartCPUProfile(f); err != nil {
					logger.Error("cpu profile", "error", err)
					f.Close()
					f = nil
				}
			}
		}
	}()
	return func() {
		signal.Stop(sig)
		close(done)
		<-exited
	}
}

// serveHealth serves h on /healthz. It logs the bound address (the port
// may be 0).
func serveHealth(addr string, h http.Handler, logger *slog.Logger) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("health endpoint: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/healthz", h)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("health endpoint", "error", err)
		}
	}()
	logger.Info("health endpoint", "url", "http://"+ln.Addr().String()+"/healthz")
	return func() { _ = srv.Close() }, nil
}

// health is the /healthz answer.
type health struct {
	// Status is "ok", "degraded" (running, but WorkDir's file system has
	// less than MinFreeBytes free: saves may fail with ENOSPC) or
	// "unavailable" (starting or stopping).
	Status       string `json:"status"`
	WorkDir      string `json:"work_dir"`
	FreeBytes    uint64 `json:"free_bytes"`
	TotalBytes   uint64 `json:"total_bytes"`
	MinFreeBytes int64  `json:"min_free_bytes"`
	Error        string `json:"error,omitempty"`
}

// healthHandler answers JSON: 200 while the worker runs ("ok" or
// "degraded"), 503 while it starts or stops. Low disk is "degraded", not
// 503: the worker still finishes what it can and a liveness probe should not
// restart it for that; alert on the status instead.
func healthHandler(ready *atomic.Bool, workDir string, minFree int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		h := health{Status: "ok", WorkDir: workDir, MinFreeBytes: minFree}
		space, err := activities.FreeSpace(workDir)
		switch {
		case err != nil:
			h.Status, h.Error = "degraded", err.Error()
		default:
			h.FreeBytes, h.TotalBytes = space.FreeBytes, space.TotalBytes
			if minFree > 0 && space.FreeBytes < uint64(minFree) {
				h.Status = "degraded"
			}
		}
		code := http.StatusOK
		if !ready.Load() {
			h.Status, code = "unavailable", http.StatusServiceUnavailable
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(h)
	})
}

// buildRevision is the VCS revision the binary was built from, for logs.
func buildRevision() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	rev, dirty := "", false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "dev"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return rev
}

// workerFlavors is the registry of flavors and trainers this worker runs:
// flavorflow's built-in ones and the linear model with its trainer
// ("linear": column y on every other column). Add your own flavor here.
func workerFlavors() (*flavor.Registry, error) {
	reg := flavor.Builtin()
	if err := reg.AddFlavor(linearmodel.Flavor{}); err != nil {
		return nil, err
	}
	if err := reg.AddTrainer(linearmodel.Trainer("y")); err != nil {
		return nil, err
	}
	return reg, nil
}
