package workflows

import (
	"context"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/flavorflow/flavorflow/activities"
	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/vocab"
)

// AliasChangeName is the type name of the short AliasChange workflow that
// `starter promote` started before the alias keeper existed. Nothing starts
// it any more; `starter status` still renders the finished ones.
const AliasChangeName = "AliasChange"

// AliasKeeperName is the alias keeper's registered workflow type.
const AliasKeeperName = activities.AliasKeeperName

// AliasChangeRequest and AliasChangeResult are the keeper's update argument
// and answer (defined with the activity that sends them).
type (
	AliasChangeRequest = activities.AliasChangeRequest
	AliasChangeResult  = activities.AliasChangeResult
	// AliasHistory is the answer of the keeper's AliasHistoryQuery.
	AliasHistory = activities.AliasHistory
)

// AliasHistoryQuery returns a keeper's AliasHistory.
const AliasHistoryQuery = activities.AliasHistoryQuery

// AliasKeeperID is the workflow ID of the keeper of alias on model for the
// workers of taskQueue: "alias-" + IDPart(model) + "@" + alias + "@" +
// IDPart(taskQueue). The task queue is part of it because a keeper applies
// changes with its own workers, hence their store: two deployments on one
// namespace (staging on an embedded store, production on MLflow) each get
// their own keeper, and one never moves the other's alias or answers for
// it. IDPart escapes '@' and aliases cannot contain it, so the ID names
// exactly one (queue, model, alias).
func AliasKeeperID(taskQueue, model, alias string) string {
	return "alias-" + IDPart(model) + "@" + alias + "@" + IDPart(taskQueue)
}

// ChangeAlias is `starter promote` and `starter rollback`: it sends req to
// the alias's keeper with Update-with-Start and waits for the outcome.
// updateID must be unique per command (a repeated command is a new change:
// the alias may have moved since). It returns the keeper's ID and run.
func ChangeAlias(ctx context.Context, c client.Client, taskQueue, updateID string, req AliasChangeRequest) (res AliasChangeResult, keeperID, runID string, err error) {
	if err := validateAliasChange(req); err != nil {
		return res, "", "", err
	}
	keeperID = AliasKeeperID(taskQueue, req.ModelName, req.Alias)
	res, runID, err = activities.ChangeAlias(ctx, c, taskQueue, keeperID, updateID, req)
	return res, keeperID, runID, err
}

// validateAliasChange rejects a request that can never succeed.
func validateAliasChange(req AliasChangeRequest) error {
	err := vocab.ValidateModelName(req.ModelName)
	if err == nil {
		err = vocab.ValidateAlias(req.Alias)
	}
	if err == nil && req.Version < 1 {
		err = failure.New(failure.InvalidArgument, "version %d: versions start at 1", req.Version)
	}
	if err != nil {
		return temporal.NewNonRetryableApplicationError(err.Error(), string(failure.CodeOf(err)), nil)
	}
	return nil
}
