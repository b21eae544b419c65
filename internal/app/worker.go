package app

import (
	"go.temporal.io/sdk/worker"

	"github.com/flavorflow/flavorflow/config"
)

// WorkerOptions maps worker tuning from temporal-dev.yml (after env and flag
// overrides) to the SDK's options. The worker main and the benchmark's
// floor worker both use it, so they are tuned alike.
func WorkerOptions(w config.Worker) worker.Options {
	return worker.Options{
		MaxConcurrentActivityExecutionSize:     w.MaxConcurrentActivities,
		MaxConcurrentWorkflowTaskExecutionSize: w.MaxConcurrentWorkflowTasks,
		WorkerStopTimeout:                      w.StopTimeout,
	}
}
