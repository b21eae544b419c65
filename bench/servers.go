package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"

	"go.temporal.io/sdk/temporal"

	"github.com/flavorflow/flavorflow/workflows"
)

// tool finds a venv tool, then PATH.
func tool(root, name string) (string, error) {
	if p := filepath.Join(root, ".venv", "bin", name); fileExists(p) {
		return p, nil
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%s not found: run `make venv`", name)
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// mlflowWorkerHealthcheck is how long uvicorn's supervisor waits for a
// multi-worker MLflow server's worker to answer before killing it.
const mlflowWorkerHealthcheck = 60 * time.Second

// mlflowServer is `mlflow server --serve-artifacts` on a loopback port.
type mlflowServer struct {
	URL          string
	ArtifactsDir string
	cmd          *exec.Cmd
}

// startMLflow starts a server with a SQLite backend in dir, or backendURI
// when set (PostgreSQL for bench-scale), with workers uvicorn workers; its
// artifacts go to dir/artifacts, or to artifacts when set (an s3:// URI for
// bench-scale, with MLFLOW_S3_ENDPOINT_URL in the environment). A
// free port can be taken by another process before the server binds it, so
// it tries up to three ports.
func startMLflow(root, dir, backendURI, artifacts string, workers int) (*mlflowServer, error) {
	var err error
	for range 3 {
		var m *mlflowServer
		if m, err = startMLflowOnce(root, dir, backendURI, artifacts, workers); err == nil {
			return m, nil
		}
		if !strings.Contains(err.Error(), "address already in use") {
			return nil, err
		}
	}
	return nil, err
}

func startMLflowOnce(root, dir, backendURI, artifacts string, workers int) (*mlflowServer, error) {
	bin, err := tool(root, "mlflow")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	if backendURI == "" {
		backendURI = "sqlite:///" + filepath.Join(dir, "mlflow.db")
	}
	m := &mlflowServer{URL: "http://127.0.0.1:" + strconv.Itoa(port), ArtifactsDir: filepath.Join(dir, "artifacts")}
	if artifacts != "" {
		m.ArtifactsDir = artifacts // not a local path: the clean-ups between sizes find nothing to remove
	}
	logf, err := os.Create(filepath.Join(dir, "mlflow.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	args := []string{"server", "--backend-store-uri", backendURI,
		"--artifacts-destination", m.ArtifactsDir, "--serve-artifacts",
		"--host", "127.0.0.1", "--port", strconv.Itoa(port), "--workers", strconv.Itoa(workers)}
	if workers > 1 {
		// With several workers uvicorn's supervisor SIGKILLs a worker
		// that misses a 5 s health check; on 2 cores under the scale
		// benchmark's load that kills busy workers mid-response, and both
		// sides see dropped connections. The benchmark measures the
		// clients, not the supervisor: give workers a minute.
		args = append(args, "--uvicorn-opts", "--timeout-worker-healthcheck "+strconv.Itoa(int(mlflowWorkerHealthcheck/time.Second)))
	}
	m.cmd = exec.Command(bin, args...)
	m.cmd.Dir = dir
	m.cmd.Env = append(os.Environ(), "MLFLOW_DISABLE_TELEMETRY=true", "MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false")
	m.cmd.Stdout, m.cmd.Stderr = logf, logf
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := m.cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- m.cmd.Wait() }()
	if err := waitHTTP(m.URL+"/health", 120*time.Second, exited); err != nil {
		m.Stop()
		log, _ := os.ReadFile(logf.Name())
		return nil, fmt.Errorf("mlflow server: %w\n--- log ---\n%s", err, tail(string(log), 3000))
	}
	return m, nil
}

// waitHTTP polls url until it answers 200, the process exits or timeout.
func waitHTTP(url string, timeout time.Duration, exited <-chan error) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-exited:
			return fmt.Errorf("exited before answering %s: %v", url, err)
		case <-ctx.Done():
			return errors.New("no answer from " + url + " after " + timeout.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Stop kills the server's process group (uvicorn workers included).
func (m *mlflowServer) Stop() { killGroup(m.cmd) }

func killGroup(cmd *exec.Cmd) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	pgid := cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	for i := 0; i < 100 && syscall.Kill(-pgid, 0) == nil; i++ {
		time.Sleep(50 * time.Millisecond)
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

// devServer is `temporal server start-dev` (in memory) with flavorflow's
// search attributes and eager activity execution.
type devServer struct {
	srv      *testsuite.DevServer
	HostPort string
}

// startTemporal starts the dev server, on up to three ports (see startMLflow).
func startTemporal(root, dir string) (*devServer, error) {
	var err error
	for range 3 {
		var d *devServer
		if d, err = startTemporalOnce(root, dir); err == nil {
			return d, nil
		}
	}
	return nil, err
}

func startTemporalOnce(root, dir string) (*devServer, error) {
	bin, err := tool(root, "temporal")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "temporal.log"))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	srv, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{
		ExistingPath:     bin,
		ClientOptions:    &client.Options{HostPort: "127.0.0.1:" + strconv.Itoa(port), Logger: quietLogger{}},
		SearchAttributes: temporal.NewSearchAttributes(workflows.ModelNameKey.ValueSet(""), workflows.StageKey.ValueSet(""), workflows.ModelVersionKey.ValueSet(0)),
		LogLevel:         "error",
		Stdout:           logf,
		Stderr:           logf,
		ExtraArgs:        []string{"--dynamic-config-value", "system.enableActivityEagerExecution=true"},
	})
	if err != nil {
		return nil, fmt.Errorf("temporal dev server: %w", err)
	}
	return &devServer{srv: srv, HostPort: srv.FrontendHostPort()}, nil
}

func (d *devServer) Stop() {
	if d != nil && d.srv != nil {
		_ = d.srv.Stop()
	}
}

// quietLogger drops the SDK's per-call logs.
type quietLogger struct{}

func (quietLogger) Debug(string, ...any) {}
func (quietLogger) Info(string, ...any)  {}
func (quietLogger) Warn(string, ...any)  {}
func (quietLogger) Error(string, ...any) {}
