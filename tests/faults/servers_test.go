package faults

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	failurepb "go.temporal.io/api/failure/v1"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/internal/testrig/faultproxy"
	"github.com/flavorflow/flavorflow/internal/testrig/testenv"
	"github.com/flavorflow/flavorflow/store"
	"github.com/flavorflow/flavorflow/vocab"
)

// waitUpload waits (bounded) until an artifact upload is on the wire.
func (r *rig) waitUpload(within time.Duration) {
	r.t.Helper()
	if err := poll(within, func() (bool, error) { return r.px.UploadsInFlight() > 0, nil }); err != nil {
		r.t.Fatalf("no upload started: %v", err)
	}
}

// TestMLflowOutage: MLflow goes away mid-upload — first every request hangs
// (the proxy holds them), then every connection is refused — for 30 s in
// all. The pipeline completes once it is back, with one version.
func TestMLflowOutage(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	r.startWorker()
	p := r.start(r.prefix+"-0", request(r.prefix+"-m", "champion", 3, pick(int64(16<<20), int64(64<<20))))
	r.waitUpload(2 * time.Minute)
	outage := 30 * time.Second
	began := time.Now()
	r.px.Pause()
	time.Sleep(outage / 2)
	r.px.SetRules(faultproxy.Rule{Action: faultproxy.Refuse})
	r.px.Resume()
	time.Sleep(outage / 2)
	r.px.SetRules()
	back := time.Now()
	r.settle("MLflow outage", 5*time.Minute, []*pipeline{p}, func(add func(string, any)) {
		add("outage (hang, then refuse)", back.Sub(began).Round(time.Second))
		add("completed after MLflow returned", time.Since(back).Round(time.Second))
	})
}

// TestTemporalRestart: the Temporal dev server is stopped mid-upload and
// started again on its database file and port. The worker reconnects and
// the pipeline completes with one version.
func TestTemporalRestart(t *testing.T) {
	t.Parallel()
	opts := testenv.TemporalOptions{DBFile: filepath.Join(t.TempDir(), "temporal.db"), Port: testenv.FreePort(t)}
	r := newRig(t, rigOptions{temporal: opts})
	r.startWorker()
	p := r.start(r.prefix+"-0", request(r.prefix+"-m", "champion", 3, pick(int64(16<<20), int64(64<<20))))
	r.waitUpload(2 * time.Minute)
	began := time.Now()
	r.tp.Stop(t)
	time.Sleep(pick(5*time.Second, 15*time.Second))
	r.tp = testenv.StartTemporal(t, opts)
	back := time.Now()
	r.settle("Temporal restart", 5*time.Minute, []*pipeline{r.reattach(p)}, func(add func(string, any)) {
		add("server down (stop to ready)", back.Sub(began).Round(time.Second))
		add("completed after restart", time.Since(back).Round(time.Second))
	})
}

// reattach follows a pipeline through the rig's current Temporal client.
func (r *rig) reattach(p *pipeline) *pipeline {
	np := &pipeline{id: p.id, model: p.model, alias: p.alias, done: make(chan struct{})}
	np.run = r.tp.Client.GetWorkflow(context.Background(), p.id, "")
	go func() {
		defer close(np.done)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
		defer cancel()
		np.err = np.run.Get(ctx, &np.res)
	}()
	return np
}

