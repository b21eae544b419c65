package workflows

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/flavorflow/flavorflow/activities"
	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/fakemodel"
	"github.com/flavorflow/flavorflow/vocab"
)

var a *activities.Activities

func newEnv(t *testing.T) *testsuite.TestWorkflowEnvironment {
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(ModelLifecycle, workflow.RegisterOptions{Name: WorkflowName})
	env.RegisterActivity(a)
	return env
}

func request() LifecycleRequest {
	return LifecycleRequest{ModelName: "iris", Alias: "champion", Data: vocab.TrainingData{Pairs: []vocab.Sample{{X: 1, Y: 4}}}}
}

// fakes are the activities' answers; tests replace one and then install.
type fakes struct {
	train    any
	register any
	verify   any
	// promote and evaluate answer PromoteAlias and Evaluate (nil: a
	// promotion from version 1 to 2; Evaluate not expected).
	promote  any
	evaluate any
	// promoteAfter and evaluateAfter delay those answers in mock time.
	promoteAfter, evaluateAfter time.Duration
	upserts                     []temporal.SearchAttributes
	memos                       []map[string]any
	// compensateErr is what Compensate answers; compensations and cleanups
	// record the calls.
	compensateErr error
	compensations []activities.CompensateInput
	cleanups      int
}

func happy() *fakes {
	return &fakes{
		train:    activities.TrainOutput{Model: fakemodel.New(3), Stats: fakemodel.Stats{N: 1}},
		register: activities.RegisterOutput{Version: 2, ModelURI: "models:/iris/2", Created: true},
		verify:   activities.VerifyOutput{ManifestSHA256: "bb", Predictions: []float64{7}, BytesRead: 10},
	}
}

// ret turns an answer into mock return values: a function is passed through,
// an error fails the call, anything else succeeds.
func ret(zero, v any) []any {
	switch x := v.(type) {
	case error:
		return []any{zero, x}
	case func(context.Context, activities.TrainInput) (activities.TrainOutput, error),
		func(context.Context, activities.RegisterInput) (activities.RegisterOutput, error),
		func(context.Context, activities.VerifyInput) (activities.VerifyOutput, error),
		func(context.Context, activities.PromoteInput) (activities.PromoteOutput, error),
		func(context.Context, activities.EvaluateInput) (activities.EvaluateOutput, error):
		return []any{x}
	}
	return []any{v, nil}
}

func (f *fakes) install(env *testsuite.TestWorkflowEnvironment) {
	env.OnActivity(a.Train, mock.Anything, mock.Anything).Return(ret(activities.TrainOutput{}, f.train)...)
	env.OnActivity(a.SaveModel, mock.Anything, mock.Anything).Return(activities.SaveOutput{Dir: activities.ArtifactRef{URI: "file:///w/model", SHA256: "aa", Size: 10}}, nil)
	env.OnActivity(a.LogModel, mock.Anything, mock.Anything).Return(activities.LogOutput{RunID: "r1", ModelID: "m-1", ModelURI: "models:/m-1",
		Logged: activities.ArtifactRef{URI: "mlflow-artifacts:/1/models/m-1/artifacts", SHA256: "bb", Size: 10}, BytesSent: 10}, nil)
	env.OnActivity(a.RegisterModel, mock.Anything, mock.Anything).Return(ret(activities.RegisterOutput{}, f.register)...)
	env.OnActivity(a.ReadAlias, mock.Anything, mock.Anything).Return(activities.AliasOutput{Version: 1}, nil)
	env.OnActivity(a.LoadAndVerify, mock.Anything, mock.Anything).Return(ret(activities.VerifyOutput{}, f.verify)...)
	if f.promote == nil {
		f.promote = activities.PromoteOutput{Previous: 1, Current: 2, Changed: true}
	}
	env.OnActivity(a.PromoteAlias, mock.Anything, mock.Anything).Return(ret(activities.PromoteOutput{}, f.promote)...).After(f.promoteAfter)
	if f.evaluate != nil {
		env.OnActivity(a.Evaluate, mock.Anything, mock.Anything).Return(ret(activities.EvaluateOutput{}, f.evaluate)...).After(f.evaluateAfter)
	}
	env.OnActivity(a.Compensate, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.CompensateInput) (activities.CompensateOutput, error) {
		f.compensations = append(f.compensations, in)
		return activities.CompensateOutput{}, f.compensateErr
	}).Maybe()
	env.OnActivity(a.CleanUp, mock.Anything).Return(func(context.Context) error {
		f.cleanups++
		return nil
	}).Maybe()
	env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
		f.upserts = append(f.upserts, args.Get(0).(temporal.SearchAttributes))
	}).Return(nil)
	env.OnUpsertMemo(mock.Anything).Run(func(args mock.Arguments) {
		f.memos = append(f.memos, args.Get(0).(map[string]any))
	}).Return(nil)
}

// last returns the last upserted value of each search attribute.
func (f *fakes) last() (name, stage string, version int64) {
	for _, sa := range f.upserts {
		if v, ok := sa.GetKeyword(ModelNameKey); ok {
			name = v
		}
		if v, ok := sa.GetKeyword(StageKey); ok {
			stage = v
		}
		if v, ok := sa.GetInt64(ModelVersionKey); ok {
			version = v
		}
	}
	return name, stage, version
}

