package workflows

import (
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/flavorflow/flavorflow/activities"
	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/modeluri"
	"github.com/flavorflow/flavorflow/store"
)

// AliasChangeName is the registered type name of AliasChange.
const AliasChangeName = "AliasChange"

// AliasChangeRequest moves an alias of a registered model to a version.
type AliasChangeRequest struct {
	ModelName string `json:"model_name"`
	Alias     string `json:"alias"`
	Version   int    `json:"version"`
	// Rollback lets the alias move backwards (an operator's decision).
	Rollback bool `json:"rollback,omitempty"`
}

// AliasChangeResult is where the alias pointed before and after.
type AliasChangeResult struct {
	ModelName string `json:"model_name"`
	Alias     string `json:"alias"`
	Version   int    `json:"version"`
	Previous  int    `json:"previous"` // 0: the alias was unset
	Changed   bool   `json:"changed"`  // false: it already pointed there
	AliasURI  string `json:"alias_uri"`
}

// AliasChange is `starter promote` and `starter rollback`: read where the
// alias points (ReadAlias), then move it with PromoteAlias, which checks the
// version exists (NotFound) and passed verification (VerificationFailed) and
// keeps aliases forward-only unless Rollback is set (AliasConflict).
//
// Why a short workflow and not an Update with a validator: there is no
// long-lived per-model workflow to send an Update to (ModelLifecycle ends
// after promoting), and the checks that matter read the model store, which
// an Update validator, being workflow code, must not do. A short workflow
// gets the same things an Update would: the change is durable and retried
// with the promote step's policy, it has a history and a UI page that say
// who moved which alias when, and the client's workflow ID (one per model,
// alias and version) collapses a repeated command onto the running change.
// The request's shape is checked first, so a malformed one fails before any
// activity.
func AliasChange(ctx workflow.Context, req AliasChangeRequest) (AliasChangeResult, error) {
	var a *activities.Activities
	res := AliasChangeResult{ModelName: req.ModelName, Alias: req.Alias, Version: req.Version}
	if err := validateAliasChange(req); err != nil {
		return res, err
	}
	ctx = withStep(ctx, StagePromoting)
	var previous activities.AliasOutput
	if err := workflow.ExecuteActivity(ctx, a.ReadAlias, activities.AliasInput{ModelName: req.ModelName, Alias: req.Alias}).Get(ctx, &previous); err != nil {
		return res, err
	}
	res.Previous = previous.Version
	var out activities.PromoteOutput
	if err := workflow.ExecuteActivity(ctx, a.PromoteAlias, activities.PromoteInput{
		ModelName: req.ModelName, Alias: req.Alias, Version: req.Version, Previous: previous.Version, Rollback: req.Rollback,
	}).Get(ctx, &out); err != nil {
		return res, err
	}
	res.Changed = out.Changed
	res.AliasURI = modeluri.Alias(req.ModelName, req.Alias)
	return res, nil
}

func validateAliasChange(req AliasChangeRequest) error {
	err := store.ValidateModelName(req.ModelName)
	if err == nil {
		err = store.ValidateAlias(req.Alias)
	}
	if err == nil && req.Version < 1 {
		err = failure.New(failure.InvalidArgument, "version %d: versions start at 1", req.Version)
	}
	if err != nil {
		return temporal.NewNonRetryableApplicationError(err.Error(), string(failure.CodeOf(err)), nil)
	}
	return nil
}