// TestSIGTERMWorker: the worker gets SIGTERM while a throttled upload is
// on the wire. With a stop timeout longer than the upload it finishes the
// activity before exiting; with a shorter one it cancels the activity and
// hands it back, and a replacement worker resumes it. Either way it exits
// with status 0 within its stop timeout (plus slack) and the pipeline ends
// with one version.
func TestSIGTERMWorker(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name        string
		stopTimeout time.Duration
		finishes    bool // the stopping worker completes the upload itself
	}{
		{"finishes", 30 * time.Second, true},
		{"hands back", time.Second, false},
	} {
		t.Run(strings.ReplaceAll(c.name, " ", "-"), func(t *testing.T) {
			r := newRig(t, rigOptions{stopTimeout: c.stopTimeout})
			r.px.SetUploadRate(16 << 20) // 32 MiB of weights take 2 s
			w := r.startWorker()
			p := r.start(r.prefix+"-0", request(r.prefix+"-m", "champion", 3, 32<<20))
			if err := poll(2*time.Minute, func() (bool, error) { return r.px.InFlightUploadBytes() > 4<<20, nil }); err != nil {
				t.Fatalf("no upload under way: %v", err)
			}
			began := time.Now()
			took, err := w.signal(syscall.SIGTERM, c.stopTimeout+20*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			r.px.SetUploadRate(0)
			if w.err != nil {
				t.Errorf("worker exited with %v after SIGTERM, want status 0\n%s", w.err, readTail(w.log))
			}
			if log := readTail(w.log); !strings.Contains(log, "worker stopped") {
				t.Errorf("worker log has no \"worker stopped\" line:\n%s", log)
			}
			r.startWorker()
			r.settle("SIGTERM, "+c.name, 5*time.Minute, []*pipeline{p}, func(add func(string, any)) {
				retried := r.scanLogs("activity=LogModel attempt=2")
				add("worker exit after SIGTERM (stop timeout)", fmt.Sprintf("%s (%s)", took.Round(100*time.Millisecond), c.stopTimeout))
				add("LogModel attempts after the first", retried)
				add("pipeline completed after SIGTERM", time.Since(began).Round(time.Second))
				if c.finishes && retried != 0 {
					t.Errorf("the stopping worker had %s to finish the upload but LogModel was retried", c.stopTimeout)
				}
				if !c.finishes && retried == 0 {
					t.Errorf("the activity was not handed back: no second LogModel attempt")
				}
				// Handed back cleanly means reported: the retried attempt's
				// last failure is the worker's own "handed back" failure, not
				// a heartbeat timeout the server had to wait out.
				if !c.finishes {
					if lf := r.lastFailureOf(p.id, "LogModel"); lf == nil || lf.GetTimeoutFailureInfo() != nil ||
						!strings.Contains(lf.GetMessage(), "handed back") {
						t.Errorf("LogModel's retry followed %v, want the stopping worker's reported hand-back (not a timeout)", lf)
					}
				}
			})
		})
	}
}

// TestCorruptedArtifactOnMLflowServer: a byte of a logged model's weights
// is flipped in the server's --artifacts-destination after upload and
// before verification. Verification fails with ChecksumMismatch, the alias
// stays on the earlier version and the corrupt version is never tagged
// verified.
func TestCorruptedArtifactOnMLflowServer(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	r.startWorker()
	model := r.prefix + "-m"
	first := r.start(r.prefix+"-0", request(model, "champion", 3, 1<<20))
	r.wait(3*time.Minute, first)
	if first.err != nil {
		t.Fatalf("first pipeline: %v", first.err)
	}
	second := r.prefix + "-1"
	flips := make(chan string, 1)
	r.px.SetRules(faultproxy.Rule{
		Method: http.MethodPost, Path: regexp.MustCompile(`/model-versions/create$`), Count: 1,
		Before: func(*http.Request) { flips <- r.flipStoredByte(second, "weights.bin") },
	})
	p := r.start(second, request(model, "champion", 4, 1<<20))
	r.wait(3*time.Minute, p)
	r.checkCorruptRefused("corrupt MLflow artifact", model, p, first.res.Version, flips)
}

