package activities

import (
	"context"
	"errors"
	"time"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/store"
	"github.com/flavorflow/flavorflow/vocab"
)

// CompensateInput names the failed pipeline's model and why it failed.
type CompensateInput struct {
	ModelName string `json:"model_name"`
	ErrorType string `json:"error_type,omitempty"`
	Error     string `json:"error,omitempty"`
	Cancelled bool   `json:"cancelled,omitempty"`
}

// CompensateOutput is what compensation changed.
type CompensateOutput struct {
	RunsFailed             []string `json:"runs_failed,omitempty"`
	LoggedModelsFailed     []string `json:"logged_models_failed,omitempty"`
	VersionsTagged         []int    `json:"versions_tagged,omitempty"`
	RegisteredModelDeleted bool     `json:"registered_model_deleted,omitempty"`
}

// Compensate undoes, as far as the store allows, what a failed or cancelled
// pipeline created, found by the workflow ID it tagged everything with:
// its RUNNING runs end FAILED, its PENDING logged models end
// LOGGED_MODEL_UPLOAD_FAILED, a version it registered that did not end
// verified and promoted is tagged failed (with the error type) so operators
// and promote can see it, and a registered model it created that still has
// no version is deleted. Every step is idempotent, so a retry redoes only
// what is left; objects of other workflows are never touched. A re-run of
// the same workflow ID revives or replaces what this marks failed.
func (a *Activities) Compensate(ctx context.Context, in CompensateInput) (CompensateOutput, error) {
	return run(ctx, a, "compensating", a.compensate, in)
}

func (a *Activities) compensate(ctx context.Context, in CompensateInput) (CompensateOutput, error) {
	wfID, _ := workflowKey(ctx)
	var out CompensateOutput
	var errs []error
	exp, err := a.Store.GetExperimentByName(ctx, a.Experiment)
	switch {
	case err == nil:
		errs = append(errs, a.failRuns(ctx, exp.ID, wfID, &out), a.failLoggedModels(ctx, exp.ID, wfID, &out))
	case !failure.Has(err, failure.NotFound):
		errs = append(errs, err)
	}
	if in.ModelName != "" {
		errs = append(errs, a.tagFailedVersions(ctx, in, wfID, &out), a.deleteEmptyModel(ctx, in.ModelName, wfID, &out))
	}
	err = errors.Join(errs...)
	a.logger(ctx).Info("compensated a failed pipeline", "runs_failed", out.RunsFailed, "logged_models_failed", out.LoggedModelsFailed,
		"versions_tagged", out.VersionsTagged, "registered_model_deleted", out.RegisteredModelDeleted, "error", err)
	if err != nil {
		// Retryable whatever the cause: the next attempt redoes what is left.
		return out, failure.Wrap(failure.Internal, err, "compensation incomplete")
	}
	return out, nil
}

func (a *Activities) failRuns(ctx context.Context, expID, wfID string, out *CompensateOutput) error {
	runs, err := a.Store.SearchRunsByTag(ctx, expID, vocab.TagWorkflowID, wfID)
	if err != nil {
		return err
	}
	for _, r := range runs {
		if r.Status != store.RunRunning {
			continue
		}
		if err := a.Store.UpdateRun(ctx, r.ID, store.RunFailed, time.Now().UnixMilli()); err != nil {
			return err
		}
		out.RunsFailed = append(out.RunsFailed, r.ID)
	}
	return nil
}

func (a *Activities) failLoggedModels(ctx context.Context, expID, wfID string, out *CompensateOutput) error {
	lms, err := a.Store.SearchLoggedModelsByTag(ctx, expID, vocab.TagIdempotencyKey, wfID)
	if err != nil {
		return err
	}
	for _, lm := range lms {
		if lm.Status != store.LoggedModelPending {
			continue
		}
		if _, err := a.Store.FinalizeLoggedModel(ctx, lm.ID, store.LoggedModelUploadFailed); err != nil {
			return err
		}
		out.LoggedModelsFailed = append(out.LoggedModelsFailed, lm.ID)
	}
	return nil
}

// tagFailedVersions tags the workflow's versions, except one that is
// verified and holds an alias: an earlier, successful run of the same
// workflow ID promoted it, and this failure says nothing against it.
func (a *Activities) tagFailedVersions(ctx context.Context, in CompensateInput, wfID string, out *CompensateOutput) error {
	versions, err := a.Store.SearchModelVersions(ctx, in.ModelName, vocab.TagWorkflowID, wfID)
	if failure.Has(err, failure.NotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	status, errType := vocab.PipelineFailed, in.ErrorType
	switch {
	case in.Cancelled:
		status, errType = vocab.PipelineCancelled, ""
	case errType == "":
		errType = string(failure.Internal)
	}
	for _, mv := range versions {
		if mv.Tags[vocab.TagVerified] == "true" && len(mv.Aliases) > 0 {
			continue
		}
		if mv.Tags[vocab.TagPipelineStatus] == status && mv.Tags[vocab.TagPipelineError] == errType {
			continue
		}
		if errType != "" {
			if err := a.Store.SetModelVersionTag(ctx, in.ModelName, mv.Version, vocab.TagPipelineError, errType); err != nil {
				return err
			}
		}
		// Status last: a version tagged failed carries its error type.
		if err := a.Store.SetModelVersionTag(ctx, in.ModelName, mv.Version, vocab.TagPipelineStatus, status); err != nil {
			return err
		}
		out.VersionsTagged = append(out.VersionsTagged, mv.Version)
	}
	return nil
}

// deleteEmptyModel deletes the registered model when this workflow created
// it and it has no version. Between the count and the delete another
// pipeline could register a first version (MLflow has no conditional
// delete); that needs two pipelines on one new model name at the same
// moment, one of them failing, and is the accepted risk of best effort.
func (a *Activities) deleteEmptyModel(ctx context.Context, name, wfID string, out *CompensateOutput) error {
	rm, err := a.Store.GetRegisteredModel(ctx, name)
	if failure.Has(err, failure.NotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if rm.Tags[vocab.TagCreatedBy] != wfID || len(rm.Aliases) > 0 {
		return nil
	}
	versions, err := a.Store.SearchModelVersions(ctx, name, "", "")
	if err != nil || len(versions) > 0 {
		return err
	}
	if err := a.Store.DeleteRegisteredModel(ctx, name); err != nil && !failure.Has(err, failure.NotFound) {
		return err
	}
	out.RegisteredModelDeleted = true
	return nil
}
