package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/flavorflow/flavorflow/failure"
)

// HeartbeatTimeout is how long the server waits for a heartbeat before it
// takes the worker for dead and retries the step elsewhere. Activities
// heartbeat every 2 s (activities.Activities.HeartbeatEvery) and the SDK
// sends them at most every 0.8 × this, so a live worker is never mistaken for
// a dead one, while a killed one is noticed in seconds, not half a minute.
const HeartbeatTimeout = 10 * time.Second

// stepOptions are the activity options of one step. A step is bounded by
// time, not by a count of attempts: a worker killed over and over (a crash
// loop, a node being drained) costs attempts without the step being wrong,
// and a small MaximumAttempts turned six kills of one large save into a
// failed pipeline. scheduleToClose is the step's whole budget, retries
// included; non-retryable types from failure.Table still end it at once.
type stepOptions struct {
	startToClose    time.Duration // one attempt
	scheduleToClose time.Duration // every attempt together
	heartbeat       time.Duration // 0: no heartbeat timeout
	attempts        int32         // 0: as many as scheduleToClose allows
}

var steps = map[string]stepOptions{
	StageTraining:    {startToClose: 10 * time.Minute, scheduleToClose: time.Hour, heartbeat: HeartbeatTimeout},
	StageSaving:      {startToClose: 30 * time.Minute, scheduleToClose: 3 * time.Hour, heartbeat: HeartbeatTimeout},
	StageLogging:     {startToClose: 2 * time.Hour, scheduleToClose: 12 * time.Hour, heartbeat: HeartbeatTimeout},
	StageRegistering: {startToClose: 10 * time.Minute, scheduleToClose: time.Hour, heartbeat: HeartbeatTimeout},
	StageVerifying:   {startToClose: 2 * time.Hour, scheduleToClose: 12 * time.Hour, heartbeat: HeartbeatTimeout},
	// Evaluating downloads two versions (challenger and champion) and
	// predicts on the held-out rows: as long as verifying, at most.
	StageEvaluating: {startToClose: 2 * time.Hour, scheduleToClose: 12 * time.Hour, heartbeat: HeartbeatTimeout},
	// Promoting waits its turn in the alias's keeper and re-hashes the
	// stored version before the alias moves, so one attempt may take as
	// long as a large download; the heartbeat still catches a dead worker.
	StagePromoting: {startToClose: 30 * time.Minute, scheduleToClose: 2 * time.Hour, heartbeat: HeartbeatTimeout},
	// Compensation and cleanup are best effort: they must not hold a failed
	// pipeline open for long, so their budget is minutes.
	stepCompensating: {startToClose: 2 * time.Minute, scheduleToClose: 10 * time.Minute, heartbeat: HeartbeatTimeout, attempts: 10},
	stepCleaningUp:   {startToClose: 2 * time.Minute, scheduleToClose: 5 * time.Minute, heartbeat: HeartbeatTimeout, attempts: 3},
}

// withStep returns ctx with the activity options of step.
func withStep(ctx workflow.Context, step string) workflow.Context {
	return workflow.WithActivityOptions(ctx, stepActivityOptions(step))
}

// stepActivityOptions are the activity options of step.
func stepActivityOptions(step string) workflow.ActivityOptions {
	o := steps[step]
	return workflow.ActivityOptions{
		StartToCloseTimeout:    o.startToClose,
		ScheduleToCloseTimeout: o.scheduleToClose,
		HeartbeatTimeout:       o.heartbeat,
		Summary:                step,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    30 * time.Second,
			// 0 for the pipeline's steps: ScheduleToCloseTimeout bounds them.
			MaximumAttempts:        o.attempts,
			NonRetryableErrorTypes: failure.NonRetryable(),
		},
	}
}
