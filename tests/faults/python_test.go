package faults

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/internal/testrig/faultproxy"
	"github.com/flavorflow/flavorflow/internal/testrig/testenv"
	"github.com/flavorflow/flavorflow/vocab"
	"github.com/flavorflow/flavorflow/workflows"
)

// Faults of the Python training path (trainer sklearn-*, the Python worker
// on <queue>-python): the same rules as for Go flavors — a corrupt stored
// artifact is ChecksumMismatch and never promoted, and a worker stopped
// mid-step leaves exactly one version.

// pyWorker is one Python worker process.
type pyWorker struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// startPyWorker starts pyworker/flavorflow_pyworker.py on the rig's queue
// plus "-python", sharing the Go workers' work directory and talking to
// MLflow through the rig's proxy, and waits until it polls.
func (r *rig) startPyWorker(extra ...string) *pyWorker {
	r.t.Helper()
	root := testenv.RepoRoot()
	r.mu.Lock()
	n := len(r.workers)
	r.mu.Unlock()
	w := &pyWorker{log: filepath.Join(r.dir, fmt.Sprintf("pyworker-%03d-%d.log", n, time.Now().UnixNano())), done: make(chan struct{})}
	logf, err := os.Create(w.log)
	if err != nil {
		r.t.Fatal(err)
	}
	defer logf.Close()
	w.cmd = exec.Command(filepath.Join(root, ".venv", "bin", "python"), filepath.Join(root, "pyworker", "flavorflow_pyworker.py"),
		"--address", r.tp.HostPort, "--task-queue", r.queue+vocab.PythonQueueSuffix,
		"--work-dir", filepath.Join(r.dir, "work"), "--tracking-uri", r.px.URL)
	// extra: KEY=value environment, or "--flag", "value" arguments.
	var extraEnv []string
	for i := 0; i < len(extra); i++ {
		if strings.HasPrefix(extra[i], "--") && i+1 < len(extra) {
			w.cmd.Args = append(w.cmd.Args, extra[i], extra[i+1])
			i++
			continue
		}
		extraEnv = append(extraEnv, extra[i])
	}
	w.cmd.Dir = r.dir
	w.cmd.Env = append(append(os.Environ(), "MLFLOW_DISABLE_TELEMETRY=true", "DO_NOT_TRACK=true"), extraEnv...)
	w.cmd.Stdout, w.cmd.Stderr = logf, logf
	if err := w.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	go func() { w.err = w.cmd.Wait(); close(w.done) }()
	r.t.Cleanup(func() {
		select {
		case <-w.done:
		default:
			_ = w.cmd.Process.Kill()
			<-w.done
		}
		if r.t.Failed() {
			r.t.Logf("--- python worker log %s ---\n%s", w.log, readTail(w.log))
		}
	})
	if err := poll(2*time.Minute, func() (bool, error) {
		select {
		case <-w.done:
			return false, fmt.Errorf("python worker exited during start-up: %v\n%s", w.err, readTail(w.log))
		default:
		}
		return strings.Contains(readTail(w.log), "READY"), nil
	}); err != nil {
		r.t.Fatal(err)
	}
	return w
}

// sklearnRequest trains sklearn-linear (or trainer) on a small CSV of
// y = 1 + 2a - 3b.
func (r *rig) sklearnRequest(model, trainer string) workflows.LifecycleRequest {
	r.t.Helper()
	data := filepath.Join(r.dir, "rows-"+model+".csv")
	csv := "a,b,y\n"
	for i := range 12 {
		a, b := float64(i), float64((i*5)%7)
		csv += fmt.Sprintf("%g,%g,%g\n", a, b, 1+2*a-3*b)
	}
	if err := os.WriteFile(data, []byte(csv), 0o644); err != nil {
		r.t.Fatal(err)
	}
	return workflows.LifecycleRequest{ModelName: model, Alias: "champion", Data: vocab.TrainingData{Path: data}, Trainer: trainer}
}

