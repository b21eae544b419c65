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
	fs    *flag.FlagSet
	apply map[string]func(*config.Worker) // by flag name
}

// RegisterTuningFlags adds the tuning flags to fs.
func RegisterTuningFlags(fs *flag.FlagSet) *TuningFlags {
	t := &TuningFlags{fs: fs, apply: map[string]func(*config.Worker){}}
	intFlag := func(name, usage string, set func(*config.Worker, int)) {
		v := fs.Int(name, 0, usage)
		t.apply[name] = func(w *config.Worker) { set(w, *v) }
	}
	sizeFlag := func(name, usage string, set func(*config.Worker, int64)) {
		v := fs.Int64(name, 0, usage)
		t.apply[name] = func(w *config.Worker) { set(w, *v) }
	}
	intFlag("max-concurrent-activities", "activity slots (worker.max_concurrent_activities, FLAVORFLOW_MAX_CONCURRENT_ACTIVITIES)",
		func(w *config.Worker, n int) { w.MaxConcurrentActivities = n })
	intFlag("max-concurrent-workflow-tasks", "workflow task slots (worker.max_concurrent_workflow_tasks, FLAVORFLOW_MAX_CONCURRENT_WORKFLOW_TASKS)",
		func(w *config.Worker, n int) { w.MaxConcurrentWorkflowTasks = n })
	intFlag("upload-parallelism", "files uploaded at once (worker.upload_parallelism, FLAVORFLOW_UPLOAD_PARALLELISM)",
		func(w *config.Worker, n int) { w.UploadParallelism = n })
	intFlag("http-pool-size", "MLflow client idle connections per host (worker.http_pool_size, MLFLOW_HTTP_POOL_MAXSIZE)",
		func(w *config.Worker, n int) { w.HTTPPoolSize = n })
	sizeFlag("multipart-part-size", "multipart upload part size in bytes (worker.multipart_part_size, MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE)",
		func(w *config.Worker, n int64) { w.MultipartPartSize = n })
	sizeFlag("multipart-threshold", "files this big try multipart first (worker.multipart_threshold, MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE)",
		func(w *config.Worker, n int64) { w.MultipartThreshold = n })
	eager := fs.Bool("eager-activities", true, "run the next activity without a trip through matching (worker.eager_activities, FLAVORFLOW_EAGER_ACTIVITIES)")
	t.apply["eager-activities"] = func(w *config.Worker) { w.EagerActivities = *eager }
	return t
}

// Apply copies the flags that were given into cfg and validates the result.
func (t *TuningFlags) Apply(cfg *config.Config) error {
	t.fs.Visit(func(f *flag.Flag) {
		if apply, ok := t.apply[f.Name]; ok {
			apply(&cfg.Worker)
		}
	})
	return cfg.Validate()
}
