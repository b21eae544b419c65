package tests

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/flavor"
	"github.com/flavorflow/flavorflow/workflows"
)

// The tutorial's test on the embedded store: train to offset 3, register,
// load models:/<name>@<alias>, predict(4) == 7.
func TestLifecycleTutorialOnLocalStore(t *testing.T) {
	r := newRig(t)
	res, err := r.runInTestEnv(t, "wf-tutorial", tutorialRequest("tutorial"))
	require.NoError(t, err)
	require.Equal(t, 1, res.Version)
	require.Equal(t, 3.0, res.Offset)
	require.Equal(t, "models:/tutorial/1", res.ModelURI)
	require.Equal(t, "models:/tutorial@champion", res.AliasURI)

	loaded, err := flavor.LoadModel(context.Background(), r.local, res.AliasURI, filepath.Join(t.TempDir(), "dl"))
	require.NoError(t, err)
	require.Equal(t, 7.0, loaded.Model.Predict(4))
	require.Equal(t, res.ManifestSHA256, loaded.ManifestSHA256)
	require.Equal(t, counts{1, 1, 1}, r.count(t, "tutorial", "wf-tutorial"))

	mv, err := r.local.GetModelVersion(context.Background(), "tutorial", 1)
	require.NoError(t, err)
	require.Equal(t, "models:/"+res.ModelID, mv.Source)
	require.Equal(t, res.RunID, mv.RunID)
	require.Equal(t, res.ManifestSHA256, mv.Tags["flavorflow.manifest_sha256"])
	require.Equal(t, "true", mv.Tags["flavorflow.verified"])

	// Running the same workflow ID again finds everything and makes nothing new.
	again, err := r.runInTestEnv(t, "wf-tutorial", tutorialRequest("tutorial"))
	require.NoError(t, err)
	require.Equal(t, res.Version, again.Version)
	require.Equal(t, res.RunID, again.RunID)
	require.Equal(t, res.ModelID, again.ModelID)
	require.Len(t, r.allVersions(t, "tutorial"), 1)
}

// Every call that writes can commit and then lose its answer; the activity
// fails, Temporal retries it, and the retry must find what was written.
func TestExactlyOnceWhenAnswersAreLost(t *testing.T) {
	for _, method := range []string{
		"CreateExperiment", "CreateRun", "LogBatch", "CreateLoggedModel", "PutArtifact",
		"FinalizeLoggedModel", "UpdateRun", "CreateRegisteredModel", "CreateModelVersion",
		"SetModelVersionTag", "SetAlias",
	} {
		t.Run(method, func(t *testing.T) {
			r := newRig(t)
			r.faults.FailAfterCommit(method, 2)
			res, err := r.runInTestEnv(t, "wf-"+method, tutorialRequest("m"))
			require.NoError(t, err)
			require.GreaterOrEqual(t, r.faults.Injected(method), 1, "the fault was not exercised")
			require.Equal(t, counts{1, 1, 1}, r.count(t, "m", "wf-"+method))
			require.Len(t, r.allVersions(t, "m"), 1)
			require.Equal(t, 1, r.aliasVersion(t, "m", "champion"))
			require.Equal(t, 1, res.Version)
		})
	}
}

// A byte flipped in the stored model between registration and verification
// fails verification with ChecksumMismatch, and the alias stays put.
func TestCorruptedArtifactIsNeverPromoted(t *testing.T) {
	r := newRig(t)
	first, err := r.runInTestEnv(t, "wf-good", tutorialRequest("c"))
	require.NoError(t, err)
	require.Equal(t, 1, r.aliasVersion(t, "c", "champion"))

	r.faults.OnCall("CreateModelVersion", func() {
		// Corrupt the newest logged model's data file in the store on disk.
		matches, _ := filepath.Glob(filepath.Join(r.dir, "store", "artifacts", "*", "models", "*", "artifacts", flavor.DataFile))
		for _, m := range matches {
			if !strings.Contains(m, first.ModelID) {
				flipByte(t, m)
			}
		}
	})
	_, err = r.runInTestEnv(t, "wf-bad", tutorialRequest("c"))
	require.Error(t, err)
	require.Equal(t, string(failure.ChecksumMismatch), workflows.ErrorType(err), err.Error())
	require.Equal(t, first.Version, r.aliasVersion(t, "c", "champion"), "alias moved to a corrupt version")
	for _, mv := range r.allVersions(t, "c") {
		if mv.Version != first.Version {
			require.NotEqual(t, "true", mv.Tags["flavorflow.verified"])
		}
	}
}

func flipByte(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	b[len(b)/2] ^= 0x01
	require.NoError(t, os.WriteFile(path, b, 0o644))
}

// A LogBatch that fails before it reaches the store (a 5xx before commit)
// is retried; the retry finds the run by its tag and must still log the
// training params and metrics on it.
func TestRunKeepsParamsWhenLogBatchFailsBeforeCommit(t *testing.T) {
	r := newRig(t)
	r.faults.FailBeforeCommit("LogBatch", 1)
	res, err := r.runInTestEnv(t, "wf-logbatch", tutorialRequest("p"))
	require.NoError(t, err)
	require.Equal(t, 1, r.faults.Injected("LogBatch"))
	run, err := r.local.GetRun(context.Background(), res.RunID)
	require.NoError(t, err)
	require.Equal(t, "3", run.Params["samples"], "params missing after the retry: %v", run.Params)
	keys := map[string]bool{}
	for _, m := range run.Metrics {
		keys[m.Key] = true
	}
	require.True(t, keys["training_mse"] && keys["offset"], "metrics missing after the retry: %v", run.Metrics)
	require.Equal(t, counts{1, 1, 1}, r.count(t, "p", "wf-logbatch"))
}