// activityAttempts lists the attempt of every started activity of type
// name in the workflow's history.
func (r *rig) activityAttempts(workflowID, name string) []int32 {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	it := r.tp.Client.GetWorkflowHistory(ctx, workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	scheduled := map[int64]bool{}
	var out []int32
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			r.t.Fatalf("history of %s: %v", workflowID, err)
		}
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil && a.GetActivityType().GetName() == name {
			scheduled[ev.GetEventId()] = true
		}
		if a := ev.GetActivityTaskStartedEventAttributes(); a != nil && scheduled[a.GetScheduledEventId()] {
			out = append(out, a.GetAttempt())
		}
	}
	return out
}

// TestCorruptedSklearnArtifactOnMLflowServer: a byte of the stored
// serialized model (model.skops, MLflow 3.17's default; model.pkl before) of a registered scikit-learn version is flipped on the MLflow
// server after registration, just before the Python worker verifies it.
// The pipeline fails with ChecksumMismatch from VerifyPython, on its first
// attempt (non-retryable); the alias stays on the earlier version; the
// corrupt version is never tagged verified and is tagged failed with the
// error by compensation.
func TestCorruptedSklearnArtifactOnMLflowServer(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	r.startWorker()
	r.startPyWorker()
	model := r.prefix + "-sk"
	first := r.start(r.prefix+"-0", r.sklearnRequest(model, "sklearn-linear"))
	r.wait(5*time.Minute, first)
	if first.err != nil {
		t.Fatalf("first pipeline: %v", first.err)
	}
	second := r.prefix + "-1"
	var once sync.Once
	flipped := make(chan string, 1)
	// The Python worker's first registry read of the verification: the
	// version is registered and nothing has verified it yet. Go's reads
	// (user agent flavorflow-mlflow-go) pass untouched.
	r.px.SetRules(faultproxy.Rule{
		Method: http.MethodGet, Path: regexp.MustCompile(`/model-versions/get$`),
		Before: func(req *http.Request) {
			if strings.HasPrefix(req.Header.Get("User-Agent"), "flavorflow-mlflow-go") {
				return
			}
			once.Do(func() { flipped <- r.flipStoredByte(second, r.sklearnModelFile(second)) })
		},
	})
	p := r.start(second, r.sklearnRequest(model, "sklearn-linear"))
	r.wait(5*time.Minute, p)
	path, bad := r.checkCorruptRefused("corrupt sklearn artifact", model, p, first.res.Version, flipped)
	if !strings.Contains(p.err.Error(), filepath.Base(path)) {
		t.Errorf("the error does not name the damaged file: %v", p.err)
	}
	if got := r.activityAttempts(second, "VerifyPython"); len(got) != 1 || got[0] != 1 {
		t.Errorf("VerifyPython attempts %v, want one (ChecksumMismatch is not retried)", got)
	}
	if bad.Tags[vocab.TagPipelineStatus] != vocab.PipelineFailed || bad.Tags[vocab.TagPipelineError] != string(failure.ChecksumMismatch) {
		t.Errorf("corrupt version %d tags %v, want %s=%s and %s=%s", bad.Version, bad.Tags,
			vocab.TagPipelineStatus, vocab.PipelineFailed, vocab.TagPipelineError, failure.ChecksumMismatch)
	}
}

