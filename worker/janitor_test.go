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
	swept := make(chan struct{}, 1)
	logger := slog.New(signalHandler{msg: "janitor: removed leftovers", ch: swept})
	stop := startJanitor(context.Background(), work, time.Hour, activities.SweepOptions{WorkflowTTL: 24 * time.Hour}, logger)
	defer stop()
	select {
	case <-swept:
	case <-time.After(time.Minute):
		t.Fatal("no sweep within a minute of the start (the interval is an hour)")
	}
	if _, err := os.Stat(filepath.Dir(old)); !os.IsNotExist(err) {
		t.Errorf("the janitor left a workflow directory unchanged for 48 h (stat: %v)", err)
	}
}

// signalHandler is a slog handler that signals ch when a record with
// message msg is logged.
type signalHandler struct {
	msg string
	ch  chan struct{}
}

func (h signalHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h signalHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		select {
		case h.ch <- struct{}{}:
		default:
		}
	}
	return nil
}
func (h signalHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h signalHandler) WithGroup(string) slog.Handler      { return h }
