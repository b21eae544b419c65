package workflows

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/flavorflow/flavorflow/failure"
)

// TestStepOptionsBoundedByTime: every step of a pipeline is bounded by a
// schedule-to-close budget, not by a small attempt count (a worker killed
// five times in one step used to fail the pipeline), and a dead worker is
// noticed within a short heartbeat timeout that the activities' heartbeat
// interval sits well inside.
func TestStepOptionsBoundedByTime(t *testing.T) {
	env := newEnv(t)
	f := happy()
	f.install(env)
	seen := map[string]activity.Info{}
	env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		seen[info.ActivityType.Name] = *info
	})
	local := map[string]activity.Info{}
	env.SetOnLocalActivityStartedListener(func(info *activity.Info, _ context.Context, _ []any) {
		local[info.ActivityType.Name] = *info
	})
	env.ExecuteWorkflow(WorkflowName, request())
	require.NoError(t, env.GetWorkflowError())
	// The short steps run as local activities: no heartbeat, so each
	// attempt is bounded by what the heartbeat timeout bounded before.
	for _, name := range []string{"ReadAlias", "CleanUp"} {
		info, ok := local[name]
		require.True(t, ok, "%s did not run as a local activity", name)
		require.LessOrEqual(t, info.StartToCloseTimeout, 2*time.Minute, name)
		require.GreaterOrEqual(t, info.ScheduleToCloseTimeout, 2*info.StartToCloseTimeout, "%s: room for several attempts", name)
	}
	require.LessOrEqual(t, local["ReadAlias"].StartToCloseTimeout, HeartbeatTimeout)
	for _, name := range []string{"Train", "SaveModel", "LogModel", "RegisterModel", "LoadAndVerify", "PromoteAlias"} {
		info, ok := seen[name]
		require.True(t, ok, "%s did not run", name)
		require.Equal(t, HeartbeatTimeout, info.HeartbeatTimeout, name)
		require.LessOrEqual(t, info.HeartbeatTimeout, 15*time.Second, name)
		require.GreaterOrEqual(t, info.ScheduleToCloseTimeout, 3*info.StartToCloseTimeout, "%s: room for several full attempts", name)
		require.GreaterOrEqual(t, info.ScheduleToCloseTimeout, 30*time.Minute, name)
	}
	// The test environment does not hand activities their retry policy.
	for _, step := range []string{StageTraining, StageSaving, StageLogging, StageRegistering, StageVerifying, StagePromoting} {
		rp := stepActivityOptions(step).RetryPolicy
		require.Zero(t, rp.MaximumAttempts, "%s: bounded by schedule-to-close, not attempts", step)
		require.Equal(t, failure.NonRetryable(), rp.NonRetryableErrorTypes, step)
	}
	// Heartbeats (every 2 s by default) reach the server every 0.8 x the
	// timeout at most: both well inside it.
	require.Less(t, 2*time.Second*4, HeartbeatTimeout)
	// SaveModel killed six times in a row, each noticed at the heartbeat
	// timeout and retried after the backoff, fits the step's budget easily.
	var crashLoop time.Duration
	backoff := time.Second
	for range 6 {
		crashLoop += HeartbeatTimeout + backoff
		backoff = min(2*backoff, 30*time.Second)
	}
	require.Less(t, 2*crashLoop, seen["SaveModel"].ScheduleToCloseTimeout)
}

// TestFailureCompensatesThenCleansUp: a pipeline that fails after logging
// compensates what it created, with the failure's type, then removes its
// work directory, and still fails with its own error.
func TestFailureCompensatesThenCleansUp(t *testing.T) {
	env := newEnv(t)
	f := happy()
	f.verify = temporal.NewNonRetryableApplicationError("predictions differ", string(failure.VerificationFailed), nil)
	f.install(env)
	var order []string
	env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		order = append(order, info.ActivityType.Name)
	})
	env.SetOnLocalActivityStartedListener(func(info *activity.Info, _ context.Context, _ []any) {
		order = append(order, info.ActivityType.Name)
	})
	env.ExecuteWorkflow(WorkflowName, request())
	require.Equal(t, string(failure.VerificationFailed), ErrorType(env.GetWorkflowError()))
	require.Len(t, f.compensations, 1)
	require.Equal(t, "iris", f.compensations[0].ModelName)
	require.Equal(t, string(failure.VerificationFailed), f.compensations[0].ErrorType)
	require.Equal(t, []string{"Compensate", "CleanUp"}, order[len(order)-2:])
	env.AssertNotCalled(t, "PromoteAlias", mock.Anything, mock.Anything)
}

