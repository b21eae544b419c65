package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/flavorflow/flavorflow/failure"
)

// stepOptions are the activity options of one step. Every step has a bounded
// retry policy whose non-retryable types come from failure.Table; steps that
// move bytes heartbeat so a dead worker is noticed in seconds.
type stepOptions struct {
	startToClose time.Duration
	heartbeat    time.Duration // 0: no heartbeat timeout
	attempts     int32
}

var steps = map[string]stepOptions{
	StageTraining:    {startToClose: 10 * time.Minute, heartbeat: 30 * time.Second, attempts: 5},
	StageSaving:      {startToClose: 30 * time.Minute, heartbeat: 30 * time.Second, attempts: 5},
	StageLogging:     {startToClose: 2 * time.Hour, heartbeat: 30 * time.Second, attempts: 10},
	StageRegistering: {startToClose: 10 * time.Minute, heartbeat: 30 * time.Second, attempts: 10},
	StageVerifying:   {startToClose: 2 * time.Hour, heartbeat: 30 * time.Second, attempts: 10},
	StagePromoting:   {startToClose: 2 * time.Minute, heartbeat: 30 * time.Second, attempts: 10},
}

// withStep returns ctx with the activity options of step.
func withStep(ctx workflow.Context, step string) workflow.Context {
	o := steps[step]
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    o.startToClose,
		ScheduleToCloseTimeout: o.startToClose * time.Duration(o.attempts),
		HeartbeatTimeout:       o.heartbeat,
		Summary:                step,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        30 * time.Second,
			MaximumAttempts:        o.attempts,
			NonRetryableErrorTypes: failure.NonRetryable(),
		},
	})
}
