package activities

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/fakemodel"
	"github.com/flavorflow/flavorflow/flavor"
	"github.com/flavorflow/flavorflow/store"
	"github.com/flavorflow/flavorflow/store/localstore"
)

// twoWorkers are two workers' Activities on one store, each with its own
// work directory, and the inputs of one pipeline.
func twoWorkers(t *testing.T) (w1, w2 *Activities, st store.Store, save SaveInput) {
	t.Helper()
	st, err := localstore.Open(t.TempDir())
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	m := fakemodel.New(3)
	m.WeightsSize, m.WeightsSeed = 1<<20, 7
	save = SaveInput{ModelName: "m", Model: m, Created: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	w1 = &Activities{Store: st, Experiment: "e", WorkDir: t.TempDir()}
	w2 = &Activities{Store: st, Experiment: "e", WorkDir: t.TempDir()}
	return w1, w2, st, save
}

func logInput(save SaveInput, saved SaveOutput) LogInput {
	return LogInput{ModelName: save.ModelName, Save: save, Saved: saved.Dir,
		Train: TrainOutput{Model: save.Model, Stats: fakemodel.Stats{N: 3}}}
}

// TestLogModelRebuildsHalfWrittenSave: worker 1 was killed during
// SaveModel while it wrote the weights' temporary file (model.json already
// in place); the retry saved on worker 2; LogModel then lands on worker 1.
// It must take the directory for damaged and re-save it, not fail the
// pipeline with a non-retryable InvalidManifest.
func TestLogModelRebuildsHalfWrittenSave(t *testing.T) {
	ctx := context.Background()
	w1, w2, _, save := twoWorkers(t)
	saved, err := w2.saveModel(ctx, save)
	require.NoError(t, err)

	dir := w1.workDir(ctx, "model")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	data, err := os.ReadFile(filepath.Join(w2.workDir(ctx, "model"), flavor.DataFile))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, flavor.DataFile), data, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, ".tmp-weights.bin-123456"), make([]byte, 4096), 0o644))

	out, err := w1.logModel(ctx, logInput(save, saved))
	require.NoError(t, err)
	require.NotEmpty(t, out.ModelID)
	_, sha, err := flavor.VerifyDir(dir)
	require.NoError(t, err, "the re-saved directory verifies")
	require.Equal(t, saved.Dir.SHA256, sha)
}

// TestLogModelRebuildsSaveDamagedAtRest: a file of the saved directory
// changed on disk with its size intact (the cheap check passes). LogModel
// fails retryably and removes the copy, and the retry re-saves and logs.
func TestLogModelRebuildsSaveDamagedAtRest(t *testing.T) {
	ctx := context.Background()
	w1, _, _, save := twoWorkers(t)
	saved, err := w1.saveModel(ctx, save)
	require.NoError(t, err)
	weights := filepath.Join(w1.workDir(ctx, "model"), flavor.WeightsFile)
	b, err := os.ReadFile(weights)
	require.NoError(t, err)
	b[len(b)/2] ^= 0xff
	require.NoError(t, os.WriteFile(weights, b, 0o644))

	_, err = w1.logModel(ctx, logInput(save, saved))
	require.Error(t, err)
	require.True(t, failure.Retryable(failure.CodeOf(err)), "a damaged local copy is rebuilt on retry, not fatal: %v", err)
	out, err := w1.logModel(ctx, logInput(save, saved))
	require.NoError(t, err)
	require.NotEmpty(t, out.ModelID)
}

// TestSaveModelAppearsOnlyComplete: a save that stops part way (here: its
// context is cancelled) leaves no "model" directory, only a temporary one
// for the janitor; and a later save replaces a half-written "model".
func TestSaveModelAppearsOnlyComplete(t *testing.T) {
	w1, _, _, save := twoWorkers(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := w1.saveModel(ctx, save)
	require.Error(t, err)
	_, err = os.Stat(w1.workDir(context.Background(), "model"))
	require.ErrorIs(t, err, os.ErrNotExist)

	dir := w1.workDir(context.Background(), "model")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, ".tmp-weights.bin-1"), []byte("partial"), 0o644))
	out, err := w1.saveModel(context.Background(), save)
	require.NoError(t, err)
	_, sha, err := flavor.VerifyDir(dir)
	require.NoError(t, err)
	require.Equal(t, out.Dir.SHA256, sha)
	entries, err := os.ReadDir(filepath.Dir(dir))
	require.NoError(t, err)
	require.Len(t, entries, 1, "only the model directory is left: %v", entries)
}

// TestSaveModelReusesOnlyTheSameSave: a retry on the same worker reuses
// the complete directory; a directory an earlier run of the workflow ID
// left with another model or creation time is replaced.
func TestSaveModelReusesOnlyTheSameSave(t *testing.T) {
	ctx := context.Background()
	w, _, _, save := twoWorkers(t)
	first, err := w.saveModel(ctx, save)
	require.NoError(t, err)
	dir := w.workDir(ctx, "model")
	before, err := os.Stat(dir)
	require.NoError(t, err)
	again, err := w.saveModel(ctx, save)
	require.NoError(t, err)
	require.Equal(t, first.Dir.SHA256, again.Dir.SHA256)
	after, err := os.Stat(dir)
	require.NoError(t, err)
	require.True(t, os.SameFile(before, after), "a retry re-saved a complete directory")

	later := save
	later.Created = save.Created.Add(time.Hour)
	out, err := w.saveModel(ctx, later)
	require.NoError(t, err)
	require.NotEqual(t, first.Dir.SHA256, out.Dir.SHA256, "another creation time is another save")
	other := save
	other.Model.Offset = 4
	out2, err := w.saveModel(ctx, other)
	require.NoError(t, err)
	require.NotEqual(t, out.Dir.SHA256, out2.Dir.SHA256, "another model is another save")
	ml, err := os.ReadFile(filepath.Join(dir, flavor.DataFile))
	require.NoError(t, err)
	require.Contains(t, string(ml), "4")
}
