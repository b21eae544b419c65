package localstore

import (
	"context"
	"testing"

	"github.com/flavorflow/flavorflow/store"
)

// A repeated LogBatch (a retry) stores each exact metric point once, as
// MLflow does; a point that differs in any field is a new point.
func TestLogBatchDeduplicatesExactMetricPoints(t *testing.T) {
	ctx := context.Background()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	run, err := s.CreateRun(ctx, store.CreateRunRequest{ExperimentID: "0"})
	if err != nil {
		t.Fatal(err)
	}
	b := store.Batch{Metrics: []store.Metric{{Key: "mse", Value: 0.5, TimestampMs: 10, Step: 0}}}
	for range 3 {
		if err := s.LogBatch(ctx, run.ID, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.LogBatch(ctx, run.ID, store.Batch{Metrics: []store.Metric{{Key: "mse", Value: 0.5, TimestampMs: 11, Step: 0}}}); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM run_metrics WHERE run_id = ?`, run.ID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("run_metrics holds %d points, want 2 (one per distinct point)", n)
	}
}
