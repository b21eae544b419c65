package localstore_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flavorflow/flavorflow/store"
	"github.com/flavorflow/flavorflow/store/localstore"
)

// Temp files left by uploads killed mid-write (tmpfiles.go).

// createModel creates an experiment and a PENDING logged model in the store
// in dir and returns the model with the directory behind its artifact URI.
func createModel(t *testing.T, st store.Store, dir string) (*store.LoggedModel, string) {
	t.Helper()
	ctx := context.Background()
	exp, err := st.CreateExperiment(ctx, "exp", nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.CreateLoggedModel(ctx, store.CreateLoggedModelRequest{ExperimentID: exp, Name: "m"})
	if err != nil {
		t.Fatal(err)
	}
	return m, filepath.Join(dir, "artifacts", filepath.FromSlash(strings.TrimPrefix(m.ArtifactURI, "mlflow-artifacts:/")))
}

// plantDeadTemp writes a temp file named as PutArtifact names them, not
// locked by anyone: what a writer killed before its rename leaves.
func plantDeadTemp(t *testing.T, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, ".tmp-ef1bf78e0123456789abcdef01234567")
	if err := os.WriteFile(p, make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustGone(t *testing.T, p string) {
	t.Helper()
	if _, err := os.Lstat(p); !os.IsNotExist(err) {
		t.Errorf("%s: still there (err %v), want removed", p, err)
	}
}

func mustExist(t *testing.T, p string) {
	t.Helper()
	if _, err := os.Lstat(p); err != nil {
		t.Errorf("%s: %v, want it kept", p, err)
	}
}

func TestFinalizeRemovesDeadTemps(t *testing.T) {
	for _, status := range []store.LoggedModelStatus{store.LoggedModelReady, store.LoggedModelUploadFailed} {
		t.Run(string(status), func(t *testing.T) {
			dir := t.TempDir()
			s := open(t, dir)
			ctx := context.Background()
			m, mdir := createModel(t, s, dir)
			if err := s.PutArtifact(ctx, m.ArtifactURI, "weights.bin", src([]byte("weights"))); err != nil {
				t.Fatal(err)
			}
			if err := s.PutArtifact(ctx, m.ArtifactURI, "data/part.bin", src([]byte("part"))); err != nil {
				t.Fatal(err)
			}
			top := plantDeadTemp(t, mdir)
			sub := plantDeadTemp(t, filepath.Join(mdir, "data"))
			if _, err := s.FinalizeLoggedModel(ctx, m.ID, status); err != nil {
				t.Fatal(err)
			}
			mustGone(t, top)
			mustGone(t, sub)
			mustExist(t, filepath.Join(mdir, "weights.bin"))
			mustExist(t, filepath.Join(mdir, "data", "part.bin"))
		})
	}
}

func TestPutRemovesDeadTemps(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	m, mdir := createModel(t, s, dir)
	stale := plantDeadTemp(t, mdir)
	if err := s.PutArtifact(context.Background(), m.ArtifactURI, "weights.bin", src([]byte("weights"))); err != nil {
		t.Fatal(err)
	}
	mustGone(t, stale)
	if b, err := os.ReadFile(filepath.Join(mdir, "weights.bin")); err != nil || string(b) != "weights" {
		t.Errorf("weights.bin = %q, %v", b, err)
	}
}

// blockingSource yields half of data, reports on started, then waits for
// release before yielding the rest: an upload caught mid-write.
func blockingSource(data []byte, started chan<- struct{}, release <-chan struct{}) store.Source {
	sum := sha256.Sum256(data)
	return store.Source{
		Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:]),
		Open: func() (io.ReadCloser, error) {
			return io.NopCloser(&blockingReader{data: data, started: started, release: release}), nil
		},
	}
}

type blockingReader struct {
	data     []byte
	off      int
	started  chan<- struct{}
	release  <-chan struct{}
	released bool
}

func (r *blockingReader) Read(b []byte) (int, error) {
	half := len(r.data) / 2
	if r.off == half && !r.released {
		// io.Copy has written the first half to the temp file by now.
		close(r.started)
		<-r.release
		r.released = true
	}
	if r.off >= len(r.data) {
		return 0, io.EOF
	}
	end := len(r.data)
	if !r.released {
		end = half
	}
	n := copy(b, r.data[r.off:end])
	r.off += n
	return n, nil
}

