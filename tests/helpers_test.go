package tests

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/flavorflow/flavorflow/activities"
	"github.com/flavorflow/flavorflow/internal/testrig/faultstore"
	"github.com/flavorflow/flavorflow/store"
	"github.com/flavorflow/flavorflow/store/localstore"
	"github.com/flavorflow/flavorflow/vocab"
	"github.com/flavorflow/flavorflow/workflows"
)

const experiment = "flavorflow-tests"

// rig is a local store (behind a fault injector) and the activities on it.
type rig struct {
	dir    string
	local  *localstore.Store
	faults *faultstore.Store
	acts   *activities.Activities
}

func newRig(t *testing.T) *rig {
	t.Helper()
	dir := t.TempDir()
	local, err := localstore.Open(filepath.Join(dir, "store"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = local.Close() })
	fs := faultstore.New(local)
	return &rig{dir: dir, local: local, faults: fs, acts: &activities.Activities{
		Store: fs, Experiment: experiment, WorkDir: filepath.Join(dir, "work"), UploadParallelism: 2,
	}}
}

// tutorialRequest trains on y = x + 3.
func tutorialRequest(name string) workflows.LifecycleRequest {
	return workflows.LifecycleRequest{
		ModelName: name, Alias: "champion",
		Data: vocab.TrainingData{Pairs: []vocab.Sample{{X: 1, Y: 4}, {X: 2, Y: 5}, {X: 10, Y: 13}}},
	}
}

// runInTestEnv runs the workflow with the rig's real activities in Temporal's
// test environment under workflow ID id.
func (r *rig) runInTestEnv(t *testing.T, id string, req workflows.LifecycleRequest) (workflows.LifecycleResult, error) {
	t.Helper()
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestWorkflowEnvironment()
	env.SetTestTimeout(2 * 60e9)
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: id})
	env.RegisterWorkflowWithOptions(workflows.ModelLifecycle, workflow.RegisterOptions{Name: workflows.WorkflowName})
	env.RegisterActivity(r.acts)
	env.ExecuteWorkflow(workflows.WorkflowName, req)
	require.True(t, env.IsWorkflowCompleted())
	if err := env.GetWorkflowError(); err != nil {
		return workflows.LifecycleResult{}, err
	}
	var res workflows.LifecycleResult
	require.NoError(t, env.GetWorkflowResult(&res))
	return res, nil
}

// counts are the objects the store holds for one workflow.
type counts struct{ runs, loggedModels, versions int }

func (r *rig) count(t *testing.T, model, wfID string) counts {
	t.Helper()
	ctx := context.Background()
	var c counts
	exp, err := r.local.GetExperimentByName(ctx, experiment)
	if err != nil {
		return c
	}
	runs, err := r.local.SearchRunsByTag(ctx, exp.ID, vocab.TagWorkflowID, wfID)
	require.NoError(t, err)
	lms, err := r.local.SearchLoggedModelsByTag(ctx, exp.ID, vocab.TagWorkflowID, wfID)
	require.NoError(t, err)
	mvs, err := r.local.SearchModelVersions(ctx, model, vocab.TagWorkflowID, wfID)
	if err != nil {
		mvs = nil
	}
	return counts{len(runs), len(lms), len(mvs)}
}

// allVersions lists every version of model.
func (r *rig) allVersions(t *testing.T, model string) []store.ModelVersion {
	t.Helper()
	mvs, err := r.local.SearchModelVersions(context.Background(), model, "", "")
	require.NoError(t, err)
	return mvs
}

func (r *rig) aliasVersion(t *testing.T, model, alias string) int {
	t.Helper()
	mv, err := r.local.GetModelVersionByAlias(context.Background(), model, alias)
	if err != nil {
		return 0
	}
	return mv.Version
}
