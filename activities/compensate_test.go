package activities

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/internal/testrig/faultstore"
	"github.com/flavorflow/flavorflow/store"
	"github.com/flavorflow/flavorflow/vocab"
)

// TestCompensateAfterRetryableUploadFailures: uploads kept failing with a
// retryable error (a connection reset) until the step gave up, so the run
// is RUNNING and the logged model PENDING. Compensation ends both FAILED,
// leaves what other workflows created alone, and a re-run of the same
// workflow ID revives the run and replaces the logged model.
func TestCompensateAfterRetryableUploadFailures(t *testing.T) {
	ctx := context.Background()
	w, _, st, save := twoWorkers(t)
	fs := faultstore.New(st)
	w.Store = fs
	saved, err := w.saveModel(ctx, save)
	require.NoError(t, err)
	fs.FailBeforeCommit("PutArtifact", 1<<30)
	_, err = w.logModel(ctx, logInput(save, saved))
	require.True(t, failure.Has(err, failure.ServerUnavailable), "%v", err)
	exp, err := st.GetExperimentByName(ctx, "e")
	require.NoError(t, err)
	wfID, _ := workflowKey(ctx)
	lms, err := st.SearchLoggedModelsByTag(ctx, exp.ID, vocab.TagIdempotencyKey, wfID)
	require.NoError(t, err)
	require.Len(t, lms, 1)
	require.Equal(t, store.LoggedModelPending, lms[0].Status, "a retryable failure leaves the upload resumable")

	// Registered models: "m" created by another workflow and empty, "mine"
	// created by this one but holding a version, "empty" created by this
	// one and empty.
	_, err = st.CreateRegisteredModel(ctx, "m", store.Tags{vocab.TagCreatedBy: "someone-else"})
	require.NoError(t, err)
	out, err := w.compensate(ctx, CompensateInput{ModelName: "m", ErrorType: string(failure.ServerUnavailable)})
	require.NoError(t, err)
	require.Len(t, out.RunsFailed, 1)
	require.Equal(t, []string{lms[0].ID}, out.LoggedModelsFailed)
	require.False(t, out.RegisteredModelDeleted, "another workflow's registered model is not ours to delete")
	_, err = st.GetRegisteredModel(ctx, "m")
	require.NoError(t, err)
	run, err := st.GetRun(ctx, out.RunsFailed[0])
	require.NoError(t, err)
	require.Equal(t, store.RunFailed, run.Status)
	lm, err := st.GetLoggedModel(ctx, lms[0].ID)
	require.NoError(t, err)
	require.Equal(t, store.LoggedModelUploadFailed, lm.Status)

	// Idempotent: a retry of the compensation changes nothing more.
	again, err := w.compensate(ctx, CompensateInput{ModelName: "m"})
	require.NoError(t, err)
	require.Empty(t, again.RunsFailed)
	require.Empty(t, again.LoggedModelsFailed)

	// The store recovers; a re-run of the workflow ID completes on the
	// same run with a new logged model.
	fs.Clear()
	logged, err := w.logModel(ctx, logInput(save, saved))
	require.NoError(t, err)
	require.Equal(t, run.ID, logged.RunID)
	require.NotEqual(t, lms[0].ID, logged.ModelID)
	run, err = st.GetRun(ctx, run.ID)
	require.NoError(t, err)
	require.Equal(t, store.RunFinished, run.Status)
}

