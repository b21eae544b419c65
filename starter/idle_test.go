package main

import (
	"context"
	"testing"

	activitypb "go.temporal.io/api/activity/v1"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
)

// pollersClient answers DescribeTaskQueue with a poller for the queues in
// polled, and records what it was asked.
type pollersClient struct {
	client.Client
	polled map[string]bool
	asked  []string
}

func (p *pollersClient) DescribeTaskQueue(_ context.Context, queue string, kind enumspb.TaskQueueType) (*workflowservice.DescribeTaskQueueResponse, error) {
	p.asked = append(p.asked, queue+"/"+kind.String())
	r := &workflowservice.DescribeTaskQueueResponse{}
	if p.polled[queue] {
		r.Pollers = []*taskqueuepb.PollerInfo{{Identity: "worker"}}
	}
	return r, nil
}

func pending(name string, state enumspb.PendingActivityState, queue string) *workflowpb.PendingActivityInfo {
	a := &workflowpb.PendingActivityInfo{ActivityType: &commonpb.ActivityType{Name: name}, State: state}
	if queue != "" {
		a.ActivityOptions = &activitypb.ActivityOptions{TaskQueue: &taskqueuepb.TaskQueue{Name: queue}}
	}
	return a
}

// Only scheduled tasks count, each queue is asked once, a queue a worker
// polls is not named, and without the server's activity options the
// Python worker's activities are placed on its queue by name.
func TestIdleQueues(t *testing.T) {
	d := &workflowservice.DescribeWorkflowExecutionResponse{
		ExecutionConfig:     &workflowpb.WorkflowExecutionConfig{TaskQueue: &taskqueuepb.TaskQueue{Name: "q"}},
		PendingWorkflowTask: &workflowpb.PendingWorkflowTaskInfo{State: enumspb.PENDING_WORKFLOW_TASK_STATE_SCHEDULED},
		PendingActivities: []*workflowpb.PendingActivityInfo{
			pending("TrainPython", enumspb.PENDING_ACTIVITY_STATE_SCHEDULED, ""),    // no options: q-python by name
			pending("EvaluatePython", enumspb.PENDING_ACTIVITY_STATE_SCHEDULED, ""), // the same queue, asked once
			pending("SaveModel", enumspb.PENDING_ACTIVITY_STATE_STARTED, "busy"),    // running: not a wait
			pending("LogModel", enumspb.PENDING_ACTIVITY_STATE_SCHEDULED, "q"),      // q is polled
			pending("Custom", enumspb.PENDING_ACTIVITY_STATE_SCHEDULED, "other"),
		},
	}
	cl := &pollersClient{polled: map[string]bool{"q": true}}
	idle, err := idleQueues(context.Background(), cl, d)
	if err != nil {
		t.Fatal(err)
	}
	want := []idleQueue{
		{Queue: "q-python", Waiting: "activity TrainPython", Python: true},
		{Queue: "other", Waiting: "activity Custom"},
	}
	if len(idle) != len(want) || idle[0] != want[0] || idle[1] != want[1] {
		t.Fatalf("idle = %+v, want %+v", idle, want)
	}
	wantAsked := []string{"q/Workflow", "q-python/Activity", "q/Activity", "other/Activity"}
	if len(cl.asked) != len(wantAsked) {
		t.Fatalf("asked %v, want %v", cl.asked, wantAsked)
	}
	for i := range wantAsked {
		if cl.asked[i] != wantAsked[i] {
			t.Fatalf("asked %v, want %v", cl.asked, wantAsked)
		}
	}
	// Nothing waits: nothing is asked.
	cl.asked = nil
	if idle, _ := idleQueues(context.Background(), cl, &workflowservice.DescribeWorkflowExecutionResponse{}); len(idle) != 0 || len(cl.asked) != 0 {
		t.Fatalf("idle %v, asked %v for a workflow with nothing pending", idle, cl.asked)
	}
}
