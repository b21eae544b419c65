package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/fakemodel"
	"github.com/flavorflow/flavorflow/flavor"
	"github.com/flavorflow/flavorflow/internal/testrig/testenv"
	"github.com/flavorflow/flavorflow/mlflow"
	"github.com/flavorflow/flavorflow/store"
	"github.com/flavorflow/flavorflow/store/localstore"
	"github.com/flavorflow/flavorflow/vocab"
)

// registerWithPython logs the tutorial's FakeModel(3) with its own Python
// flavor (tests/python/tutorial_flavor.py) and registers it as name on the
// MLflow server at url, as a Python user would. It returns the version.
func registerWithPython(t *testing.T, url, name string) string {
	t.Helper()
	python := testenv.Binary(t, "FLAVORFLOW_PYTHON", "python")
	script := `
import sys
import mlflow
import tutorial_flavor
mlflow.set_tracking_uri(sys.argv[1])
mlflow.set_experiment("python-users")
with mlflow.start_run():
    info = tutorial_flavor.log_model(tutorial_flavor.FakeModel(3), name="model", registered_model_name=sys.argv[2])
print(info.registered_model_version)
`
	return runPython(t, python, script, url, name)
}

func runPython(t *testing.T, python, script string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, append([]string{"-c", script}, args...)...)
	cmd.Dir = filepath.Join(testenv.RepoRoot(), "tests", "python")
	cmd.Env = append(cmd.Environ(), "PYTHONPATH="+cmd.Dir, "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR=false")
	out, err := cmd.Output()
	var stderr string
	if ee, ok := err.(*exec.ExitError); ok {
		stderr = string(ee.Stderr)
	}
	require.NoError(t, err, "python: %s", stderr)
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1]
}

// TestVerifyPythonRegisteredVersion, end to end: a version registered by
// Python MLflow on a real MLflow server cannot be promoted
// (VerificationFailed) until it is verified. `starter verify`,
// through the VerifyVersion workflow on the dev server, records its
// manifest and verifies it; then `starter promote` succeeds, `starter
// predict` loads it checked against the recorded hash, and Python still
// loads it.
func TestVerifyPythonRegisteredVersion(t *testing.T) {
	t.Parallel()
	ml := testenv.SharedMLflow(t, testenv.MLflowOptions{})
	name := "py-verify-" + strings.ReplaceAll(time.Now().Format("150405.000000"), ".", "")
	require.Equal(t, "1", registerWithPython(t, ml.URL, name))

	c := newCLIEnv(t)
	c.env = append(c.env, "MLFLOW_TRACKING_URI="+ml.URL)
	c.startWorker()

	r := c.starter(nil, "promote", "--model", name, "--alias", "champion", "--version", "1")
	require.Equal(t, 2, r.code, "an unverified version is not promoted\n%s", r)
	require.Contains(t, r.stderr, "VerificationFailed")

	var v struct {
		Model           string    `json:"model"`
		Version         int       `json:"version"`
		Flavor          string    `json:"flavor"`
		Offset          float64   `json:"offset"`
		ManifestSHA256  string    `json:"manifest_sha256"`
		ManifestCreated bool      `json:"manifest_created"`
		Inputs          []float64 `json:"inputs"`
		Predictions     []float64 `json:"predictions"`
		TemporalURL     string    `json:"temporal_ui_url"`
	}
	c.okJSON(&v, "verify", "--model", name, "--version", "1")
	require.Equal(t, "my_flavor", v.Flavor)
	require.Equal(t, 3.0, v.Offset)
	require.True(t, v.ManifestCreated)
	require.Equal(t, []float64{4, 0}, v.Inputs, "pipeline.verify_inputs from temporal-dev.yml")
	require.Equal(t, []float64{7, 3}, v.Predictions)
	require.Contains(t, v.TemporalURL, "/workflows/verify-"+name+"-v1/")

	direct, err := mlflow.New(mlflow.Config{TrackingURI: ml.URL})
	require.NoError(t, err)
	defer direct.Close()
	mv, err := direct.GetModelVersion(context.Background(), name, 1)
	require.NoError(t, err)
	require.Equal(t, v.ManifestSHA256, mv.Tags[vocab.TagManifestSHA256])
	require.Equal(t, "true", mv.Tags[vocab.TagVerified])
	var rec map[string][]float64
	require.NoError(t, json.Unmarshal([]byte(mv.Tags[vocab.TagVerifyPredictions]), &rec))
	require.Equal(t, []float64{7, 3}, rec["predictions"])

	// Again: nothing rebuilt, same hash; text output.
	r = c.ok("verify", "--model", name, "--version", "1", "--inputs", "10")
	require.Contains(t, r.stdout, "Version 1 of "+name+" verified (flavor my_flavor, offset 3)")
	require.Contains(t, r.stdout, "matches the recorded hash")
	require.Contains(t, r.stdout, "predict(10) = 13")

	r = c.ok("promote", "--model", name, "--alias", "champion", "--version", "1")
	require.Contains(t, r.stdout, "now points at version 1")
	r = c.ok("predict", "models:/"+name+"@champion", "4")
	require.Contains(t, r.stdout, "predict(4) = 7")

	// The uploaded manifest does not get in Python's way.
	python := testenv.Binary(t, "FLAVORFLOW_PYTHON", "python")
	got := runPython(t, python, `
import sys
import mlflow
import tutorial_flavor
mlflow.set_tracking_uri(sys.argv[1])
print(tutorial_flavor.load_model("models:/" + sys.argv[2] + "@champion").predict(4))
`, ml.URL, name)
	require.Equal(t, "7", got)

	r = c.starter(nil, "verify", "--model", name, "--version", "7")
	require.Equal(t, 2, r.code, "%s", r)
	require.Contains(t, r.stderr, "NotFound")
}

