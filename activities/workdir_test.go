package activities

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func touch(t *testing.T, p string, age time.Duration, now time.Time) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, []byte("x"), 0o644))
	mt := now.Add(-age)
	require.NoError(t, os.Chtimes(p, mt, mt))
	require.NoError(t, os.Chtimes(filepath.Dir(p), mt, mt))
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// TestSweepRemovesLeftoversOnly: the janitor removes what dead attempts and
// finished pipelines left, and nothing a live pipeline still uses.
func TestSweepRemovesLeftoversOnly(t *testing.T) {
	root := t.TempDir()
	now := time.Now()
	opts := SweepOptions{WorkflowTTL: 24 * time.Hour, TempTTL: 30 * time.Minute}
	old, fresh := 2*time.Hour, time.Minute
	// A live pipeline: recent model, a stale verify dir and a stale save of
	// a killed attempt, a save in progress.
	live := filepath.Join(root, "wf-live")
	touch(t, filepath.Join(live, "model", "model.json"), fresh, now)
	touch(t, filepath.Join(live, "verify-2", "weights.bin"), old, now)
	touch(t, filepath.Join(live, ".tmp-model-123", ".tmp-weights.bin-9"), old, now)
	touch(t, filepath.Join(live, ".tmp-model-456", ".tmp-weights.bin-7"), fresh, now)
	touch(t, filepath.Join(live, "verify-3", "weights.bin"), fresh, now)
	// A pipeline that finished on another worker two days ago.
	gone := filepath.Join(root, "wf-gone")
	touch(t, filepath.Join(gone, "model", "weights.bin"), 48*time.Hour, now)
	require.NoError(t, os.Chtimes(filepath.Join(gone, "model"), now.Add(-48*time.Hour), now.Add(-48*time.Hour)))
	require.NoError(t, os.Chtimes(gone, now.Add(-48*time.Hour), now.Add(-48*time.Hour)))
	// A half-written save from before saves were renamed into place.
	touch(t, filepath.Join(live, "model", ".tmp-weights.bin-5"), old, now)

	swept, err := Sweep(context.Background(), root, now, opts)
	require.NoError(t, err)
	require.Equal(t, 1, swept.WorkflowDirs)
	require.Equal(t, 3, swept.Temps)
	require.False(t, exists(gone))
	require.False(t, exists(filepath.Join(live, "verify-2")))
	require.False(t, exists(filepath.Join(live, ".tmp-model-123")))
	require.False(t, exists(filepath.Join(live, "model", ".tmp-weights.bin-5")))
	require.True(t, exists(filepath.Join(live, "model", "model.json")))
	require.True(t, exists(filepath.Join(live, ".tmp-model-456")))
	require.True(t, exists(filepath.Join(live, "verify-3")))

	// A missing work directory is nothing to sweep.
	_, err = Sweep(context.Background(), filepath.Join(root, "missing"), now, opts)
	require.NoError(t, err)
}

// TestCleanUpRemovesTheWorkflowDirectory: after a pipeline, its saved model
// (full size) does not stay on the worker.
func TestCleanUpRemovesTheWorkflowDirectory(t *testing.T) {
	ctx := context.Background()
	w, _, _, save := twoWorkers(t)
	_, err := w.saveModel(ctx, save)
	require.NoError(t, err)
	other := filepath.Join(w.WorkDir, "other-workflow", "model", "model.json")
	touch(t, other, 0, time.Now())
	require.True(t, exists(w.workDir(ctx, "model")))
	require.NoError(t, w.CleanUp(ctx))
	require.False(t, exists(filepath.Dir(w.workDir(ctx, "model"))))
	require.True(t, exists(other), "another workflow's files are not touched")
	require.NoError(t, w.CleanUp(ctx), "idempotent")
}

func TestFreeSpace(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "work")
	s, err := FreeSpace(dir)
	require.NoError(t, err)
	require.Positive(t, s.TotalBytes)
	require.LessOrEqual(t, s.FreeBytes, s.TotalBytes)
}
