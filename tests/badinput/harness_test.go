package badinput

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/flavorflow/flavorflow/activities"
	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/flavor"
	"github.com/flavorflow/flavorflow/internal/testrig/faultstore"
	"github.com/flavorflow/flavorflow/internal/testrig/testenv"
	"github.com/flavorflow/flavorflow/mlflow"
	"github.com/flavorflow/flavorflow/store/localstore"
	"github.com/flavorflow/flavorflow/vocab"
	"github.com/flavorflow/flavorflow/workflows"
)

const experiment = "badinput"

// harness is one row's world: a scratch directory and, on demand, a local
// store with the real activities on it.
type harness struct {
	t      *testing.T
	dir    string
	st     *localstore.Store
	faults *faultstore.Store
	// flavors is the worker's registry for workflow rows (nil: the
	// activities' default, flavor.Builtin()).
	flavors *flavor.Registry
}

func (h *harness) local() *localstore.Store {
	if h.st == nil {
		st, err := localstore.Open(filepath.Join(h.dir, "store"))
		require.NoError(h.t, err)
		h.t.Cleanup(func() { _ = st.Close() })
		h.st, h.faults = st, faultstore.New(st)
	}
	return h.st
}

// ---- CLI ----

// cli runs the built starter with args; Temporal is a closed port, so an
// input the CLI fails to refuse shows up as exit 3, not 2. The error it
// returns is rebuilt from "starter: <Code>: <message>" on stderr.
func cli(args ...string) func(*testing.T, *harness) error {
	return func(t *testing.T, h *harness) error {
		argv := make([]string, len(args))
		for i, a := range args {
			argv[i] = strings.ReplaceAll(a, "$DIR", h.dir)
		}
		cmd := exec.Command(filepath.Join(bins, "starter"), argv...)
		cmd.Dir = testenv.RepoRoot()
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + h.dir,
			"MLFLOW_TRACKING_URI=" + filepath.Join(h.dir, "store"), "TEMPORAL_ADDRESS=127.0.0.1:1"}
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var exit *exec.ExitError
		if err == nil {
			return nil
		}
		require.ErrorAs(t, err, &exit)
		require.Equal(t, 2, exit.ExitCode(), "exit code; stdout=%q stderr=%q", stdout.String(), stderr.String())
		line := strings.TrimSpace(stderr.String())
		require.True(t, strings.HasPrefix(line, "starter: "), "stderr %q", line)
		code, msg, _ := strings.Cut(strings.TrimPrefix(line, "starter: "), ": ")
		return &failure.Error{Code: failure.Code(code), Msg: msg}
	}
}

// modelDir writes files (name -> content) into a fresh model directory and
// returns its path; a "->" prefix in the content makes a symlink.
func modelDir(h *harness, files map[string]string) string {
	d := filepath.Join(h.dir, "model")
	require.NoError(h.t, os.MkdirAll(d, 0o755))
	for name, content := range files {
		p := filepath.Join(d, name)
		require.NoError(h.t, os.MkdirAll(filepath.Dir(p), 0o755))
		if target, ok := strings.CutPrefix(content, "->"); ok {
			require.NoError(h.t, os.Symlink(target, p))
			continue
		}
		require.NoError(h.t, os.WriteFile(p, []byte(content), 0o644))
	}
	return d
}

// predictDir runs `starter predict <dir> 4` on a directory built by files.
func predictDir(files map[string]string) func(*testing.T, *harness) error {
	return func(t *testing.T, h *harness) error {
		return cli("predict", "--tracking-uri", "$DIR/store", modelDir(h, files), "4")(t, h)
	}
}

// predictSaved saves a real model, lets edit change its directory, and
// predicts from it.
func predictSaved(edit func(t *testing.T, dir string)) func(*testing.T, *harness) error {
	return func(t *testing.T, h *harness) error {
		saved, err := flavor.SaveModel(context.Background(), filepath.Join(h.dir, "saved"), fakeModel3, flavor.SaveOptions{})
		require.NoError(t, err)
		edit(t, saved.Dir)
		return cli("predict", "--tracking-uri", "$DIR/store", saved.Dir, "4")(t, h)
	}
}

