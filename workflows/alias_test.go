package workflows

import (
	"testing"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/flavorflow/flavorflow/activities"
	"github.com/flavorflow/flavorflow/failure"
)

func TestAliasChangeRollbackPassesTheFlag(t *testing.T) {
	env := newEnv(t)
	env.RegisterWorkflowWithOptions(AliasChange, workflow.RegisterOptions{Name: AliasChangeName})
	env.OnActivity(a.ReadAlias, mock.Anything, activities.AliasInput{ModelName: "iris", Alias: "champion"}).Return(activities.AliasOutput{Version: 3}, nil)
	env.OnActivity(a.PromoteAlias, mock.Anything, activities.PromoteInput{ModelName: "iris", Alias: "champion", Version: 2, Previous: 3, Rollback: true}).
		Return(activities.PromoteOutput{Previous: 3, Current: 2, Changed: true}, nil)
	env.ExecuteWorkflow(AliasChangeName, AliasChangeRequest{ModelName: "iris", Alias: "champion", Version: 2, Rollback: true})
	require.NoError(t, env.GetWorkflowError())
	var res AliasChangeResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Equal(t, AliasChangeResult{ModelName: "iris", Alias: "champion", Version: 2, Previous: 3, Changed: true, AliasURI: "models:/iris@champion"}, res)
}

func TestAliasChangeUnverifiedIsNotRetried(t *testing.T) {
	env := newEnv(t)
	env.RegisterWorkflowWithOptions(AliasChange, workflow.RegisterOptions{Name: AliasChangeName})
	env.OnActivity(a.ReadAlias, mock.Anything, mock.Anything).Return(activities.AliasOutput{}, nil)
	env.OnActivity(a.PromoteAlias, mock.Anything, mock.Anything).
		Return(activities.PromoteOutput{}, temporal.NewNonRetryableApplicationError("not verified", string(failure.VerificationFailed), nil)).Once()
	env.ExecuteWorkflow(AliasChangeName, AliasChangeRequest{ModelName: "iris", Alias: "champion", Version: 2})
	require.Equal(t, string(failure.VerificationFailed), ErrorType(env.GetWorkflowError()))
	env.AssertExpectations(t)
}

func TestAliasChangeRejectsBadRequestBeforeAnyActivity(t *testing.T) {
	for _, req := range []AliasChangeRequest{{ModelName: "a/b", Alias: "x", Version: 1}, {ModelName: "m", Alias: "latest", Version: 1}, {ModelName: "m", Alias: "x"}} {
		env := newEnv(t)
		env.RegisterWorkflowWithOptions(AliasChange, workflow.RegisterOptions{Name: AliasChangeName})
		env.ExecuteWorkflow(AliasChangeName, req)
		require.Contains(t, []string{string(failure.InvalidModelName), string(failure.InvalidAlias), string(failure.InvalidArgument)}, ErrorType(env.GetWorkflowError()))
	}
}
