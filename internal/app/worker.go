package app

import (
	"flag"

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

// TuningFlags are the worker's tuning flags; they override temporal-dev.yml
// and the environment when given.
type TuningFlags struct {
	fs                                     *flag.FlagSet
	activities, workflowTasks, parallelism *int
	poolSize                               *int
	partSize, threshold                    *int64
	eager                                  *bool
}

// RegisterTuningFlags adds the tuning flags to fs.
func RegisterTuningFlags(fs *flag.FlagSet) *TuningFlags {
	return &TuningFlags{
		fs:            fs,
		activities:    fs.Int("max-concurrent-activities", 0, "activity slots (worker.max_concurrent_activities, FLAVORFLOW_MAX_CONCURRENT_ACTIVITIES)"),
		workflowTasks: fs.Int("max-concurrent-workflow-tasks", 0, "workflow task slots (worker.max_concurrent_workflow_tasks, FLAVORFLOW_MAX_CONCURRENT_WORKFLOW_TASKS)"),
		eager:         fs.Bool("eager-activities", true, "run the next activity without a trip through matching (worker.eager_activities, FLAVORFLOW_EAGER_ACTIVITIES)"),
		parallelism:   fs.Int("upload-parallelism", 0, "files uploaded at once (worker.upload_parallelism, FLAVORFLOW_UPLOAD_PARALLELISM)"),
		partSize:      fs.Int64("multipart-part-size", 0, "multipart upload part size in bytes (worker.multipart_part_size, MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE)"),
		threshold:     fs.Int64("multipart-threshold", 0, "files this big try multipart first (worker.multipart_threshold, MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE)"),
		poolSize:      fs.Int("http-pool-size", 0, "MLflow client idle connections per host (worker.http_pool_size, MLFLOW_HTTP_POOL_MAXSIZE)"),
	}
}

// Apply copies the flags that were given into w and validates the result.
func (t *TuningFlags) Apply(cfg *config.Config) error {
	w := &cfg.Worker
	t.fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "max-concurrent-activities":
			w.MaxConcurrentActivities = *t.activities
		case "max-concurrent-workflow-tasks":
			w.MaxConcurrentWorkflowTasks = *t.workflowTasks
		case "eager-activities":
			w.EagerActivities = *t.eager
		case "upload-parallelism":
			w.UploadParallelism = *t.parallelism
		case "multipart-part-size":
			w.MultipartPartSize = *t.partSize
		case "multipart-threshold":
			w.MultipartThreshold = *t.threshold
		case "http-pool-size":
			w.HTTPPoolSize = *t.poolSize
		}
	})
	return cfg.Validate()
}
