package faults

import (
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/flavorflow/flavorflow/activities"
	"github.com/flavorflow/flavorflow/internal/testrig/faultproxy"
)

// TestSIGKILLAfterRegisterCommitted: the worker is killed while its
// model-versions/create is on the wire; the server then commits the version
// and the answer goes nowhere. A replacement worker must find that version
// (not make a second) and finish promptly: a step without a heartbeat
// timeout would wait out its whole start-to-close timeout first.
func TestSIGKILLAfterRegisterCommitted(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	held := make(chan struct{})
	release := make(chan struct{})
	r.px.SetRules(faultproxy.Rule{
		Method: http.MethodPost, Path: regexp.MustCompile(`/model-versions/create$`), Count: 1,
		Before: func(*http.Request) { close(held); <-release },
	})
	w := r.startWorker()
	p := r.start(r.prefix+"-0", request(r.prefix+"-m", "champion", 3, 1<<20))
	select {
	case <-held:
	case <-time.After(2 * time.Minute):
		t.Fatal("model-versions/create never reached the proxy")
	}
	if _, err := w.signal(syscall.SIGKILL, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	close(release) // the server commits for a worker that is gone
	killed := time.Now()
	r.startWorker()
	r.settle("kill during register", 2*time.Minute, []*pipeline{p}, func(add func(string, any)) {
		add("time from kill to completion", time.Since(killed).Round(time.Second))
	})
}

// TestSIGKILLWorker kills the worker binary with SIGKILL at random points —
// every other kill while an artifact upload is on the wire — and starts a
// replacement after each, while pipelines with large weights run. Then it
// audits the store: every pipeline completed with exactly one version whose
// bytes match its manifest, and no alias points at an unverified version.
func TestSIGKILLWorker(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	kills := pick(4, 50)
	weights := pick(int64(48<<20), int64(128<<20))
	concurrent := pick(2, 8)
	maxPipelines := pick(4, 30)

	r.px.SetUploadRate(64 << 20) // uploads last long enough to be hit
	var ps []*pipeline
	topUp := func() {
		running := 0
		for _, p := range ps {
			select {
			case <-p.done:
			default:
				running++
			}
		}
		for ; running < concurrent && len(ps) < maxPipelines; running++ {
			i := len(ps)
			ps = append(ps, r.start(fmt.Sprintf("%s-%d", r.prefix, i), request(fmt.Sprintf("%s-m%d", r.prefix, i), "champion", float64(i), weights)))
		}
	}
	topUp()
	midUpload, began := 0, time.Now()
	for k := range kills {
		w := r.startWorker()
		topUp()
		if k%2 == 0 {
			// Aim inside a file: wait (bounded) until an upload has sent a
			// random 1-32 MiB.
			after := (1 + r.rng.Int64N(32)) << 20
			_ = poll(10*time.Second, func() (bool, error) { return r.px.InFlightUploadBytes() > after, nil })
		} else {
			time.Sleep(300*time.Millisecond + time.Duration(r.rng.Int64N(int64(2700*time.Millisecond))))
		}
		if r.px.InFlightUploadBytes() > 0 {
			midUpload++
		}
		if _, err := w.signal(syscall.SIGKILL, 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	killPhase := time.Since(began)
	r.startWorker()
	r.settle("SIGKILL worker", pick(6*time.Minute, 15*time.Minute), ps, func(add func(string, any)) {
		var modelBytes int64
		for _, p := range ps {
			if p.err == nil {
				modelBytes += weights
			}
		}
		sent := r.px.Stats().UploadBytes
		add("SIGKILLs (of which mid-upload)", fmt.Sprintf("%d (%d)", kills, midUpload))
		add("kill phase / total", fmt.Sprintf("%s / %s", killPhase.Round(time.Second), time.Since(began).Round(time.Second)))
		add("weights per model", fmt.Sprintf("%d MiB", weights>>20))
		add("bytes uploaded / model bytes", fmt.Sprintf("%.1f MiB / %.1f MiB = %.2fx", mib(sent), mib(modelBytes), float64(sent)/float64(max(modelBytes, 1))))
	})
	if midUpload == 0 {
		t.Error("no kill landed mid-upload: the resume path was not exercised")
	}
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// TestCrashLoopInOneStep: the worker is killed (SIGKILL) six times, each
// time while SaveModel is writing a fresh copy of the model, and a new
// worker replaces it. A step bounded by a count of attempts (5) failed the
// pipeline here; bounded by time, it completes, and each kill costs about
// the heartbeat timeout plus the retry backoff, not half a minute.
func TestCrashLoopInOneStep(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	const kills = 6
	id := r.prefix + "-0"
	work := filepath.Join(r.dir, "work", id)
	seen := map[string]bool{}
	var p *pipeline
	// newSave waits for a temporary save directory no earlier attempt made:
	// an attempt of SaveModel is writing the model.
	newSave := func() error {
		return poll(2*time.Minute, func() (bool, error) {
			select {
			case <-p.done:
				return false, fmt.Errorf("the pipeline ended: %v", p.err)
			default:
			}
			dirs, _ := filepath.Glob(filepath.Join(work, activities.TmpSavePrefix+"*"))
			for _, d := range dirs {
				if !seen[d] {
					seen[d] = true
					return true, nil
				}
			}
			return false, nil
		})
	}
	began := time.Now()
	p = r.start(id, request(r.prefix+"-m", "champion", 5, 256<<20))
	for k := range kills {
		w := r.startWorker()
		if err := newSave(); err != nil {
			t.Fatalf("kill %d: no new SaveModel attempt: %v", k+1, err)
		}
		if _, err := w.signal(syscall.SIGKILL, 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	r.startWorker()
	r.wait(10*time.Minute, p)
	if p.err != nil {
		t.Fatalf("the pipeline failed after %d kills in SaveModel: %v", kills, p.err)
	}
	if n := r.scanLogs(fmt.Sprintf("activity=SaveModel attempt=%d", kills+1)); n == 0 {
		t.Errorf("no SaveModel attempt %d in the worker logs: the kills did not land in one step", kills+1)
	}
	t.Logf("%d SIGKILLs during SaveModel; completed %s after the start", kills, time.Since(began).Round(time.Second))
}
