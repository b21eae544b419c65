package mlflow

import (
	"context"
	"testing"

	"github.com/flavorflow/flavorflow/store"
)

// A retry of runs/outputs after its answer was lost must not fail: the
// server rejects a second identical link with a UNIQUE constraint (400).
func TestLogOutputsTwiceOnServer(t *testing.T) {
	c := serverClient(t)
	ctx := context.Background()
	expID := must[string](t)(c.CreateExperiment(ctx, unique("outputs-twice"), nil))
	run := must[*store.Run](t)(c.CreateRun(ctx, store.CreateRunRequest{ExperimentID: expID, Name: "r", StartTimeMs: 1000}))
	lm := must[*store.LoggedModel](t)(c.CreateLoggedModel(ctx, store.CreateLoggedModelRequest{ExperimentID: expID, Name: "model", SourceRunID: run.ID}))
	if err := c.LogOutputs(ctx, run.ID, []string{lm.ID}); err != nil {
		t.Fatal(err)
	}
	if err := c.LogOutputs(ctx, run.ID, []string{lm.ID}); err != nil {
		t.Fatalf("second LogOutputs of the same model (a retry after a lost answer): %v", err)
	}
	got := must[*store.Run](t)(c.GetRun(ctx, run.ID))
	if len(got.OutputModels) != 1 || got.OutputModels[0] != lm.ID {
		t.Fatalf("run outputs %v, want [%s]", got.OutputModels, lm.ID)
	}
}
