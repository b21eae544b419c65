package main

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
)

// fakeRun answers Get from a list: a nil entry waits out the attempt's
// deadline (a long poll on a healthy server with nothing to report).
type fakeRun struct {
	client.WorkflowRun
	answers []error
	calls   int
}

func (f *fakeRun) GetID() string    { return "wf" }
func (f *fakeRun) GetRunID() string { return "run" }

func (f *fakeRun) Get(ctx context.Context, v any) error {
	f.calls++
	if len(f.answers) == 0 {
		*(v.(*int)) = 42
		return nil
	}
	a := f.answers[0]
	f.answers = f.answers[1:]
	if a == nil {
		<-ctx.Done()
		return ctx.Err()
	}
	return a
}

// fakeClient answers DescribeWorkflowExecution with describeErr.
type fakeClient struct {
	client.Client
	describeErr error
}

func (f *fakeClient) DescribeWorkflowExecution(context.Context, string, string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	return &workflowservice.DescribeWorkflowExecutionResponse{}, f.describeErr
}

// Waiting for a result keeps asking after each attempt ends without one;
// it reports a lost connection only when Temporal does not answer (attempts
// that ran out their time on a healthy server used to be reported as lost
// connections too); an outcome such as an unknown workflow ends the wait.
func TestWaitResult(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var lost []error
	note := func(err error) { lost = append(lost, err) }

	run := &fakeRun{answers: []error{nil, nil, nil}}
	got, err := waitResult[int](ctx, &fakeClient{}, run, 20*time.Millisecond, note)
	if err != nil || got != 42 || run.calls != 4 || len(lost) != 0 {
		t.Fatalf("healthy server: got %d, %v after %d calls, lost %v", got, err, run.calls, lost)
	}

	down := serviceerror.NewUnavailable("connection refused")
	run = &fakeRun{answers: []error{nil, errors.New("context deadline exceeded")}}
	got, err = waitResult[int](ctx, &fakeClient{describeErr: down}, run, 20*time.Millisecond, note)
	if err != nil || got != 42 || len(lost) != 2 || !errors.Is(lost[0], down) {
		t.Fatalf("server down: got %d, %v, lost %v", got, err, lost)
	}

	gone := serviceerror.NewNotFound("workflow not found")
	if _, err := waitResult[int](ctx, &fakeClient{}, &fakeRun{answers: []error{gone}}, time.Second, note); !errors.Is(err, gone) {
		t.Fatalf("unknown workflow: %v", err)
	}

	short, cancelShort := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancelShort()
	if _, err := waitResult[int](short, &fakeClient{}, &fakeRun{answers: make([]error, 1000)}, 20*time.Millisecond, note); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("timeout: %v", err)
	}
}