func TestLifecycleHappyPath(t *testing.T) {
	env := newEnv(t)
	f := happy()
	f.install(env)
	env.ExecuteWorkflow(WorkflowName, request())
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var res LifecycleResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Equal(t, 2, res.Version)
	require.Equal(t, "models:/iris/2", res.ModelURI)
	require.Equal(t, "models:/iris@champion", res.AliasURI)
	require.Equal(t, "bb", res.ManifestSHA256)
	require.Equal(t, 1, res.PreviousAlias)
	require.Equal(t, int64(20), res.BytesMoved)

	v, err := env.QueryWorkflow(ProgressQuery)
	require.NoError(t, err)
	var p Progress
	require.NoError(t, v.Get(&p))
	require.Equal(t, "done", p.Step)
	require.Equal(t, []string{StageTraining, StageSaving, StageLogging, StageRegistering, StageVerifying, StagePromoting}, p.StepsDone)

	name, stage, ver := f.last()
	require.Equal(t, "iris", name)
	require.Equal(t, StagePromoted, stage)
	require.Equal(t, int64(2), ver)
	env.AssertExpectations(t)
}

func TestVerificationFailureNeverPromotes(t *testing.T) {
	env := newEnv(t)
	f := happy()
	f.verify = temporal.NewNonRetryableApplicationError("predictions differ", string(failure.VerificationFailed), nil)
	f.install(env)
	env.ExecuteWorkflow(WorkflowName, request())
	err := env.GetWorkflowError()
	require.Error(t, err)
	require.Equal(t, string(failure.VerificationFailed), ErrorType(err))
	env.AssertNotCalled(t, "PromoteAlias", mock.Anything, mock.Anything)
	_, stage, _ := f.last()
	require.Equal(t, StageFailed, stage)
}

func TestNonRetryableErrorEndsWorkflowWithItsType(t *testing.T) {
	env := newEnv(t)
	f := happy()
	calls := 0
	f.train = func(_ context.Context, _ activities.TrainInput) (activities.TrainOutput, error) {
		calls++
		return activities.TrainOutput{}, temporal.NewNonRetryableApplicationError("training data is empty", string(failure.InvalidTrainingData), nil)
	}
	f.install(env)
	env.ExecuteWorkflow(WorkflowName, request())
	require.Equal(t, string(failure.InvalidTrainingData), ErrorType(env.GetWorkflowError()))
	require.Equal(t, 1, calls, "a non-retryable error must not be retried")
	env.AssertNotCalled(t, "SaveModel", mock.Anything, mock.Anything)
}

func TestTransientFailureIsRetried(t *testing.T) {
	env := newEnv(t)
	f := happy()
	calls := 0
	f.register = func(_ context.Context, _ activities.RegisterInput) (activities.RegisterOutput, error) {
		calls++
		if calls < 3 {
			return activities.RegisterOutput{}, temporal.NewApplicationError("503 from MLflow", string(failure.ServerUnavailable))
		}
		return activities.RegisterOutput{Version: 2, ModelURI: "models:/iris/2"}, nil
	}
	f.install(env)
	env.ExecuteWorkflow(WorkflowName, request())
	require.NoError(t, env.GetWorkflowError())
	require.Equal(t, 3, calls)
}

func TestBadRequestFailsBeforeAnyActivity(t *testing.T) {
	for name, req := range map[string]LifecycleRequest{
		"empty name":   {ModelName: "", Alias: "champion"},
		"slash":        {ModelName: "a/b"},
		"control":      {ModelName: "a\x07b"},
		"bad alias":    {ModelName: "iris", Alias: "bad alias"},
		"reserved":     {ModelName: "iris", Alias: "latest"},
		"version-like": {ModelName: "iris", Alias: "v3"},
	} {
		t.Run(name, func(t *testing.T) {
			env := newEnv(t)
			env.ExecuteWorkflow(WorkflowName, req)
			err := env.GetWorkflowError()
			require.Error(t, err)
			var app *temporal.ApplicationError
			require.True(t, errors.As(err, &app))
			require.True(t, app.NonRetryable())
			require.Contains(t, []string{string(failure.InvalidModelName), string(failure.InvalidAlias)}, app.Type())
		})
	}
}

func TestNoAliasSkipsPromotion(t *testing.T) {
	env := newEnv(t)
	happy().install(env)
	req := request()
	req.Alias = ""
	env.ExecuteWorkflow(WorkflowName, req)
	require.NoError(t, env.GetWorkflowError())
	env.AssertNotCalled(t, "PromoteAlias", mock.Anything, mock.Anything)
	env.AssertNotCalled(t, "ReadAlias", mock.Anything, mock.Anything)
}

// Where registration found the version's files travels with the version to
// load-and-verify and to the promotion, which may run on workers that have
// never seen the version: they need not ask MLflow for it again.
func TestRegisteredLocationReachesVerifyAndPromote(t *testing.T) {
	env := newEnv(t)
	f := happy()
	loc := &activities.VersionLocation{Source: "models:/m-1", CreatedMs: 1700000000000, StorageLocation: "mlflow-artifacts:/1/models/m-1/artifacts"}
	f.register = activities.RegisterOutput{Version: 2, ModelURI: "models:/iris/2", Created: true, Location: loc}
	var verified, promoted *activities.VersionLocation
	f.verify = func(_ context.Context, in activities.VerifyInput) (activities.VerifyOutput, error) {
		verified = in.Location
		return activities.VerifyOutput{ManifestSHA256: "bb", Predictions: []float64{7}, BytesRead: 10}, nil
	}
	f.promote = func(_ context.Context, in activities.PromoteInput) (activities.PromoteOutput, error) {
		promoted = in.Location
		return activities.PromoteOutput{Previous: 1, Current: 2, Changed: true}, nil
	}
	f.install(env)
	env.ExecuteWorkflow(WorkflowName, request())
	require.NoError(t, env.GetWorkflowError())
	require.Equal(t, loc, verified, "load-and-verify's input")
	require.Equal(t, loc, promoted, "the promotion's input")
}