// TestPythonWorkerSIGTERMMidTraining: the Python worker gets SIGTERM while
// a training runs. It stops polling and exits with status 0, then a
// restarted Python worker verifies (and, if needed, trains), and the
// pipeline ends with exactly one run, logged model and version, promoted.
// With a graceful timeout longer than the training ("finishes"), the
// stopping worker completes TrainPython itself (one attempt). With a shorter
// one ("hands back"), it cancels the attempt at the timeout and exits then,
// although the fit's thread is still running (it cannot be interrupted):
// the attempt is retried on the restarted worker.
func TestPythonWorkerSIGTERMMidTraining(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name     string
		graceful time.Duration
		finishes bool
	}{
		{"finishes", 3 * time.Minute, true},
		{"hands back", time.Second, false},
	} {
		t.Run(strings.ReplaceAll(c.name, " ", "-"), func(t *testing.T) {
			r := newRig(t, rigOptions{})
			r.startWorker()
			gate := t.TempDir()
			w := r.startPyWorker("FLAVORFLOW_PYWORKER_GATE="+gate, "--graceful-timeout", fmt.Sprint(c.graceful.Seconds()))
			model := r.prefix + "-sk"
			id := r.prefix + "-0"
			p := r.start(id, r.sklearnRequest(model, "py-gated"))
			if err := poll(2*time.Minute, func() (bool, error) {
				_, err := os.Stat(filepath.Join(gate, "started"))
				return err == nil, nil
			}); err != nil {
				t.Fatalf("training never started: %v\n%s", err, readAll(w.log))
			}
			if err := w.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if err := poll(time.Minute, func() (bool, error) {
				return strings.Contains(readAll(w.log), "stopping: finishing running activities"), nil
			}); err != nil {
				t.Fatalf("the worker did not begin a graceful stop: %v\n%s", err, readAll(w.log))
			}
			began := time.Now()
			if c.finishes {
				if err := os.WriteFile(filepath.Join(gate, "release"), nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			select {
			case <-w.done:
			case <-time.After(c.graceful + time.Minute):
				t.Fatalf("the worker did not exit within %s of SIGTERM (graceful timeout %s)\n%s", c.graceful+time.Minute, c.graceful, readAll(w.log))
			}
			exited := time.Since(began)
			if w.err != nil {
				t.Errorf("python worker exited with %v after SIGTERM, want status 0\n%s", w.err, readAll(w.log))
			}
			if !strings.Contains(readAll(w.log), "python worker stopped") {
				t.Errorf("no \"python worker stopped\" in the log\n%s", readAll(w.log))
			}
			if !c.finishes {
				if err := os.WriteFile(filepath.Join(gate, "release"), nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			r.startPyWorker("FLAVORFLOW_PYWORKER_GATE=" + gate)
			r.wait(5*time.Minute, p)
			if p.err != nil {
				t.Fatalf("pipeline: %v", p.err)
			}
			if p.res.Version != 1 || p.res.Outcome != workflows.OutcomePromoted {
				t.Errorf("result %+v, want version 1 promoted", p.res)
			}
			attempts := r.activityAttempts(id, "TrainPython")
			if c.finishes && (len(attempts) != 1 || attempts[0] != 1) {
				t.Errorf("TrainPython attempts %v, want one: the stopping worker had %s to finish it; attempt 1 ended with %v\n%s",
					attempts, c.graceful, r.lastFailureOf(id, "TrainPython"), readAll(w.log))
			}
			if !c.finishes && (len(attempts) != 1 || attempts[0] < 2) {
				t.Errorf("TrainPython attempts %v, want the attempt handed back and retried", attempts)
			}
			ctx := context.Background()
			mvs, err := r.direct.SearchModelVersions(ctx, model, "", "")
			if err != nil || len(mvs) != 1 {
				t.Fatalf("versions: %v %v, want exactly one", versionNumbers(mvs), err)
			}
			exp, err := r.direct.GetExperimentByName(ctx, r.experiment)
			if err != nil {
				t.Fatal(err)
			}
			runs, err := r.direct.SearchRunsByTag(ctx, exp.ID, vocab.TagWorkflowID, id)
			if err != nil || len(runs) != 1 {
				t.Errorf("runs: %d %v, want one", len(runs), err)
			}
			lms, err := r.direct.SearchLoggedModelsByTag(ctx, exp.ID, vocab.TagWorkflowID, id)
			if err != nil || len(lms) != 1 {
				t.Errorf("logged models: %d %v, want one", len(lms), err)
			}
			var tb table
			scenario := "python worker SIGTERM mid-training, " + c.name
			tb.add(scenario, "exit after stop began (graceful timeout)", fmt.Sprintf("%s (%s)", exited.Round(100*time.Millisecond), c.graceful))
			tb.add(scenario, "TrainPython attempts (last)", attempts)
			tb.add(scenario, "versions", len(mvs))
			report(t, tb)
		})
	}
}

func readAll(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// sklearnModelFile is the serialized model among the stored files of the
// workflow's logged model: model.skops (MLflow 3.17's default format) or
// model.pkl (cloudpickle).
func (r *rig) sklearnModelFile(wfID string) string {
	dir := r.storedModelDir(wfID)
	if dir == "" {
		return ""
	}
	for _, name := range []string{"model.skops", "model.pkl"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return name
		}
	}
	r.t.Errorf("no model.skops or model.pkl in %s", dir)
	return ""
}
