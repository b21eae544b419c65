package faults

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/flavorflow/flavorflow/flavor"
	"github.com/flavorflow/flavorflow/internal/testrig/faultproxy"
)

// TestHalfWrittenSaveOnAnotherWorker: two workers with their own work
// directories. Worker B was killed during an earlier SaveModel attempt while
// it wrote the weights (model.json written, .tmp-weights.bin-* part way);
// the retry saved on worker A; A is killed while LogModel is on the wire, and
// the retry of LogModel lands on B. B must take its half-written directory
// for damaged and re-save it: before, it took it as saved and the pipeline
// failed for good with InvalidManifest and no version.
func TestHalfWrittenSaveOnAnotherWorker(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	id := r.prefix + "-0"
	workA, workB := filepath.Join(r.dir, "work-a"), filepath.Join(r.dir, "work-b")
	held, release := make(chan struct{}), make(chan struct{})
	// runs/search is LogModel's first call that SaveModel never makes.
	r.px.SetRules(faultproxy.Rule{
		Method: http.MethodPost, Path: regexp.MustCompile(`/runs/search$`), Count: 1,
		Before: func(*http.Request) { close(held); <-release },
	})
	a := r.startWorkerEnv("FLAVORFLOW_WORK_DIR=" + workA)
	p := r.start(id, request(r.prefix+"-m", "champion", 2, 16<<20))
	select {
	case <-held:
	case <-time.After(2 * time.Minute):
		t.Fatal("LogModel never reached the proxy")
	}
	if _, err := a.signal(syscall.SIGKILL, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	close(release)

	data, err := os.ReadFile(filepath.Join(workA, id, "model", flavor.DataFile))
	if err != nil {
		t.Fatal(err)
	}
	half := filepath.Join(workB, id, "model")
	if err := os.MkdirAll(half, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(half, flavor.DataFile), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(half, ".tmp-"+flavor.WeightsFile+"-1234567"), make([]byte, 3<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	r.startWorkerEnv("FLAVORFLOW_WORK_DIR=" + workB)
	r.wait(5*time.Minute, p)
	if p.err != nil {
		t.Fatalf("the pipeline failed on the worker with the half-written save: %v", p.err)
	}
	if p.res.Version != 1 {
		t.Errorf("version %d, want 1", p.res.Version)
	}
	if r.scanLogs("incomplete or damaged; re-saving") == 0 {
		t.Error("worker B did not re-save its half-written directory")
	}
}
