package main

import (
	"context"
	"fmt"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/flavorflow/flavorflow/vocab"
)

// A pipeline whose next task sits on a task queue that no worker polls
// waits without end and without an error: Temporal holds the task until a
// worker comes. It is the most common surprise for a new user (the Go
// worker not started, or the Python worker that a sklearn-* trainer, or a
// champion only Python loads, needs). run, watch and status say so, naming
// the queue and the worker to start.

// idleQueue is a task queue holding a pipeline's task with no worker
// polling it.
type idleQueue struct {
	Queue string `json:"task_queue"`
	// Waiting is what waits there: an activity type, or "workflow task".
	Waiting string `json:"waiting"`
	Python  bool   `json:"python_worker"`
}

// Hint says what to start.
func (q idleQueue) Hint() string {
	if q.Python {
		return fmt.Sprintf("no worker polls task queue %q, where %s waits: start the Python worker (pyworker/flavorflow_pyworker.py --task-queue %s, with the Go worker's work directory)", q.Queue, q.Waiting, q.Queue)
	}
	return fmt.Sprintf("no worker polls task queue %q, where %s waits: start the worker (bin/worker, task queue %s)", q.Queue, q.Waiting, q.Queue)
}

// idleQueues returns the queues that tasks of the described workflow wait on
// and no worker polls, each once, in the order the tasks are listed.
func idleQueues(ctx context.Context, cl client.Client, d *workflowservice.DescribeWorkflowExecutionResponse) ([]idleQueue, error) {
	type waiter struct {
		queue, what string
		kind        enumspb.TaskQueueType
	}
	workflowQueue := d.GetExecutionConfig().GetTaskQueue().GetName()
	var waiting []waiter
	if wt := d.GetPendingWorkflowTask(); wt != nil && wt.GetState() == enumspb.PENDING_WORKFLOW_TASK_STATE_SCHEDULED {
		waiting = append(waiting, waiter{workflowQueue, "the workflow task", enumspb.TASK_QUEUE_TYPE_WORKFLOW})
	}
	for _, a := range d.GetPendingActivities() {
		if a.GetState() != enumspb.PENDING_ACTIVITY_STATE_SCHEDULED {
			continue // started, or waiting out a retry's backoff
		}
		name := a.GetActivityType().GetName()
		queue := a.GetActivityOptions().GetTaskQueue().GetName()
		if queue == "" {
			// Older servers do not report the options: the pipeline puts
			// the Python worker's activities on the suffixed queue.
			queue = workflowQueue
			if isPythonActivity(name) {
				queue += vocab.PythonQueueSuffix
			}
		}
		waiting = append(waiting, waiter{queue, "activity " + name, enumspb.TASK_QUEUE_TYPE_ACTIVITY})
	}
	var idle []idleQueue
	seen := map[string]bool{}
	for _, w := range waiting {
		key := w.queue + "\x00" + w.kind.String()
		if w.queue == "" || seen[key] {
			continue
		}
		seen[key] = true
		r, err := cl.DescribeTaskQueue(ctx, w.queue, w.kind)
		if err != nil {
			return idle, err
		}
		if len(r.GetPollers()) == 0 {
			idle = append(idle, idleQueue{Queue: w.queue, Waiting: w.what, Python: strings.HasSuffix(w.queue, vocab.PythonQueueSuffix)})
		}
	}
	return idle, nil
}

// isPythonActivity reports whether the Python worker registers name.
func isPythonActivity(name string) bool {
	switch name {
	case vocab.ActivityTrainPython, vocab.ActivityVerifyPython, vocab.ActivityEvaluatePython:
		return true
	}
	return false
}