func tempsIn(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out
}

// A live writer's temp file must survive both sweeps: a zombie attempt still
// uploading when another attempt puts files into the same directory and
// finalizes the model completes its put instead of failing with NotFound.
func TestLiveWriterTempSurvivesSweeps(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	// A second Store on the same directory stands for another worker process.
	other := open(t, dir)
	ctx := context.Background()
	m, mdir := createModel(t, s, dir)
	data := []byte(strings.Repeat("0123456789abcdef", 64<<10))
	started, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.PutArtifact(ctx, m.ArtifactURI, "weights.bin", blockingSource(data, started, release))
	}()
	select {
	case <-started:
	case err := <-done:
		t.Fatalf("put finished before blocking: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("the upload never started")
	}
	live := tempsIn(t, mdir)
	if len(live) != 1 {
		t.Fatalf("temp files while writing: %v, want one", live)
	}
	for _, st := range []*localstore.Store{s, other} {
		if err := st.PutArtifact(ctx, m.ArtifactURI, "MLmodel", src([]byte("ml"))); err != nil {
			t.Fatal(err)
		}
		if _, err := st.FinalizeLoggedModel(ctx, m.ID, store.LoggedModelReady); err != nil {
			t.Fatal(err)
		}
		mustExist(t, live[0])
	}
	close(release)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the live put failed after the sweeps: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the live put did not finish")
	}
	if b, err := os.ReadFile(filepath.Join(mdir, "weights.bin")); err != nil || string(b) != string(data) {
		t.Errorf("weights.bin: %d bytes, %v; want %d bytes", len(b), err, len(data))
	}
	if left := tempsIn(t, mdir); len(left) != 0 {
		t.Errorf("temp files left: %v", left)
	}
}

// Environment of the helper process started by TestKilledWriterTempRemoved.
const (
	envKillDir = "FLAVORFLOW_LOCALSTORE_KILL_DIR"
	envKillURI = "FLAVORFLOW_LOCALSTORE_KILL_URI"
)

// TestHelperKilledWriter is not a test: it is a worker process that starts
// an upload, says so, and blocks mid-write until it is killed.
func TestHelperKilledWriter(t *testing.T) {
	dir := os.Getenv(envKillDir)
	if dir == "" {
		t.Skip("helper process only")
	}
	s := open(t, dir)
	started := make(chan struct{})
	go func() {
		<-started
		os.Stdout.WriteString("writing\n")
	}()
	// release is never closed: the process is killed while blocked.
	err := s.PutArtifact(context.Background(), os.Getenv(envKillURI), "weights.bin",
		blockingSource(make([]byte, 1<<20), started, make(chan struct{})))
	t.Fatalf("put returned %v; it should block until killed", err)
}

// A worker SIGKILLed during the upload leaves its temp file, and the model,
// finalized by the restarted worker, must not keep it.
func TestKilledWriterTempRemoved(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a subprocess")
	}
	dir := t.TempDir()
	s := open(t, dir)
	ctx := context.Background()
	m, mdir := createModel(t, s, dir)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperKilledWriter$", "-test.count=1")
	cmd.Env = append(os.Environ(), envKillDir+"="+dir, envKillURI+"="+m.ArtifactURI)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "writing\n" {
		t.Fatalf("helper said %q, %v", line, err)
	}
	leaked := tempsIn(t, mdir)
	if len(leaked) != 1 {
		t.Fatalf("temp files while the helper writes: %v, want one", leaked)
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	_ = cmd.Wait()
	mustExist(t, leaked[0]) // what the probe found
	// The restarted worker uploads again and finalizes.
	if err := s.PutArtifact(ctx, m.ArtifactURI, "weights.bin", src(make([]byte, 1<<20))); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FinalizeLoggedModel(ctx, m.ID, store.LoggedModelReady); err != nil {
		t.Fatal(err)
	}
	if left := tempsIn(t, mdir); len(left) != 0 {
		t.Errorf("temp files left after the killed upload: %v", left)
	}
}
