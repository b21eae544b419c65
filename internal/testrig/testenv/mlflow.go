package testenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// MLflowOptions configures StartMLflow.
type MLflowOptions struct {
	BasicAuth     bool   // run with --app-name basic-auth
	AdminUser     string // default "admin"
	AdminPassword string // default a fixed test password
	ExtraArgs     []string
	// S3Endpoint and S3Bucket, when set, keep the artifacts in that bucket
	// of an S3 API (S3.MLflowOptions, or a proxy in front of it) instead
	// of a local directory; the proxy then supports multipart upload.
	S3Endpoint string
	S3Bucket   string
}

// MLflow is a running `mlflow server` on a loopback port.
type MLflow struct {
	URL           string // http://127.0.0.1:<port>, no trailing slash
	ArtifactsDir  string
	DBPath        string
	AdminUser     string // set with BasicAuth
	AdminPassword string
	LogPath       string

	cmd      *exec.Cmd
	stopOnce sync.Once
}

const mlflowStartTimeout = 90 * time.Second

// StartMLflow starts a dedicated server for t and stops it when t ends.
// A cold start takes about 8 s (imports and migrations), so packages with
// many tests should share one through SharedMLflow.
func StartMLflow(t testing.TB, opts MLflowOptions) *MLflow {
	t.Helper()
	bin := Binary(t, "FLAVORFLOW_MLFLOW", "mlflow")
	m, err := startMLflowOnFreePort(t, bin, t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		m.Stop()
		if t.Failed() {
			m.dumpLog(t)
		}
	})
	return m
}

// startMLflowOnFreePort starts the server on a port FreePort picks. That port
// can be taken before the server binds it (tests run in parallel, and every
// dev server and MLflow server opens ports of its own); the server then
// exits with "address already in use", and another port is tried, up to
// three in all.
func startMLflowOnFreePort(t testing.TB, bin, dir string, opts MLflowOptions) (*MLflow, error) {
	var err error
	for range 3 {
		var m *MLflow
		if m, err = startMLflow(bin, dir, FreePort(t), opts); err == nil || !strings.Contains(err.Error(), "address already in use") {
			return m, err
		}
		t.Logf("mlflow server: the port was taken; trying another")
	}
	return nil, err
}

