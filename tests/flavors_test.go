package tests

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/internal/testrig/testenv"
	"github.com/flavorflow/flavorflow/workflows"
)

// A pipeline naming a trainer or flavor the worker was not built with fails
// in its first step with UnknownTrainer or FlavorNotFound, on the first
// attempt (no retry could help), having created nothing in the store; the
// same request naming the defaults runs through. Real dev server and worker.
func TestPipelineNamesTrainerAndFlavor(t *testing.T) {
	tp := testenv.StartTemporal(t, testenv.TemporalOptions{})
	r := newRig(t)
	startWorker(t, tp.Client, "flavors", r)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, tc := range []struct {
		id, flavor, trainer string
		code                failure.Code
	}{
		{"flavors-unknown-trainer", "", "sklearn-linear", failure.UnknownTrainer},
		{"flavors-unknown-flavor", "sklearn", "", failure.FlavorNotFound},
	} {
		req := tutorialRequest("fl")
		req.Flavor, req.Trainer = tc.flavor, tc.trainer
		run, err := tp.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: tc.id, TaskQueue: "flavors"}, workflows.WorkflowName, req)
		require.NoError(t, err)
		err = run.Get(ctx, nil)
		require.Equal(t, string(tc.code), workflows.ErrorType(err), "%s: %v", tc.id, err)
		var app *temporal.ApplicationError
		require.True(t, errors.As(err, &app) && app.NonRetryable(), "%s: %v", tc.id, err)
		require.Equal(t, counts{0, 0, 0}, r.count(t, "fl", tc.id))
		// One Train attempt: the error is not retried.
		iter := tp.Client.GetWorkflowHistory(ctx, tc.id, run.GetRunID(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for iter.HasNext() {
			ev, err := iter.Next()
			require.NoError(t, err)
			if a := ev.GetActivityTaskStartedEventAttributes(); a != nil {
				require.EqualValues(t, 1, a.GetAttempt(), "%s: Train was retried", tc.id)
			}
		}
	}
	req := tutorialRequest("fl")
	req.Flavor, req.Trainer = "fakemodel", "fakemodel"
	run, err := tp.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "flavors-named-default", TaskQueue: "flavors"}, workflows.WorkflowName, req)
	require.NoError(t, err)
	var res workflows.LifecycleResult
	require.NoError(t, run.Get(ctx, &res))
	require.Equal(t, 1, res.Version)
	require.Equal(t, 3.0, res.Offset)
}
