package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/flavorflow/flavorflow/activities"
)

// TestJanitorSweepsAtStart: a worker started on a work directory that
// earlier pipelines filled removes their leftovers right away, not only
// after its first interval.
func TestJanitorSweepsAtStart(t *testing.T) {
	work := t.TempDir()
	old := filepath.Join(work, "wf-old", "model")
	if err := os.MkdirAll(old, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(old, "weights.bin"), make([]byte, 1024), 0o644); err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-48 * time.Hour)
	for _, p := range []string{filepath.Join(old, "weights.bin"), old, filepath.Dir(old)} {
		if err := os.Chtimes(p, past, past); err != nil {
			t.Fatal(err)
		}
	}
	stop := startJanitor(context.Background(), work, time.Hour, activities.SweepOptions{WorkflowTTL: 24 * time.Hour}, slog.New(slog.DiscardHandler))
	stop() // returns after the first sweep
	if _, err := os.Stat(filepath.Dir(old)); !os.IsNotExist(err) {
		t.Errorf("the janitor left a workflow directory unchanged for 48 h (stat: %v)", err)
	}
}
