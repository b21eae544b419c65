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
		DisableEagerActivities:                 !w.EagerActivities,
	}
}

// WorkerFlags are the settings the worker takes as flags; they override
// temporal-dev.yml and the environment when given.
var WorkerFlags = []string{
	"store.tracking_uri", "temporal.task_queue", "worker.work_dir", "temporal.address", "temporal.namespace", "temporal.profile",
	"worker.health_addr", "worker.max_concurrent_activities", "worker.max_concurrent_workflow_tasks", "worker.upload_parallelism",
	"worker.http_pool_size", "worker.multipart_part_size", "worker.multipart_threshold", "worker.eager_activities",
}
