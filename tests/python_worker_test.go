package tests

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flavorflow/flavorflow/internal/testrig/testenv"
	"github.com/flavorflow/flavorflow/vocab"
	"github.com/flavorflow/flavorflow/workflows"
)

// startPyWorker starts the Python worker (pyworker/) as a subprocess of
// .venv/bin/python on c's queue plus "-python", sharing the Go worker's work
// directory, and waits until it polls.
func (c *cliEnv) startPyWorker(trackingURI string, env ...string) *workerProc {
	c.t.Helper()
	root := testenv.RepoRoot()
	cmd := exec.Command(filepath.Join(root, ".venv", "bin", "python"), filepath.Join(root, "pyworker", "flavorflow_pyworker.py"),
		"--address", c.tp.HostPort, "--task-queue", c.queue+vocab.PythonQueueSuffix,
		"--work-dir", filepath.Join(c.dir, "work"), "--tracking-uri", trackingURI)
	cmd.Dir = c.dir
	cmd.Env = append(append([]string{}, c.env...), env...)
	pr, pw, err := os.Pipe()
	require.NoError(c.t, err)
	cmd.Stdout, cmd.Stderr = pw, pw
	require.NoError(c.t, cmd.Start())
	_ = pw.Close()
	w := &workerProc{cmd: cmd, log: &bytes.Buffer{}, mu: &sync.Mutex{}, done: make(chan error, 1)}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		once := sync.Once{}
		for sc.Scan() {
			w.mu.Lock()
			w.log.WriteString(sc.Text() + "\n")
			w.mu.Unlock()
			if sc.Text() == "READY" {
				once.Do(func() { close(ready) })
			}
		}
		w.done <- cmd.Wait()
	}()
	c.t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-w.done
		}
		if c.t.Failed() {
			c.t.Logf("python worker (pid %d):\n%s", cmd.Process.Pid, w.logs())
		}
	})
	select {
	case <-ready:
	case err := <-w.done:
		c.t.Fatalf("python worker exited: %v\n%s", err, w.logs())
	case <-time.After(2 * time.Minute):
		c.t.Fatalf("python worker did not start\n%s", w.logs())
	}
	return w
}

// pyMLflow runs a Python snippet against the MLflow server and returns its
// stdout.
func pyMLflow(t *testing.T, trackingURI, code string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(testenv.RepoRoot(), ".venv", "bin", "python"), "-c", code)
	cmd.Env = append(os.Environ(), "MLFLOW_TRACKING_URI="+trackingURI)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	require.NoError(t, cmd.Run(), "%s", errb.String())
	return strings.TrimSpace(out.String())
}

func writeLinearRows(t *testing.T, dir string) string {
	t.Helper()
	data := filepath.Join(dir, "rows.csv")
	csv := "a,b,y\n"
	for i := range 12 {
		a, b := float64(i), float64((i*5)%7)
		csv += fmt.Sprintf("%g,%g,%g\n", a, b, 1+2*a-3*b)
	}
	require.NoError(t, os.WriteFile(data, []byte(csv), 0o644))
	return data
}

// The scikit-learn pipeline end to end on the dev server and a real MLflow
// server: `starter run --trainer sklearn-linear` trains in the Python
// worker, the Go worker logs and registers the directory it saved, the
// Python worker verifies the registered version, the alias moves. Python
// MLflow loads the alias and predicts; a Python trainer nobody has is
// UnknownTrainer, not retried.
func TestSklearnPipelineThroughPythonWorker(t *testing.T) {
	c := newCLIEnv(t)
	ml := testenv.StartMLflow(t, testenv.MLflowOptions{})
	c.startWorker("MLFLOW_TRACKING_URI=" + ml.URL)
	c.startPyWorker(ml.URL)
	data := writeLinearRows(t, c.dir)

	var out struct {
		Result workflows.LifecycleResult `json:"result"`
	}
	c.okJSON(&out, "run", "--model", "sk", "--data", data, "--trainer", "sklearn-linear", "--alias", "champion", "--id", "sk-1")
	require.Equal(t, "sklearn", out.Result.Flavor)
	require.Equal(t, 1, out.Result.Version)
	require.Equal(t, "models:/sk@champion", out.Result.AliasURI)
	require.NotEmpty(t, out.Result.ManifestSHA256)

	got := pyMLflow(t, ml.URL, `
import mlflow, pandas as pd
from mlflow import MlflowClient
m = mlflow.pyfunc.load_model("models:/sk@champion")
c = MlflowClient()
mv = c.get_model_version("sk", "1")
print(round(float(m.predict(pd.DataFrame({"a": [2.0], "b": [2.0]}))[0]), 6),
      len(c.search_model_versions("name='sk'")), mv.tags.get("flavorflow.verified"),
      mv.tags.get("flavorflow.manifest_sha256"))`)
	require.Equal(t, fmt.Sprintf("-1.0 1 true %s", out.Result.ManifestSHA256), got)

	r := c.starter(nil, "run", "--model", "sk", "--data", data, "--trainer", "sklearn-nope", "--id", "sk-bad")
	require.Equal(t, 1, r.code, "%s", r)
	require.Contains(t, r.stderr, "UnknownTrainer")
}

// A SIGKILL of the Python worker mid-training: the training attempt times
// out on its heartbeat, a restarted Python worker trains again, and the
// pipeline ends with exactly one version, verified and promoted.
func TestPythonWorkerKilledMidTraining(t *testing.T) {
	c := newCLIEnv(t)
	ml := testenv.StartMLflow(t, testenv.MLflowOptions{})
	c.startWorker("MLFLOW_TRACKING_URI=" + ml.URL)
	gate := t.TempDir()
	w1 := c.startPyWorker(ml.URL, "FLAVORFLOW_PYWORKER_GATE="+gate)
	data := writeLinearRows(t, c.dir)

	c.ok("run", "--model", "skk", "--data", data, "--trainer", "py-gated", "--alias", "champion", "--id", "skk-1", "--no-wait")
	started := filepath.Join(gate, "started")
	require.Eventually(t, func() bool { _, err := os.Stat(started); return err == nil }, 2*time.Minute, 20*time.Millisecond, "%s", w1.logs())
	require.NoError(t, w1.cmd.Process.Signal(syscall.SIGKILL))
	<-w1.done
	require.NoError(t, os.Remove(started))
	require.NoError(t, os.WriteFile(filepath.Join(gate, "release"), nil, 0o644))
	w2 := c.startPyWorker(ml.URL, "FLAVORFLOW_PYWORKER_GATE="+gate)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var res workflows.LifecycleResult
	require.NoError(t, c.tp.Client.GetWorkflow(ctx, "skk-1", "").Get(ctx, &res), "%s", w2.logs())
	require.Equal(t, 1, res.Version)
	require.Equal(t, workflows.OutcomePromoted, res.Outcome)
	_, err := os.Stat(started)
	require.NoError(t, err, "the restarted worker never trained again")
	got := pyMLflow(t, ml.URL, `
from mlflow import MlflowClient
c = MlflowClient()
print(len(c.search_model_versions("name='skk'")), len(c.search_logged_models(experiment_ids=[c.get_experiment_by_name("cli").experiment_id])))`)
	require.Equal(t, "1 1", got)
}