// TestCompensationFailureKeepsOriginalError: compensation is best effort;
// its failure is logged and the pipeline fails with its own error.
func TestCompensationFailureKeepsOriginalError(t *testing.T) {
	env := newEnv(t)
	f := happy()
	f.register = temporal.NewNonRetryableApplicationError("bad", string(failure.InvalidArgument), nil)
	f.compensateErr = temporal.NewApplicationError("store down", string(failure.ServerUnavailable))
	f.install(env)
	env.ExecuteWorkflow(WorkflowName, request())
	require.Equal(t, string(failure.InvalidArgument), ErrorType(env.GetWorkflowError()))
	require.Greater(t, len(f.compensations), 1, "compensation is retried")
	require.LessOrEqual(t, len(f.compensations), int(steps[stepCompensating].attempts), "within its own bound")
	require.Equal(t, 1, f.cleanups)
}

// TestSuccessCleansUpWithoutCompensating.
func TestSuccessCleansUpWithoutCompensating(t *testing.T) {
	env := newEnv(t)
	f := happy()
	f.install(env)
	env.ExecuteWorkflow(WorkflowName, request())
	require.NoError(t, env.GetWorkflowError())
	require.Equal(t, 1, f.cleanups)
	require.Empty(t, f.compensations)
}

// TestTrainingFailureHasNothingToUndo: nothing was written before saving.
func TestTrainingFailureHasNothingToUndo(t *testing.T) {
	env := newEnv(t)
	f := happy()
	f.train = temporal.NewNonRetryableApplicationError("empty", string(failure.InvalidTrainingData), nil)
	f.install(env)
	env.ExecuteWorkflow(WorkflowName, request())
	require.Equal(t, string(failure.InvalidTrainingData), ErrorType(env.GetWorkflowError()))
	require.Empty(t, f.compensations)
	require.Zero(t, f.cleanups)
}

// TestCancellationCompensates: a cancelled pipeline compensates too, in a
// context the cancellation does not reach.
func TestCancellationCompensates(t *testing.T) {
	env := newEnv(t)
	f := happy()
	// Verification keeps failing retryably; the pipeline is cancelled
	// while it waits for the next attempt.
	f.verify = temporal.NewApplicationError("store unavailable", string(failure.ServerUnavailable))
	f.install(env)
	env.RegisterDelayedCallback(env.CancelWorkflow, time.Minute)
	env.ExecuteWorkflow(WorkflowName, request())
	require.True(t, temporal.IsCanceledError(env.GetWorkflowError()), "%v", env.GetWorkflowError())
	require.Len(t, f.compensations, 1)
	require.True(t, f.compensations[0].Cancelled)
	require.Equal(t, 1, f.cleanups)
}

// TestShortStepsRunAsLocalActivities: ReadAlias and CleanUp run inside the
// workflow task that schedules them (local activities), not as activity
// tasks through the server: each saved the server an activity task and the
// pipeline a workflow task (bench P6).
func TestShortStepsRunAsLocalActivities(t *testing.T) {
	env := newEnv(t)
	happy().install(env)
	var regular, local []string
	env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		regular = append(regular, info.ActivityType.Name)
	})
	env.SetOnLocalActivityStartedListener(func(info *activity.Info, _ context.Context, _ []any) {
		local = append(local, info.ActivityType.Name)
	})
	env.ExecuteWorkflow(WorkflowName, request())
	require.NoError(t, env.GetWorkflowError())
	require.Equal(t, []string{"ReadAlias", "CleanUp"}, local)
	require.Equal(t, []string{"Train", "SaveModel", "LogModel", "RegisterModel", "LoadAndVerify", "PromoteAlias"}, regular)
}
