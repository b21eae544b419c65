package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/flavorflow/flavorflow/internal/testrig/testenv"
	"github.com/flavorflow/flavorflow/workflows"
)

// Both flavors a pipeline can register against an MLflow server — the linear
// Go flavor (trained and verified by the Go worker) and scikit-learn (trained
// and verified by the Python worker) — are what Python MLflow users expect:
// pyfunc loads and predicts by the alias flavorflow set, and `mlflow models
// serve models:/<name>@champion` answers /invocations with a DataFrame of the
// columns. Then a schedule of the sklearn trainer, triggered once, registers
// a verified version too.
func TestPythonMLflowServesFlavorsRegisteredThroughPipelines(t *testing.T) {
	c := newCLIEnv(t)
	ml := testenv.StartMLflow(t, testenv.MLflowOptions{})
	gw := c.startWorker("MLFLOW_TRACKING_URI=" + ml.URL)
	py := c.startPyWorker(ml.URL)
	defer func() {
		if t.Failed() {
			t.Logf("go worker:\n%s\npython worker:\n%s", gw.logs(), py.logs())
		}
	}()
	data := writeLinearRows(t, c.dir) // y = 1 + 2a - 3b

	for _, tc := range []struct{ trainer, model, flavor string }{
		{"linear", "ff-lin", "flavorflow_linear"},
		{"sklearn-linear", "ff-sk", "sklearn"},
	} {
		t.Run(tc.trainer, func(t *testing.T) {
			var out struct {
				Result workflows.LifecycleResult `json:"result"`
			}
			c.okJSON(&out, "run", "--model", tc.model, "--data", data, "--trainer", tc.trainer, "--alias", "champion", "--id", tc.model+"-1")
			require.Equal(t, tc.flavor, out.Result.Flavor)
			require.Equal(t, 1, out.Result.Version)
			require.Equal(t, workflows.OutcomePromoted, out.Result.Outcome)
			require.Equal(t, "models:/"+tc.model+"@champion", out.Result.AliasURI)

			// pyfunc by the alias: the version flavorflow verified and
			// promoted, with the manifest hash it recorded.
			got := pyMLflow(t, ml.URL, fmt.Sprintf(`
import mlflow, pandas as pd
from mlflow import MlflowClient
m = mlflow.pyfunc.load_model("models:/%[1]s@champion")
mv = MlflowClient().get_model_version_by_alias("%[1]s", "champion")
p = m.predict(pd.DataFrame({"b": [2.0, 1.0], "a": [2.0, 10.0]}))
p = p.iloc[:, 0] if hasattr(p, "iloc") and getattr(p, "ndim", 1) == 2 else p
print(mv.version, mv.tags.get("flavorflow.verified"), mv.tags.get("flavorflow.manifest_sha256"),
      " ".join(str(round(float(v), 6)) for v in list(p)))`, tc.model))
			require.Equal(t, fmt.Sprintf("1 true %s -1.0 18.0", out.Result.ManifestSHA256), got)

			// mlflow models serve of the alias.
			preds := serveAndInvoke(t, ml.URL, "models:/"+tc.model+"@champion",
				`{"dataframe_split": {"columns": ["b", "a"], "data": [[2.0, 2.0], [1.0, 10.0]]}}`)
			require.Len(t, preds, 2)
			require.InDelta(t, -1.0, preds[0], 1e-6)
			require.InDelta(t, 18.0, preds[1], 1e-6)
		})
	}

	// Unknown names, on the real workers: a clear error with its stable
	// code, not retried, nothing registered on the server.
	t.Run("unknown names", func(t *testing.T) {
		for _, tc := range []struct{ trainer, flavor, code, says string }{
			{"sklearn-nope", "", "UnknownTrainer", `trainer 'sklearn-nope' is not registered in the Python worker; it has ['sklearn-linear']`},
			{"linear-nope", "", "UnknownTrainer", `unknown trainer "linear-nope" (this worker has [fakemodel linear])`},
			{"linear", "nosuch", "FlavorNotFound", `unknown flavor "nosuch"`},
			{"sklearn-linear", "nosuch", "FlavorNotFound", `trainer "sklearn-linear" saves flavor "sklearn", the pipeline asked for flavor "nosuch"`},
		} {
			id := "ff-nope-" + tc.trainer + tc.flavor
			args := []string{"run", "--model", "ff-nope", "--data", data, "--trainer", tc.trainer, "--id", id}
			if tc.flavor != "" {
				args = append(args, "--flavor", tc.flavor)
			}
			r := c.starter(nil, args...)
			require.Equal(t, 1, r.code, "%s", r)
			require.Contains(t, r.stderr, tc.code, "%s", r)
			require.Contains(t, r.stderr, tc.says, "%s", r)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			iter := c.tp.Client.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
			for iter.HasNext() {
				ev, err := iter.Next()
				require.NoError(t, err)
				if a := ev.GetActivityTaskStartedEventAttributes(); a != nil {
					require.EqualValues(t, 1, a.GetAttempt(), "%s: an activity was retried", id)
				}
			}
			cancel()
		}
		got := pyMLflow(t, ml.URL, `
from mlflow import MlflowClient
c = MlflowClient()
exp = c.get_experiment_by_name("cli")
runs = c.search_runs([exp.experiment_id], "tags.\"flavorflow.workflow_id\" LIKE 'ff-nope-%'")
print(len(c.search_registered_models("name='ff-nope'")), len(runs))`)
		require.Equal(t, "0 0", got)
	})

	t.Run("schedule", func(t *testing.T) {
		var created scheduleJSON
		c.okJSON(&created, "schedule", "create", "--id", "ff-sk-sched", "--model", "ff-sk-sched", "--data", data,
			"--trainer", "sklearn-linear", "--alias", "champion", "--every", "24h", "--pause-on-failure")
		require.Equal(t, "ff-sk-sched", created.Model)
		r := c.ok("schedule", "trigger", "ff-sk-sched")
		require.Contains(t, r.stdout, "Triggered schedule ff-sk-sched")
		describe := func() scheduleJSON {
			var d scheduleJSON
			c.okJSON(&d, "schedule", "describe", "ff-sk-sched")
			return d
		}
		eventually(t, 3*time.Minute, func() bool { d := describe(); return d.NumActions == 1 && len(d.Running) == 0 }, "the triggered run finished")
		require.False(t, describe().Paused, "the run failed: the schedule paused itself")
		got := pyMLflow(t, ml.URL, `
from mlflow import MlflowClient
c = MlflowClient()
vs = c.search_model_versions("name='ff-sk-sched'")
mv = c.get_model_version_by_alias("ff-sk-sched", "champion")
print(len(vs), mv.version, mv.tags.get("flavorflow.verified"), mv.tags.get("flavorflow.workflow_id", "").startswith("ff-sk-sched"))`)
		require.Equal(t, "1 1 true True", got)
		c.ok("schedule", "delete", "ff-sk-sched")
	})
}