func dataFile(content string) func(*testing.T, *harness) error {
	return func(t *testing.T, h *harness) error {
		p := filepath.Join(h.dir, "train.csv")
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
		return cli("run", "--model", "m", "--data", p)(t, h)
	}
}

// ---- workflow ----

// runWorkflow runs the lifecycle in Temporal's test environment with the
// real activities on the row's local store and returns the failure as a
// failure.Error with the ApplicationError's type. The failure must be
// non-retryable.
func runWorkflow(t *testing.T, h *harness, id string, req workflows.LifecycleRequest) error {
	h.local()
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestWorkflowEnvironment()
	env.SetTestTimeout(60e9)
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: id})
	env.RegisterWorkflowWithOptions(workflows.ModelLifecycle, workflow.RegisterOptions{Name: workflows.WorkflowName})
	env.RegisterActivity(&activities.Activities{Store: h.faults, Experiment: experiment, WorkDir: filepath.Join(h.dir, "work"), UploadParallelism: 2, Flavors: h.flavors})
	env.ExecuteWorkflow(workflows.WorkflowName, req)
	require.True(t, env.IsWorkflowCompleted())
	err := env.GetWorkflowError()
	if err == nil {
		return nil
	}
	var app *temporal.ApplicationError
	require.True(t, errors.As(err, &app), "not an ApplicationError: %v", err)
	require.True(t, app.NonRetryable() || !failure.Retryable(failure.Code(app.Type())), "retryable failure %s: %v", app.Type(), err)
	return &failure.Error{Code: failure.Code(app.Type()), Msg: app.Message()}
}

func wf(req workflows.LifecycleRequest) func(*testing.T, *harness) error {
	return func(t *testing.T, h *harness) error { return runWorkflow(t, h, "wf-"+t.Name(), req) }
}

func wfData(content string) func(*testing.T, *harness) error {
	return func(t *testing.T, h *harness) error {
		p := filepath.Join(h.dir, "train.csv")
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
		return runWorkflow(t, h, "wf-"+t.Name(), workflows.LifecycleRequest{ModelName: "m", Alias: "champion", Data: vocab.TrainingData{Path: p}})
	}
}

// nothingCreated: the store holds no experiment, run, logged model or
// registered model (or the store was never even opened).
func nothingCreated(model string) func(*testing.T, *harness) {
	return func(t *testing.T, h *harness) {
		if _, err := os.Stat(filepath.Join(h.dir, "store")); err != nil {
			return
		}
		ctx := context.Background()
		st := h.local()
		if exp, err := st.GetExperimentByName(ctx, experiment); err == nil {
			runs, err := st.SearchRunsByTag(ctx, exp.ID, vocab.TagWorkflowID, "wf-"+t.Name())
			require.NoError(t, err)
			require.Empty(t, runs, "runs were created")
		}
		if vocab.ValidateModelName(model) == nil {
			_, err := st.GetRegisteredModel(ctx, model)
			require.True(t, failure.Has(err, failure.NotFound), "registered model %q exists (%v)", model, err)
		}
		entries, _ := os.ReadDir(filepath.Join(h.dir, "store", "artifacts"))
		require.Empty(t, entries, "artifacts were written")
	}
}

// ---- MLflow ----

