package main

import (
	"fmt"
	"testing"

	"go.temporal.io/sdk/temporal"

	"github.com/flavorflow/flavorflow/failure"
)

// A cancelled pipeline is reported as Canceled, not as an Internal error with
// an empty type (what an operator saw after `temporal workflow cancel`).
func TestErrorOfCancelledPipeline(t *testing.T) {
	// WorkflowRun.Get wraps the cause the same way (errors.As reaches it).
	err := fmt.Errorf("workflow execution error: %w", temporal.NewCanceledError())
	got := errorOf(err)
	if got.Type != string(failure.Canceled) {
		t.Fatalf("errorOf(cancelled) = %+v, want type Canceled", got)
	}
	app := fmt.Errorf("workflow execution error: %w", temporal.NewNonRetryableApplicationError("bad", string(failure.ChecksumMismatch), nil))
	if got := errorOf(app); got.Type != string(failure.ChecksumMismatch) {
		t.Fatalf("errorOf(ChecksumMismatch) = %+v", got)
	}
}