// TestPredictRefusesTamperedVersion, from the outside: with model.json and
// MLmodel edited at rest (offset 3 -> 30) and the manifest deleted,
// `starter predict models:/NAME/1 4` must not print 34 and exit 0 but fail
// with ChecksumMismatch, exit 2, on both stores.
func TestPredictRefusesTamperedVersion(t *testing.T) {
	t.Parallel()
	c := &cliEnv{t: t, bin: binaries(t), dir: t.TempDir()}
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !strings.HasPrefix(k, "MLFLOW_") && !strings.HasPrefix(k, "FLAVORFLOW_") {
			c.env = append(c.env, kv)
		}
	}
	c.env = append(c.env, "FLAVORFLOW_CONFIG=")
	ml := testenv.SharedMLflow(t, testenv.MLflowOptions{})
	remote, err := mlflow.New(mlflow.Config{TrackingURI: ml.URL})
	require.NoError(t, err)
	defer remote.Close()
	localDir := filepath.Join(t.TempDir(), "store")
	local, err := localstore.Open(localDir)
	require.NoError(t, err)
	defer local.Close()
	name := "tampered-" + strings.ReplaceAll(time.Now().Format("150405.000000"), ".", "")
	for _, tc := range []struct {
		uri, artifacts string
		st             store.Store
	}{{localDir, filepath.Join(localDir, "artifacts"), local}, {ml.URL, ml.ArtifactsDir, remote}} {
		root := registerFakeModel(t, tc.st, name, 3)
		r := c.ok("predict", "--tracking-uri", tc.uri, "models:/"+name+"/1", "4")
		require.Contains(t, r.stdout, "predict(4) = 7")

		evil := filepath.Join(t.TempDir(), "evil")
		_, err := flavor.SaveModel(context.Background(), evil, fakemodel.New(30), flavor.SaveOptions{})
		require.NoError(t, err)
		for _, f := range []string{flavor.DataFile, flavor.MLmodelFile} {
			b, err := os.ReadFile(filepath.Join(evil, f))
			require.NoError(t, err)
			require.NoError(t, tc.st.PutArtifact(context.Background(), root, f, store.Source{
				Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }, Size: int64(len(b))}))
		}
		rel := strings.TrimLeft(strings.TrimPrefix(root, "mlflow-artifacts:/"), "/")
		require.NoError(t, os.Remove(filepath.Join(tc.artifacts, filepath.FromSlash(rel), flavor.ManifestFile)))

		r = c.starter(nil, "predict", "--tracking-uri", tc.uri, "models:/"+name+"/1", "4")
		require.Equal(t, 2, r.code, "%s: %s", tc.uri, r)
		require.Contains(t, r.stderr, "ChecksumMismatch")
		require.NotContains(t, r.stdout, "34")
	}
}

// registerFakeModel saves, logs and registers FakeModel(offset) as the
// next version of name the way a pipeline does (the version records the
// manifest hash); it returns the logged model's artifact root.
func registerFakeModel(t *testing.T, st store.Store, name string, offset float64) string {
	t.Helper()
	ctx := context.Background()
	expID, err := store.EnsureExperiment(ctx, st, "registered-by-test")
	require.NoError(t, err)
	dir := filepath.Join(t.TempDir(), "model")
	_, err = flavor.SaveModel(ctx, dir, fakemodel.New(offset), flavor.SaveOptions{})
	require.NoError(t, err)
	logged, err := flavor.LogModel(ctx, st, dir, flavor.LogOptions{ExperimentID: expID, Name: "model"})
	require.NoError(t, err)
	if _, err := st.CreateRegisteredModel(ctx, name, nil); err != nil {
		require.True(t, failure.Has(err, failure.AlreadyExists), "%v", err)
	}
	_, err = st.CreateModelVersion(ctx, store.CreateModelVersionRequest{Name: name, Source: logged.ModelURI, ModelID: logged.ModelID,
		Tags: store.Tags{vocab.TagManifestSHA256: logged.ManifestSHA256}})
	require.NoError(t, err)
	return logged.ArtifactURI
}

// `starter verify` has examples in --help and refuses bad usage (exit 2)
// before contacting anything.
func TestVerifyUsage(t *testing.T) {
	t.Parallel()
	c := &cliEnv{t: t, bin: binaries(t), dir: t.TempDir(), env: append(os.Environ(), "FLAVORFLOW_CONFIG=")}
	h := c.starter(nil, "verify", "--help")
	require.Equal(t, 0, h.code, "%s", h)
	require.Contains(t, h.stdout+h.stderr, "Example")
	require.Contains(t, c.ok("--help").stdout, "\n  verify ")
	for _, args := range [][]string{{"verify", "--model", "m"}, {"verify", "--version", "1"}, {"verify", "--model", "m", "--version", "0"},
		{"verify", "--model", "m", "--version", "1", "--inputs", "4,x"}, {"verify", "--model", "a/b", "--version", "1"}} {
		r := c.starter(nil, args...)
		require.Equal(t, 2, r.code, "%v\n%s", args, r)
		require.NotEmpty(t, r.stderr)
	}
}
