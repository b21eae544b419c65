package activities

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/fakemodel"
	"github.com/flavorflow/flavorflow/flavor"
	"github.com/flavorflow/flavorflow/policy"
	"github.com/flavorflow/flavorflow/rows"
	"github.com/flavorflow/flavorflow/store"
	"github.com/flavorflow/flavorflow/store/localstore"
	"github.com/flavorflow/flavorflow/vocab"
)

// newStubVersion registers stubModel{Rows: k} (predicts k·a) as a pipeline
// would: saved through the flavor contract, logged, registered with its
// manifest hash.
func newStubVersion(t *testing.T, st store.Store, name string, k int) evalVersion {
	t.Helper()
	return registerEvalVersion(t, st, name, "evaluate-flavor", func(ctx context.Context, dir string) error {
		_, err := flavor.Save(ctx, dir, linearStub{}, stubModel{Rows: k}, flavor.SaveOptions{})
		return err
	})
}

// Evaluate scores versions of a flavor other than fakemodel: both loaded
// through the worker's registry with the manifest checked, each predicting
// on the held-out rows of named columns (the rows Train kept out, same
// function) against column y. A tampered champion is ChecksumMismatch, a
// champion reading a column the rows lack is InvalidTrainingData, and
// data that changed since training is refused.
func TestEvaluateOtherFlavor(t *testing.T) {
	ctx := context.Background()
	st, err := localstore.Open(t.TempDir())
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	reg := flavor.Builtin()
	require.NoError(t, reg.AddFlavor(linearStub{}))
	require.NoError(t, reg.AddTrainer(flavor.Trainer{Name: "stub2", Flavor: "stub", Fit: func(_ context.Context, d rows.Table) (any, map[string]float64, error) {
		return stubModel{Rows: 2}, map[string]float64{"mse": 0}, nil
	}}))
	a := &Activities{Store: st, WorkDir: t.TempDir(), Flavors: reg}

	// y = 2a, with an unused column b.
	csv := "a,b,y\n"
	for i := range 40 {
		csv += fmt.Sprintf("%d,%d,%d\n", i, i%3, 2*i)
	}
	path := filepath.Join(t.TempDir(), "rows.csv")
	require.NoError(t, os.WriteFile(path, []byte(csv), 0o644))
	data := vocab.TrainingData{Path: path}
	h := vocab.Holdout{Fraction: 0.25, Seed: 3}
	trained, err := a.train(ctx, TrainInput{ModelName: "m", Data: data, Trainer: "stub2", Holdout: h})
	require.NoError(t, err)
	var heldA []float64
	for i := range 40 {
		if rows.HeldOutByFraction(i, h.Fraction, h.Seed) {
			heldA = append(heldA, float64(i))
		}
	}
	require.Equal(t, len(heldA), trained.HeldOutRows)
	require.Equal(t, 40-len(heldA), trained.Stats.N)

	name := "evalflavor-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	champ := newStubVersion(t, st, name, 3) // predicts 3a: residual a
	chall := newStubVersion(t, st, name, 2) // predicts 2a: exact
	in := EvaluateInput{
		ModelName: name, Challenger: chall.version, ChallengerSHA256: chall.sha, ChallengerRunID: chall.runID, ChallengerModelID: chall.modelID,
		Champion: champ.version, Data: data, Holdout: h, At: evalAt, TrainDataSHA256: trained.DataSHA256, Flavor: "stub",
	}
	out, err := a.evaluate(ctx, in)
	require.NoError(t, err)
	ev := out.Evidence
	require.Equal(t, len(heldA), ev.ChallengerScores.N)
	require.Equal(t, 0.0, ev.ChallengerScores.MSE)
	require.Equal(t, 1.0, ev.ChallengerScores.R2)
	var mse, mae float64
	for _, x := range heldA {
		mse += x * x / float64(len(heldA))
		mae += x / float64(len(heldA))
	}
	require.NotNil(t, ev.ChampionScores)
	require.InDelta(t, mse, ev.ChampionScores.MSE, 1e-9)
	require.InDelta(t, mae, ev.ChampionScores.MAE, 1e-9)
	require.True(t, policy.Decide(policy.Policy{Mode: policy.BeatsChampion}, &ev).Promote)
	require.Positive(t, out.BytesRead)
	mv, err := st.GetModelVersion(ctx, name, chall.version)
	require.NoError(t, err)
	require.Equal(t, strconv.Itoa(champ.version), mv.Tags[vocab.TagEvalChampionVersion])
	require.Equal(t, "0", mv.Tags[vocab.TagEvalMSE])

	// The same rows as the samples' split of the same data would hold out.
	sp, err := fakemodel.SplitTable(data, h, time.Time{})
	require.NoError(t, err)
	col, err := sp.HeldOut.Column("a")
	require.NoError(t, err)
	require.Equal(t, heldA, col)

	// The challenger's hash must be the one logged.
	bad := in
	bad.ChallengerSHA256 = champ.sha
	_, err = a.evaluate(ctx, bad)
	require.Equal(t, failure.ChecksumMismatch, failure.CodeOf(err), "%v", err)

	// Another flavor than the pipeline trained.
	bad = in
	bad.Flavor = "flavorflow_linear"
	_, err = a.evaluate(ctx, bad)
	require.Equal(t, failure.VerificationFailed, failure.CodeOf(err), "%v", err)

	// The data changed since training: refused, not scored.
	require.NoError(t, os.WriteFile(path, []byte(csv+"40,1,80\n41,2,82\n"), 0o644))
	_, err = a.evaluate(ctx, in)
	require.Equal(t, failure.InvalidTrainingData, failure.CodeOf(err), "%v", err)
	require.ErrorContains(t, err, "changed since the challenger was trained")

	// Held-out rows without the column the model reads.
	other := filepath.Join(t.TempDir(), "eval.csv")
	require.NoError(t, os.WriteFile(other, []byte("c,y\n1,2\n2,4\n"), 0o644))
	bad = in
	bad.Holdout, bad.TrainDataSHA256 = vocab.Holdout{Data: &vocab.TrainingData{Path: other}}, ""
	_, err = a.evaluate(ctx, bad)
	require.Equal(t, failure.InvalidTrainingData, failure.CodeOf(err), "%v", err)
	require.ErrorContains(t, err, "reads columns [a]")
}

// tableDigestVector is the digest of tableDigestColumns and rows {1.5, -2}:
// pyworker's table_digest must give the same (pyworker/tests,
// test_table_digest_matches_go), or the Python worker would take a Go
// challenger's training rows for changed data. The names hold what Go's
// JSON escapes and Python's would not by default.
const tableDigestVector = "cc23dcb6ee2da5a797c50d65f5ff231a146a1c3e85875e129b3973b061fc02c0"

var tableDigestColumns = []string{"prix é<&>\u2028", "y"}

func TestTableDigestVector(t *testing.T) {
	got := tableDigest(rows.Table{Columns: tableDigestColumns, Rows: [][]float64{{1.5, -2}}})
	if got != tableDigestVector {
		t.Fatalf("tableDigest = %s, want %s (change pyworker's table_digest with it)", got, tableDigestVector)
	}
}