// serveAndInvoke runs `mlflow models serve -m uri` (the venv's, no new
// environment) against the tracking server, posts body to /invocations and
// returns the predictions: a list of numbers (sklearn) or of one-key
// records named after the target (the linear flavor's Series).
func serveAndInvoke(t *testing.T, trackingURI, uri, body string) []float64 {
	t.Helper()
	var url string
	var logs *syncBuffer
	// A port FreePort picked can be taken before serve binds it (tests run
	// in parallel): another port then, as testenv's servers do.
	for try := 1; ; try++ {
		var inUse bool
		if url, logs, inUse = startServe(t, trackingURI, uri); !inUse {
			break
		}
		require.Less(t, try, 3, "mlflow models serve: the port was taken %d times in a row\n%s", try, logs.String())
	}
	hc := &http.Client{Timeout: 30 * time.Second}
	resp, err := hc.Post(url+"/invocations", "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	var raw bytes.Buffer
	_, _ = raw.ReadFrom(resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s\n%s", raw.String(), logs.String())
	var out struct {
		Predictions []json.RawMessage `json:"predictions"`
	}
	require.NoError(t, json.Unmarshal(raw.Bytes(), &out), raw.String())
	preds := make([]float64, len(out.Predictions))
	for i, p := range out.Predictions {
		if err := json.Unmarshal(p, &preds[i]); err == nil {
			continue
		}
		var rec map[string]float64
		require.NoError(t, json.Unmarshal(p, &rec), raw.String())
		require.Len(t, rec, 1, raw.String())
		for _, v := range rec {
			preds[i] = v
		}
	}
	return preds
}

// startServe starts `mlflow models serve` of uri on a free port, stopped
// with its process group when the test ends, and returns its URL once /ping
// answers, with its output. inUse: it exited because the port was taken.
func startServe(t *testing.T, trackingURI, uri string) (url string, logs *syncBuffer, inUse bool) {
	t.Helper()
	venvBin := filepath.Join(testenv.RepoRoot(), ".venv", "bin")
	port := testenv.FreePort(t)
	cmd := exec.Command(filepath.Join(venvBin, "mlflow"), "models", "serve", "-m", uri, "--env-manager", "local",
		"-h", "127.0.0.1", "-p", strconv.Itoa(port))
	// serve execs uvicorn by name: the venv's bin goes first on PATH.
	cmd.Env = append(os.Environ(), "MLFLOW_TRACKING_URI="+trackingURI, "PATH="+venvBin+string(os.PathListSeparator)+os.Getenv("PATH"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	logs = &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	require.NoError(t, cmd.Start())
	// The poll below and the clean-up both wait for the exit.
	exited := testenv.WatchExit(cmd)
	t.Cleanup(func() {
		// The server and its uvicorn workers: the whole process group.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited.Done:
		case <-time.After(30 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited.Done
		}
	})
	url = fmt.Sprintf("http://127.0.0.1:%d", port)
	hc := &http.Client{Timeout: 30 * time.Second}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := hc.Get(url + "/ping")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return url, logs, false
			}
		}
		select {
		case <-exited.Done:
			if strings.Contains(logs.String(), "address already in use") {
				return "", logs, true
			}
			t.Fatalf("mlflow models serve exited: %v\n%s", exited.Err(), logs.String())
		default:
		}
		require.True(t, time.Now().Before(deadline), "mlflow models serve did not answer /ping\n%s", logs.String())
		time.Sleep(300 * time.Millisecond) // polling a starting server, not synchronizing with it
	}
}