// fakeMLflow serves routes (path -> body, 200 JSON) and 404 elsewhere, and
// returns a REST client on it with retries off.
func fakeMLflow(t *testing.T, routes map[string]string) *mlflow.Client {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := routes[r.URL.Path]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"error_code":"RESOURCE_DOES_NOT_EXIST","message":"no route"}`))
			return
		}
		if strings.HasPrefix(body, "<") {
			w.Header().Set("Content-Type", "text/html")
		} else {
			w.Header().Set("Content-Type", "application/json")
		}
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	c, err := mlflow.New(mlflow.Config{TrackingURI: srv.URL, MaxRetries: -1})
	require.NoError(t, err)
	return c
}

const fakeModelID = "m-0123456789abcdef"

// loadFromListing serves a logged model whose artifact listing is listing
// and loads models:/<id> into a fresh directory; afterwards nothing may
// exist next to that directory.
func loadFromListing(listing string) func(*testing.T, *harness) error {
	return func(t *testing.T, h *harness) error {
		c := fakeMLflow(t, map[string]string{
			"/api/2.0/mlflow/logged-models/" + fakeModelID: `{"model":{"info":{"model_id":"` + fakeModelID +
				`","experiment_id":"1","name":"model","artifact_uri":"mlflow-artifacts:/1/models/` + fakeModelID +
				`/artifacts","status":"LOGGED_MODEL_READY"}}}`,
			"/api/2.0/mlflow-artifacts/artifacts": listing,
		})
		dl := filepath.Join(h.dir, "dl", "model")
		_, err := flavor.LoadModel(context.Background(), c, "models:/"+fakeModelID, dl)
		entries, _ := os.ReadDir(filepath.Dir(dl))
		for _, e := range entries {
			require.Equal(t, "model", e.Name(), "a file was written outside the download directory")
		}
		return err
	}
}

func fakeAnswer(path, body string, call func(c *mlflow.Client) error) func(*testing.T, *harness) error {
	return func(t *testing.T, h *harness) error {
		return call(fakeMLflow(t, map[string]string{path: body}))
	}
}

// realMLflow is the package's shared MLflow server and a client on it.
func realMLflow(t *testing.T) (*testenv.MLflow, *mlflow.Client) {
	srv := testenv.SharedMLflow(t, testenv.MLflowOptions{})
	c, err := mlflow.New(mlflow.Config{TrackingURI: srv.URL, MaxRetries: -1})
	require.NoError(t, err)
	return srv, c
}

func onServer(call func(c *mlflow.Client) error) func(*testing.T, *harness) error {
	return func(t *testing.T, h *harness) error {
		_, c := realMLflow(t)
		return call(c)
	}
}

// serverHasNoModel asks the real server, over plain HTTP, for every
// registered model and checks none is named name.
func serverHasNoModel(name string) func(*testing.T, *harness) {
	return func(t *testing.T, h *harness) {
		srv, _ := realMLflow(t)
		resp, err := http.Get(srv.URL + "/api/2.0/mlflow/registered-models/search?max_results=1000")
		require.NoError(t, err)
		defer resp.Body.Close()
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(resp.Body)
		require.Equal(t, http.StatusOK, resp.StatusCode, buf.String())
		require.NotContains(t, buf.String(), `"name": "`+name+`"`)
		require.NotContains(t, buf.String(), `"name":"`+name+`"`)
	}
}

// afterRegistration runs a good pipeline (version 1 becomes champion), then
// a second one whose stored model corrupt damages once version 2 is
// registered.
func afterRegistration(corrupt func(t *testing.T, modelDir string)) func(*testing.T, *harness) error {
	return func(t *testing.T, h *harness) error {
		h.local()
		require.NoError(t, runWorkflow(t, h, "wf-good", goodRequest))
		pattern := filepath.Join(h.dir, "store", "artifacts", "*", "models", "*", "artifacts")
		good, _ := filepath.Glob(pattern)
		require.Len(t, good, 1)
		h.faults.OnCall("CreateModelVersion", func() {
			dirs, _ := filepath.Glob(pattern)
			for _, d := range dirs {
				if d != good[0] {
					corrupt(t, d)
				}
			}
		})
		return runWorkflow(t, h, "wf-bad", goodRequest)
	}
}

// aliasStayed: champion still points at version 1 and version 2 is not
// tagged verified.
func aliasStayed(t *testing.T, h *harness) {
	ctx := context.Background()
	mv, err := h.local().GetModelVersionByAlias(ctx, "m", "champion")
	require.NoError(t, err)
	require.Equal(t, 1, mv.Version, "the alias moved")
	v2, err := h.local().GetModelVersion(ctx, "m", 2)
	require.NoError(t, err, "the failure should come after registration")
	require.NotEqual(t, "true", v2.Tags[vocab.TagVerified], "version 2 is tagged verified")
}