func startMLflow(bin, dir string, port int, opts MLflowOptions) (*MLflow, error) {
	m := &MLflow{
		URL:          "http://127.0.0.1:" + strconv.Itoa(port),
		ArtifactsDir: filepath.Join(dir, "artifacts"),
		DBPath:       filepath.Join(dir, "mlflow.db"),
		LogPath:      filepath.Join(dir, "mlflow.log"),
	}
	// A copy of an already migrated empty DB skips alembic (seconds).
	if cached := migratedDB.get(); cached != "" {
		if err := copyFile(cached, m.DBPath); err != nil {
			return nil, err
		}
	}
	if opts.S3Endpoint != "" {
		// Its own prefix: servers may share a bucket.
		m.ArtifactsDir = "s3://" + opts.S3Bucket + "/" + filepath.Base(dir) + "-" + strconv.Itoa(port)
	}
	args := []string{"server",
		"--backend-store-uri", "sqlite:///" + m.DBPath,
		"--artifacts-destination", m.ArtifactsDir, "--serve-artifacts",
		"--host", "127.0.0.1", "--port", strconv.Itoa(port), "--workers", "1"}
	env := append(os.Environ(),
		"MLFLOW_DISABLE_TELEMETRY=true",
		// The job runner and its huey consumers add processes and start-up
		// time that no test needs.
		"MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false")
	if opts.S3Endpoint != "" {
		env = append(env, s3Env(opts.S3Endpoint)...)
	}
	if opts.BasicAuth {
		m.AdminUser, m.AdminPassword = opts.AdminUser, opts.AdminPassword
		if m.AdminUser == "" {
			m.AdminUser = "admin"
		}
		if m.AdminPassword == "" {
			m.AdminPassword = "flavorflow-test-Passw0rd"
		}
		ini := filepath.Join(dir, "basic_auth.ini")
		cfg := fmt.Sprintf("[mlflow]\ndefault_permission = READ\ndatabase_uri = sqlite:///%s\nadmin_username = %s\nadmin_password = %s\nauthorization_function = mlflow.server.auth:authenticate_request_basic_auth\n",
			filepath.Join(dir, "auth.db"), m.AdminUser, m.AdminPassword)
		if err := os.WriteFile(ini, []byte(cfg), 0o600); err != nil {
			return nil, err
		}
		args = append(args, "--app-name", "basic-auth")
		// 3.17 needs a Flask secret for CSRF in the auth app, and reads
		// the admin from the ini; env overrides would beat the ini.
		env = append(env, "MLFLOW_AUTH_CONFIG_PATH="+ini, "MLFLOW_FLASK_SERVER_SECRET_KEY=flavorflow-test-secret",
			"MLFLOW_AUTH_ADMIN_USERNAME="+m.AdminUser, "MLFLOW_AUTH_ADMIN_PASSWORD="+m.AdminPassword)
	}
	args = append(args, opts.ExtraArgs...)
	logf, err := os.Create(m.LogPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	m.cmd = exec.Command(bin, args...)
	m.cmd.Dir = dir
	m.cmd.Env = env
	m.cmd.Stdout, m.cmd.Stderr = logf, logf
	// Own process group: mlflow forks uvicorn, and Stop kills them all.
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := m.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	if err := waitHealthy(m.URL, WatchExit(m.cmd)); err != nil {
		m.Stop()
		log, _ := os.ReadFile(m.LogPath)
		return nil, fmt.Errorf("mlflow server at %s: %w\n--- server log ---\n%s", m.URL, err, tail(log, 8000))
	}
	migratedDB.offer(m.DBPath)
	return m, nil
}

// migratedDB caches, per test process, a copy of the first server's DB
// taken right after it became healthy: migrated, and still empty because no
// test has used the server yet.
var migratedDB dbCache

type dbCache struct {
	sync.Mutex
	path string
}

func (c *dbCache) get() string {
	c.Lock()
	defer c.Unlock()
	return c.path
}

func (c *dbCache) offer(db string) {
	c.Lock()
	defer c.Unlock()
	if c.path != "" {
		return
	}
	dir, err := os.MkdirTemp("", "flavorflow-mlflow-db-")
	if err != nil {
		return
	}
	dst := filepath.Join(dir, "mlflow.db")
	if copyFile(db, dst) == nil {
		// Not shared.dirs: SharedMLflow holds shared's lock while it
		// starts a server, so taking it here would deadlock.
		c.path = dst
	}
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func waitHealthy(base string, exited *Exit) error {
	ctx, cancel := context.WithTimeout(context.Background(), mlflowStartTimeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/health", nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-exited.Done:
			return fmt.Errorf("exited before becoming healthy: %v", exited.Err())
		case <-ctx.Done():
			return errors.New("not healthy after " + mlflowStartTimeout.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Stop kills the server's process group. It is safe to call twice.
func (m *MLflow) Stop() {
	m.stopOnce.Do(func() {
		if m.cmd == nil || m.cmd.Process == nil {
			return
		}
		pgid := m.cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) && syscall.Kill(-pgid, 0) == nil {
			time.Sleep(50 * time.Millisecond)
		}
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	})
}

func (m *MLflow) dumpLog(t testing.TB) {
	log, err := os.ReadFile(m.LogPath)
	if err == nil {
		t.Logf("--- mlflow server log (%s) ---\n%s", m.LogPath, tail(log, 16000))
	}
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// Shared servers: one per options value per test binary, started on first
// use and stopped by RunWithMLflow after the package's tests.
var shared struct {
	sync.Mutex
	enabled bool
	servers map[string]*MLflow
	dirs    []string
}

// RunWithMLflow is for TestMain: it runs the tests and then stops the
// servers SharedMLflow started.
//
//	func TestMain(m *testing.M) { os.Exit(testenv.RunWithMLflow(m)) }
func RunWithMLflow(m *testing.M) int {
	shared.Lock()
	shared.enabled = true
	shared.Unlock()
	code := m.Run()
	shared.Lock()
	defer shared.Unlock()
	for _, s := range shared.servers {
		s.Stop()
	}
	for _, d := range shared.dirs {
		os.RemoveAll(d)
	}
	stopSharedS3()
	if db := migratedDB.get(); db != "" {
		os.RemoveAll(filepath.Dir(db))
	}
	return code
}

// SharedMLflow returns the package's shared server for opts, starting it on
// first use. Tests sharing it must use unique names (experiments, models).
// It requires TestMain to call RunWithMLflow, so servers never outlive the
// test binary.
func SharedMLflow(t testing.TB, opts MLflowOptions) *MLflow {
	t.Helper()
	bin := Binary(t, "FLAVORFLOW_MLFLOW", "mlflow")
	shared.Lock()
	defer shared.Unlock()
	if !shared.enabled {
		t.Fatal("SharedMLflow needs TestMain to call testenv.RunWithMLflow")
	}
	key := fmt.Sprintf("%v", opts)
	if m := shared.servers[key]; m != nil {
		return m
	}
	dir, err := os.MkdirTemp("", "flavorflow-mlflow-")
	if err != nil {
		t.Fatal(err)
	}
	shared.dirs = append(shared.dirs, dir)
	m, err := startMLflowOnFreePort(t, bin, dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if shared.servers == nil {
		shared.servers = map[string]*MLflow{}
	}
	shared.servers[key] = m
	return m
}
