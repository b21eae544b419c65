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

func TestVerifyVersionDefaultsInputs(t *testing.T) {
	env := newEnv(t)
	env.RegisterWorkflowWithOptions(VerifyVersion, workflow.RegisterOptions{Name: VerifyVersionName})
	env.OnActivity(a.VerifyVersion, mock.Anything, activities.VerifyVersionInput{ModelName: "iris", Version: 2, Inputs: DefaultVerifyInputs}).
		Return(activities.VerifyVersionOutput{ManifestSHA256: "ab", ManifestCreated: true, Flavor: "my_flavor", Offset: 3, Predictions: []float64{7, 3, 1.5, 1003}}, nil)
	env.ExecuteWorkflow(VerifyVersionName, VerifyVersionRequest{ModelName: "iris", Version: 2})
	require.NoError(t, env.GetWorkflowError())
	var res VerifyVersionResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Equal(t, VerifyVersionResult{ModelName: "iris", Version: 2, ModelURI: "models:/iris/2", ManifestSHA256: "ab", ManifestCreated: true,
		Flavor: "my_flavor", Offset: 3, Inputs: DefaultVerifyInputs, Predictions: []float64{7, 3, 1.5, 1003}}, res)
}

func TestVerifyVersionChecksumMismatchIsNotRetried(t *testing.T) {
	env := newEnv(t)
	env.RegisterWorkflowWithOptions(VerifyVersion, workflow.RegisterOptions{Name: VerifyVersionName})
	env.OnActivity(a.VerifyVersion, mock.Anything, mock.Anything).
		Return(activities.VerifyVersionOutput{}, temporal.NewNonRetryableApplicationError("bad bytes", string(failure.ChecksumMismatch), nil)).Once()
	env.ExecuteWorkflow(VerifyVersionName, VerifyVersionRequest{ModelName: "iris", Version: 2, Inputs: []float64{1}})
	require.Equal(t, string(failure.ChecksumMismatch), ErrorType(env.GetWorkflowError()))
	env.AssertExpectations(t)
}

func TestVerifyVersionRejectsBadRequestBeforeAnyActivity(t *testing.T) {
	for _, req := range []VerifyVersionRequest{{ModelName: "a/b", Version: 1}, {ModelName: "m"}} {
		env := newEnv(t)
		env.RegisterWorkflowWithOptions(VerifyVersion, workflow.RegisterOptions{Name: VerifyVersionName})
		env.ExecuteWorkflow(VerifyVersionName, req)
		require.Contains(t, []string{string(failure.InvalidModelName), string(failure.InvalidArgument)}, ErrorType(env.GetWorkflowError()))
	}
}
