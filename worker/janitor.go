package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/flavorflow/flavorflow/activities"
)

// startJanitor sweeps workDir at start and then every interval (0: never)
// until stop is called: a pipeline's own clean-up runs on whichever worker
// picks it up, and killed attempts clean nothing, so each worker removes the
// leftovers on its own disk. It returns at once; stop waits for a sweep in
// progress.
func startJanitor(ctx context.Context, workDir string, every time.Duration, opts activities.SweepOptions, logger *slog.Logger) (stop func()) {
	if every <= 0 || workDir == "" {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			swept, err := activities.Sweep(ctx, workDir, time.Now(), opts)
			if err != nil && ctx.Err() == nil {
				logger.Warn("janitor: sweep incomplete", "work_dir", workDir, "error", err)
			}
			if swept.WorkflowDirs+swept.Temps > 0 {
				logger.Info("janitor: removed leftovers", "work_dir", workDir, "workflow_dirs", swept.WorkflowDirs, "temps", swept.Temps, "bytes", swept.Bytes)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() { cancel(); <-done }
}