// TestCompensateRegisteredModel: an empty registered model is deleted only
// when this workflow created it; versions are tagged with the failure
// unless verified and holding an alias (an earlier success of the same ID).
func TestCompensateRegisteredModel(t *testing.T) {
	ctx := context.Background()
	w, _, st, _ := twoWorkers(t)
	wfID, _ := workflowKey(ctx)
	_, err := st.CreateRegisteredModel(ctx, "empty", store.Tags{vocab.TagCreatedBy: wfID})
	require.NoError(t, err)
	out, err := w.compensate(ctx, CompensateInput{ModelName: "empty", ErrorType: string(failure.BadResponse)})
	require.NoError(t, err)
	require.True(t, out.RegisteredModelDeleted)
	_, err = st.GetRegisteredModel(ctx, "empty")
	require.True(t, failure.Has(err, failure.NotFound), "%v", err)

	_, err = st.CreateRegisteredModel(ctx, "full", store.Tags{vocab.TagCreatedBy: wfID})
	require.NoError(t, err)
	for range 2 {
		_, err = st.CreateModelVersion(ctx, store.CreateModelVersionRequest{Name: "full", Source: "mlflow-artifacts:/0/x", Tags: store.Tags{vocab.TagWorkflowID: wfID}})
		require.NoError(t, err)
	}
	require.NoError(t, st.SetModelVersionTag(ctx, "full", 1, vocab.TagVerified, "true"))
	require.NoError(t, st.SetAlias(ctx, "full", "prod", 1))
	out, err = w.compensate(ctx, CompensateInput{ModelName: "full", ErrorType: string(failure.BadResponse)})
	require.NoError(t, err)
	require.False(t, out.RegisteredModelDeleted)
	require.Equal(t, []int{2}, out.VersionsTagged)
	mv, err := st.GetModelVersion(ctx, "full", 2)
	require.NoError(t, err)
	require.Equal(t, vocab.PipelineFailed, mv.Tags[vocab.TagPipelineStatus])
	require.Equal(t, string(failure.BadResponse), mv.Tags[vocab.TagPipelineError])
	mv, err = st.GetModelVersion(ctx, "full", 1)
	require.NoError(t, err)
	require.Empty(t, mv.Tags[vocab.TagPipelineStatus], "the promoted version of an earlier success is left alone")

	// A cancelled pipeline's version says so.
	out, err = w.compensate(ctx, CompensateInput{ModelName: "full", Cancelled: true})
	require.NoError(t, err)
	require.Equal(t, []int{2}, out.VersionsTagged)
	mv, err = st.GetModelVersion(ctx, "full", 2)
	require.NoError(t, err)
	require.Equal(t, vocab.PipelineCancelled, mv.Tags[vocab.TagPipelineStatus])
}

// TestRegisterAfterAnotherPipelineDeletedTheModel: pipeline B found the
// registered model pipeline A created; A failed and its compensation
// deleted the model while empty before B created its version. B's attempt
// fails retryably, and its retry registers (the model created again).
func TestRegisterAfterAnotherPipelineDeletedTheModel(t *testing.T) {
	ctx := context.Background()
	w, _, st, _ := twoWorkers(t)
	fs := faultstore.New(st)
	w.Store = fs
	_, err := st.CreateRegisteredModel(ctx, "shared", store.Tags{vocab.TagCreatedBy: "pipeline-a"})
	require.NoError(t, err)
	fs.OnCall("CreateModelVersion", func() {
		fs.OnCall("CreateModelVersion", nil)
		require.NoError(t, st.DeleteRegisteredModel(ctx, "shared"))
	})
	expID, err := store.EnsureExperiment(ctx, st, "e")
	require.NoError(t, err)
	lm, err := st.CreateLoggedModel(ctx, store.CreateLoggedModelRequest{ExperimentID: expID, Name: "model"})
	require.NoError(t, err)
	_, err = st.FinalizeLoggedModel(ctx, lm.ID, store.LoggedModelReady)
	require.NoError(t, err)
	in := RegisterInput{ModelName: "shared", ModelID: lm.ID, ManifestSHA256: "aa"}
	_, err = w.registerModel(ctx, in)
	require.Error(t, err)
	require.True(t, failure.Retryable(failure.CodeOf(err)), "a model deleted under us is retried, not fatal: %v", err)
	out, err := w.registerModel(ctx, in)
	require.NoError(t, err)
	require.Equal(t, 1, out.Version)
}