// checkCorruptRefused checks what pipeline p, whose stored bytes were
// damaged before verification (flipped carries the damaged file's path),
// must leave behind: it failed with ChecksumMismatch, the alias is still on
// champion, it registered exactly one version and that version is not
// tagged verified. It reports the scenario's figures and returns the path
// and the pipeline's version for the caller's own checks.
func (r *rig) checkCorruptRefused(scenario, model string, p *pipeline, champion int, flipped <-chan string) (string, store.ModelVersion) {
	t := r.t
	t.Helper()
	var path string
	select {
	case path = <-flipped:
	default:
	}
	if path == "" {
		t.Fatalf("nothing was corrupted (pipeline: %v)", p.err)
	}
	if got := errorType(p.err); got != string(failure.ChecksumMismatch) {
		t.Fatalf("second pipeline: %v, want ChecksumMismatch", p.err)
	}
	ctx := context.Background()
	mv, err := r.direct.GetModelVersionByAlias(ctx, model, "champion")
	if err != nil || mv.Version != champion {
		t.Fatalf("alias after the corrupt pipeline: %v %v, want version %d", mv, err, champion)
	}
	mvs, err := r.direct.SearchModelVersions(ctx, model, vocab.TagWorkflowID, p.id)
	if err != nil || len(mvs) != 1 {
		t.Fatalf("versions of the corrupt pipeline: %v %v, want one", versionNumbers(mvs), err)
	}
	if mvs[0].Tags[vocab.TagVerified] != "" {
		t.Errorf("corrupt version %d is tagged verified", mvs[0].Version)
	}
	var tb table
	tb.add(scenario, "byte flipped in", strings.TrimPrefix(path, r.ml.ArtifactsDir+"/"))
	tb.add(scenario, "pipeline error", errorType(p.err))
	tb.add(scenario, "alias moved", mv.Version != champion)
	report(t, tb)
	return path, mvs[0]
}

// storedModelDir is the directory in which the MLflow server stores the
// workflow's logged model ("" after reporting an error).
func (r *rig) storedModelDir(wfID string) string {
	ctx := context.Background()
	exp, err := r.direct.GetExperimentByName(ctx, r.experiment)
	if err != nil {
		r.t.Errorf("experiment: %v", err)
		return ""
	}
	lms, err := r.direct.SearchLoggedModelsByTag(ctx, exp.ID, vocab.TagWorkflowID, wfID)
	if err != nil || len(lms) != 1 {
		r.t.Errorf("logged models of %s: %v %v", wfID, lms, err)
		return ""
	}
	rel, ok := strings.CutPrefix(lms[0].ArtifactURI, "mlflow-artifacts:/")
	if !ok {
		r.t.Errorf("artifact URI %q is not served by the server", lms[0].ArtifactURI)
		return ""
	}
	return filepath.Join(r.ml.ArtifactsDir, filepath.FromSlash(strings.TrimLeft(rel, "/")))
}

// flipStoredByte flips the middle byte of file in the workflow's logged
// model as the MLflow server stores it, and returns the path.
func (r *rig) flipStoredByte(wfID, file string) string {
	dir := r.storedModelDir(wfID)
	if dir == "" {
		return ""
	}
	path := filepath.Join(dir, file)
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 {
		r.t.Errorf("read %s: %v", path, err)
		return ""
	}
	b[len(b)/2] ^= 0x01
	if err := os.WriteFile(path, b, 0o644); err != nil {
		r.t.Errorf("write %s: %v", path, err)
		return ""
	}
	return path
}

// lastFailureOf is the failure that ended the attempt before the last one of
// the workflow's activity of type name (nil when it ran once). The server
// records retried attempts only on the final ActivityTaskStarted event.
func (r *rig) lastFailureOf(workflowID, name string) *failurepb.Failure {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	it := r.tp.Client.GetWorkflowHistory(ctx, workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	scheduled := map[int64]bool{}
	var last *failurepb.Failure
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			r.t.Fatalf("history of %s: %v", workflowID, err)
		}
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil && a.GetActivityType().GetName() == name {
			scheduled[ev.GetEventId()] = true
		}
		if a := ev.GetActivityTaskStartedEventAttributes(); a != nil && scheduled[a.GetScheduledEventId()] && a.GetAttempt() > 1 {
			last = a.GetLastFailure()
		}
	}
	return last
}
