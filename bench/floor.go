package main

import (
	"context"
	"flag"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/flavorflow/flavorflow/config"
	"github.com/flavorflow/flavorflow/internal/app"
)

// The floor: a workflow with as many activities as ModelLifecycle runs
// (train, save, log, register, read alias, verify, promote), each a no-op,
// on a worker with the same tuning. What a pipeline costs above it is
// flavorflow's own work.
const (
	floorWorkflow   = "BenchFloor"
	floorActivities = 7
)

func floorWF(ctx workflow.Context, name string) (string, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute})
	for i := 0; i < floorActivities; i++ {
		if err := workflow.ExecuteActivity(ctx, "BenchNoop", name).Get(ctx, nil); err != nil {
			return "", err
		}
	}
	return name, nil
}

func noop(context.Context, string) error { return nil }

// runFloorWorker serves the floor workflow until SIGTERM, with the worker
// options of temporal-dev.yml (and its env overrides).
func runFloorWorker(args []string) error {
	fs := flag.NewFlagSet("floor-worker", flag.ContinueOnError)
	address := fs.String("address", "", "Temporal frontend")
	queue := fs.String("task-queue", "", "task queue")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(config.Find("", os.Getenv), os.Getenv)
	if err != nil {
		return err
	}
	c, err := client.Dial(client.Options{HostPort: *address, Logger: quietLogger{}})
	if err != nil {
		return err
	}
	defer c.Close()
	w := worker.New(c, *queue, app.WorkerOptions(cfg.Worker))
	w.RegisterWorkflowWithOptions(floorWF, workflow.RegisterOptions{Name: floorWorkflow})
	w.RegisterActivityWithOptions(noop, activity.RegisterOptions{Name: "BenchNoop"})
	if err := w.Start(); err != nil {
		return err
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	w.Stop()
	return nil
}
