package tests

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/store"
	"github.com/flavorflow/flavorflow/vocab"
	"github.com/flavorflow/flavorflow/workflows"
)

// leftovers is what a failed pipeline left in the store that nobody will
// finish: RUNNING runs, PENDING logged models, whether the registered model
// exists, and its versions.
type leftovers struct {
	runningRuns, pendingModels int
	modelExists                bool
	versions                   []store.ModelVersion
}

func (r *rig) leftovers(t *testing.T, model, wfID string) leftovers {
	t.Helper()
	ctx := context.Background()
	var l leftovers
	if exp, err := r.local.GetExperimentByName(ctx, experiment); err == nil {
		runs, err := r.local.SearchRunsByTag(ctx, exp.ID, vocab.TagWorkflowID, wfID)
		require.NoError(t, err)
		for _, run := range runs {
			if run.Status == store.RunRunning {
				l.runningRuns++
			}
		}
		lms, err := r.local.SearchLoggedModelsByTag(ctx, exp.ID, vocab.TagIdempotencyKey, wfID)
		require.NoError(t, err)
		for _, lm := range lms {
			if lm.Status == store.LoggedModelPending {
				l.pendingModels++
			}
		}
	}
	if _, err := r.local.GetRegisteredModel(ctx, model); err == nil {
		l.modelExists = true
		l.versions = r.allVersions(t, model)
	}
	return l
}

// TestFailedPipelineLeavesNoOrphans: a store that keeps answering with
// something no retry fixes, at each step that creates objects, fails the
// pipeline; it must not leave a RUNNING run, a PENDING logged model, an
// empty registered model it created, or an unmarked version. A re-run of
// the same workflow ID once the store has recovered completes with exactly
// one version.
func TestFailedPipelineLeavesNoOrphans(t *testing.T) {
	for _, tc := range []struct {
		method string
		check  func(t *testing.T, l leftovers)
	}{
		// The upload keeps failing: run and logged model were created.
		{"PutArtifact", func(t *testing.T, l leftovers) {
			require.False(t, l.modelExists, "no registered model yet")
		}},
		// Registration keeps failing: the pipeline created the registered
		// model, which has no version.
		{"CreateModelVersion", func(t *testing.T, l leftovers) {
			require.False(t, l.modelExists, "the empty registered model the pipeline created is deleted")
		}},
		// The alias set keeps failing (a malformed reply): the version is
		// registered and verified but not promoted.
		{"SetAlias", func(t *testing.T, l leftovers) {
			require.True(t, l.modelExists)
			require.Len(t, l.versions, 1)
			require.Equal(t, vocab.PipelineFailed, l.versions[0].Tags[vocab.TagPipelineStatus])
			require.Equal(t, string(failure.BadResponse), l.versions[0].Tags[vocab.TagPipelineError])
		}},
	} {
		t.Run(tc.method, func(t *testing.T) {
			r := newRig(t)
			id := "wf-orphans-" + tc.method
			r.faults.FailWith(tc.method, 1<<30, failure.BadResponse)
			_, err := r.runInTestEnv(t, id, tutorialRequest("o"))
			require.Error(t, err)
			require.Equal(t, string(failure.BadResponse), workflows.ErrorType(err), err.Error())
			l := r.leftovers(t, "o", id)
			require.Zero(t, l.runningRuns, "a run of the failed pipeline is still RUNNING")
			require.Zero(t, l.pendingModels, "a logged model of the failed pipeline is still PENDING")
			tc.check(t, l)
			require.NoDirExists(t, filepath.Join(r.dir, "work", id), "the failed pipeline's work directory is removed")

			r.faults.Clear()
			res, err := r.runInTestEnv(t, id, tutorialRequest("o"))
			require.NoError(t, err)
			require.Equal(t, 1, res.Version)
			vs := r.allVersions(t, "o")
			require.Len(t, vs, 1)
			require.Equal(t, "true", vs[0].Tags[vocab.TagVerified])
			require.NotEqual(t, vocab.PipelineFailed, vs[0].Tags[vocab.TagPipelineStatus])
			require.Equal(t, 1, r.aliasVersion(t, "o", "champion"))
			l = r.leftovers(t, "o", id)
			require.Zero(t, l.runningRuns)
			require.Zero(t, l.pendingModels)
			run, err := r.local.GetRun(context.Background(), res.RunID)
			require.NoError(t, err)
			require.Equal(t, store.RunFinished, run.Status)
			require.NoDirExists(t, filepath.Join(r.dir, "work", id), "the pipeline's work directory is removed")
		})
	}
}
