package activities

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/fakemodel"
	"github.com/flavorflow/flavorflow/flavor"
	"github.com/flavorflow/flavorflow/internal/testrig/testenv"
	"github.com/flavorflow/flavorflow/mlflow"
	"github.com/flavorflow/flavorflow/policy"
	"github.com/flavorflow/flavorflow/store"
	"github.com/flavorflow/flavorflow/store/localstore"
	"github.com/flavorflow/flavorflow/vocab"
)

// evalVersion is a registered version made as a pipeline makes it: a run,
// a logged model of FakeModel(offset) from it, a version carrying the
// manifest hash.
type evalVersion struct {
	version        int
	runID, modelID string
	sha            string
}

func newEvalVersion(t *testing.T, st store.Store, name string, offset float64, weights int64) evalVersion {
	t.Helper()
	return registerEvalVersion(t, st, name, "evaluate", func(ctx context.Context, dir string) error {
		_, err := flavor.SaveModel(ctx, dir, fakemodel.FakeModel{Offset: offset, WeightsSize: weights, WeightsSeed: 1}, flavor.SaveOptions{})
		return err
	})
}

// registerEvalVersion registers the model save writes into a directory as
// a pipeline would: in experiment, logged to a run that is then finished
// (the pipeline's run is finished before Evaluate logs to it), registered
// under name with its manifest hash.
func registerEvalVersion(t *testing.T, st store.Store, name, experiment string, save func(ctx context.Context, dir string) error) evalVersion {
	t.Helper()
	ctx := context.Background()
	expID, err := store.EnsureExperiment(ctx, st, experiment)
	require.NoError(t, err)
	run, err := st.CreateRun(ctx, store.CreateRunRequest{ExperimentID: expID, StartTimeMs: 1})
	require.NoError(t, err)
	dir := filepath.Join(t.TempDir(), "model")
	require.NoError(t, save(ctx, dir))
	logged, err := flavor.LogModel(ctx, st, dir, flavor.LogOptions{ExperimentID: expID, RunID: run.ID, Name: "model"})
	require.NoError(t, err)
	require.NoError(t, st.UpdateRun(ctx, run.ID, store.RunFinished, 2))
	if _, err := st.CreateRegisteredModel(ctx, name, nil); err != nil && !failure.Has(err, failure.AlreadyExists) {
		require.NoError(t, err)
	}
	mv, err := st.CreateModelVersion(ctx, store.CreateModelVersionRequest{Name: name, Source: logged.ModelURI, ModelID: logged.ModelID, RunID: run.ID,
		Tags: store.Tags{vocab.TagManifestSHA256: logged.ManifestSHA256}})
	require.NoError(t, err)
	return evalVersion{version: mv.Version, runID: run.ID, modelID: logged.ModelID, sha: logged.ManifestSHA256}
}

// evalData is 60 rows y = x + 3 + e(i), e cycling through -0.75..0.75;
// evalHoldout holds out a fraction of them.
func evalData() vocab.TrainingData {
	var pairs []vocab.Sample
	for i := range 60 {
		x := float64(i) * 0.5
		pairs = append(pairs, vocab.Sample{X: x, Y: x + 3 + float64(i%7-3)*0.25})
	}
	return vocab.TrainingData{Pairs: pairs}
}

var evalHoldout = vocab.Holdout{Fraction: 0.3, Seed: 11}

// wantScores computes, independently of policy.Score, the scores of
// FakeModel(offset) on the rows evalHoldout holds out of evalData.
func wantScores(t *testing.T, offset float64) policy.Scores {
	t.Helper()
	var xs, ys []float64
	for i, s := range evalData().Pairs {
		if fakemodel.HeldOutByFraction(i, evalHoldout.Fraction, evalHoldout.Seed) {
			xs, ys = append(xs, s.X), append(ys, s.Y)
		}
	}
	require.NotEmpty(t, ys)
	var mean float64
	for _, y := range ys {
		mean += y
	}
	mean /= float64(len(ys))
	var sse, sae, sst float64
	for i := range xs {
		r := xs[i] + offset - ys[i]
		sse += r * r
		sae += math.Abs(r)
		sst += (ys[i] - mean) * (ys[i] - mean)
	}
	n := float64(len(ys))
	return policy.Scores{N: len(ys), MSE: sse / n, MAE: sae / n, R2: 1 - sse/sst}
}

func requireScores(t *testing.T, want, got policy.Scores, what string) {
	t.Helper()
	require.Equal(t, want.N, got.N, what)
	for _, m := range policy.Metrics {
		require.InDelta(t, want.Get(m), got.Get(m), 1e-9, "%s %s", what, m)
	}
}

func parse(t *testing.T, s string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(s, 64)
	require.NoError(t, err, "tag value %q", s)
	return v
}

var evalAt = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)

// TestEvaluate runs every scenario on the embedded store and on a real
// MLflow server.
func TestEvaluate(t *testing.T) {
	stores := map[string]func(t *testing.T) store.Store{
		"local": func(t *testing.T) store.Store {
			st, err := localstore.Open(t.TempDir())
			require.NoError(t, err)
			t.Cleanup(func() { _ = st.Close() })
			return st
		},
	}
	if !testing.Short() {
		var srv *testenv.MLflow
		stores["mlflow"] = func(t *testing.T) store.Store {
			if srv == nil {
				srv = testenv.StartMLflow(t, testenv.MLflowOptions{})
			}
			st, err := mlflow.New(mlflow.Config{TrackingURI: srv.URL})
			require.NoError(t, err)
			t.Cleanup(func() { _ = st.Close() })
			return st
		}
	}
	for _, kind := range []string{"local", "mlflow"} {
		open, ok := stores[kind]
		if !ok {
			continue
		}
		t.Run(kind, func(t *testing.T) {
			st := open(t)
			t.Run("ChallengerBetterAndWorse", func(t *testing.T) { evaluateBetterAndWorse(t, st) })
			t.Run("NoChampion", func(t *testing.T) { evaluateNoChampion(t, st) })
			t.Run("TamperedChampion", func(t *testing.T) { evaluateTamperedChampion(t, st) })
			t.Run("ChampionWithoutHash", func(t *testing.T) { evaluateChampionWithoutHash(t, st) })
			t.Run("TrainAndEvaluateAgree", func(t *testing.T) { evaluateAgreesWithTrain(t, st) })
		})
	}
}

func evalInput(name string, challenger evalVersion, champion int) EvaluateInput {
	return EvaluateInput{
		ModelName: name, Challenger: challenger.version, ChallengerSHA256: challenger.sha,
		ChallengerRunID: challenger.runID, ChallengerModelID: challenger.modelID, Champion: champion,
		Data: evalData(), Holdout: evalHoldout, At: evalAt,
	}
}

// A better challenger (offset 3, the data's) against champion offset 5,
// then a worse one (offset 4) against it: the scores are those of the
// exact offsets, and every score is recorded where the MLflow UI shows it.
func evaluateBetterAndWorse(t *testing.T, st store.Store) {
	ctx := context.Background()
	work := t.TempDir()
	a := &Activities{Store: st, WorkDir: work}
	name := "eval-better-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	v1 := newEvalVersion(t, st, name, 5, 0)
	v2 := newEvalVersion(t, st, name, 3, 0)
	v3 := newEvalVersion(t, st, name, 4, 0)

	out, err := a.evaluate(ctx, evalInput(name, v2, v1.version))
	require.NoError(t, err)
	ev := out.Evidence
	require.Equal(t, v2.version, ev.Challenger)
	require.Equal(t, v1.version, ev.Champion)
	requireScores(t, wantScores(t, 3), ev.ChallengerScores, "challenger v2")
	require.NotNil(t, ev.ChampionScores)
	requireScores(t, wantScores(t, 5), *ev.ChampionScores, "champion v1")
	require.Less(t, ev.ChallengerScores.MSE, ev.ChampionScores.MSE)
	require.True(t, policy.Decide(policy.Policy{Mode: policy.BeatsChampion}, &ev).Promote)
	require.Contains(t, ev.HeldOut, "fraction 0.3")
	require.Len(t, ev.HeldOutDataSHA256, 64)
	require.Positive(t, out.BytesRead)

	// Tags on the challenger and on the champion.
	mv, err := st.GetModelVersion(ctx, name, v2.version)
	require.NoError(t, err)
	want := wantScores(t, 3)
	require.InDelta(t, want.MSE, parse(t, mv.Tags[vocab.TagEvalMSE]), 1e-12)
	require.InDelta(t, want.MAE, parse(t, mv.Tags[vocab.TagEvalMAE]), 1e-12)
	require.InDelta(t, want.R2, parse(t, mv.Tags[vocab.TagEvalR2]), 1e-12)
	require.Equal(t, strconv.Itoa(want.N), mv.Tags[vocab.TagEvalRows])
	require.Equal(t, ev.HeldOut, mv.Tags[vocab.TagEvalHeldOut])
	require.Equal(t, ev.HeldOutDataSHA256, mv.Tags[vocab.TagEvalDataSHA256])
	require.Equal(t, strconv.Itoa(v1.version), mv.Tags[vocab.TagEvalChampionVersion])
	require.InDelta(t, ev.ChampionScores.MSE, parse(t, mv.Tags[vocab.TagEvalChampionMSE]), 1e-12)
	require.InDelta(t, ev.ChampionScores.MAE, parse(t, mv.Tags[vocab.TagEvalChampionMAE]), 1e-12)
	require.InDelta(t, ev.ChampionScores.R2, parse(t, mv.Tags[vocab.TagEvalChampionR2]), 1e-12)
	champ, err := st.GetModelVersion(ctx, name, v1.version)
	require.NoError(t, err)
	require.InDelta(t, ev.ChampionScores.MSE, parse(t, champ.Tags["flavorflow.eval.vs_v"+strconv.Itoa(v2.version)+".mse"]), 1e-12)
	require.InDelta(t, ev.ChampionScores.MAE, parse(t, champ.Tags[vocab.TagEvalVs(v2.version, "mae")]), 1e-12)
	require.InDelta(t, ev.ChampionScores.R2, parse(t, champ.Tags[vocab.TagEvalVs(v2.version, "r2")]), 1e-12)

	// Metrics on the challenger's run; its own linked to its logged model.
	// A retry logs the same points: nothing is added.
	_, err = a.evaluate(ctx, evalInput(name, v2, v1.version))
	require.NoError(t, err)
	run, err := st.GetRun(ctx, v2.runID)
	require.NoError(t, err)
	got := map[string]store.Metric{}
	for _, m := range run.Metrics {
		got[m.Key] = m
	}
	for key, v := range map[string]float64{
		MetricEvalMSE: want.MSE, MetricEvalMAE: want.MAE, MetricEvalR2: want.R2, MetricEvalRows: float64(want.N),
		MetricChampionEvalMSE: ev.ChampionScores.MSE, MetricChampionEvalMAE: ev.ChampionScores.MAE, MetricChampionEvalR2: ev.ChampionScores.R2,
	} {
		require.Contains(t, got, key)
		require.InDelta(t, v, got[key].Value, 1e-12, key)
		require.Equal(t, evalAt.UnixMilli(), got[key].TimestampMs, key)
	}
	lm, err := st.GetLoggedModel(ctx, v2.modelID)
	require.NoError(t, err)
	require.Len(t, lm.Metrics, 4, "the challenger's four metrics, once each: %+v", lm.Metrics)
	for _, m := range lm.Metrics {
		require.Equal(t, v2.runID, m.RunID)
		require.Equal(t, EvalDatasetName, m.DatasetName)
		require.Equal(t, ev.HeldOutDataSHA256[:16], m.DatasetDigest)
		require.Equal(t, got[m.Key].Value, m.Value, m.Key)
	}
	champLM, err := st.GetLoggedModel(ctx, v1.modelID)
	require.NoError(t, err)
	require.Empty(t, champLM.Metrics, "the champion's logged model gets no challenger's metrics")

	// A worse challenger against the same champion.
	out, err = a.evaluate(ctx, evalInput(name, v3, v1.version))
	require.NoError(t, err)
	requireScores(t, wantScores(t, 4), out.Evidence.ChallengerScores, "challenger v3")
	requireScores(t, wantScores(t, 5), *out.Evidence.ChampionScores, "champion v1")
	out, err = a.evaluate(ctx, evalInput(name, v3, v2.version))
	require.NoError(t, err)
	requireScores(t, wantScores(t, 3), *out.Evidence.ChampionScores, "champion v2")
	require.Greater(t, out.Evidence.ChallengerScores.MSE, out.Evidence.ChampionScores.MSE)
	// v3 was compared with v1, then (the alias moved) with v2, at the same
	// time: the run's latest champion scores are v2's, the newest champion.
	run, err = st.GetRun(ctx, v3.runID)
	require.NoError(t, err)
	for _, m := range run.Metrics {
		if m.Key == MetricChampionEvalMSE {
			require.InDelta(t, out.Evidence.ChampionScores.MSE, m.Value, 1e-12, "latest champion_eval_mse of v3's run")
			require.Equal(t, int64(v2.version), m.Step)
		}
	}
	require.False(t, policy.Decide(policy.Policy{Mode: policy.BeatsChampion}, &out.Evidence).Promote)
	// Both held-out sets are the same rows.
	require.Equal(t, ev.HeldOutDataSHA256, out.Evidence.HeldOutDataSHA256)

	left, err := os.ReadDir(work)
	require.NoError(t, err)
	require.Empty(t, left, "evaluation leaves nothing in the work directory")
}

// Without a champion only the challenger is scored and recorded.
func evaluateNoChampion(t *testing.T, st store.Store) {
	ctx := context.Background()
	a := &Activities{Store: st, WorkDir: t.TempDir()}
	name := "eval-first-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	v1 := newEvalVersion(t, st, name, 2.5, 0)
	in := evalInput(name, v1, 0)
	// Another holdout kind: a separate evaluation set.
	in.Holdout = vocab.Holdout{Data: &vocab.TrainingData{Pairs: []vocab.Sample{{X: 0, Y: 3}, {X: 1, Y: 4}, {X: 2, Y: 6}}}}
	out, err := a.evaluate(ctx, in)
	require.NoError(t, err)
	// Residuals 2.5-3, 2.5-3, 2.5-4: -0.5, -0.5, -1.5; targets mean 13/3.
	mse := (0.25 + 0.25 + 2.25) / 3
	sst := math.Pow(3-13.0/3, 2) + math.Pow(4-13.0/3, 2) + math.Pow(6-13.0/3, 2)
	requireScores(t, policy.Scores{N: 3, MSE: mse, MAE: 2.5 / 3, R2: 1 - 3*mse/sst}, out.Evidence.ChallengerScores, "challenger")
	require.Zero(t, out.Evidence.Champion)
	require.Nil(t, out.Evidence.ChampionScores)
	require.Equal(t, "3 inline evaluation pairs", out.Evidence.HeldOut)
	mv, err := st.GetModelVersion(ctx, name, v1.version)
	require.NoError(t, err)
	require.Equal(t, "none", mv.Tags[vocab.TagEvalChampionVersion])
	require.Empty(t, mv.Tags[vocab.TagEvalChampionMSE])
	run, err := st.GetRun(ctx, v1.runID)
	require.NoError(t, err)
	for _, m := range run.Metrics {
		require.False(t, strings.HasPrefix(m.Key, "champion_"), "champion metric %s without a champion", m.Key)
	}

	// A holdout that selects nothing is refused, non-retryably.
	in.Holdout = vocab.Holdout{}
	_, err = a.Evaluate(ctx, in)
	var app *temporal.ApplicationError
	require.True(t, errors.As(err, &app) && app.NonRetryable() && app.Type() == string(failure.InvalidArgument), "%v", err)
	in.Holdout = vocab.Holdout{Fraction: 0.001, Seed: 1}
	_, err = a.Evaluate(ctx, in)
	require.True(t, errors.As(err, &app) && app.NonRetryable() && app.Type() == string(failure.InvalidTrainingData), "%v", err)
}

// A champion whose stored bytes were changed at rest is ChecksumMismatch:
// it is never scored, and nothing is recorded.
func evaluateTamperedChampion(t *testing.T, st store.Store) {
	ctx := context.Background()
	a := &Activities{Store: st, WorkDir: t.TempDir()}
	name := "eval-tampered-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	v1 := newEvalVersion(t, st, name, 5, 32<<10)
	v2 := newEvalVersion(t, st, name, 3, 0)
	root, err := st.GetModelVersionDownloadURI(ctx, name, v1.version)
	require.NoError(t, err)
	flipByte(t, st, root, flavor.WeightsFile)
	_, err = a.evaluate(ctx, evalInput(name, v2, v1.version))
	require.Equal(t, failure.ChecksumMismatch, failure.CodeOf(err), "%v", err)
	mv, err := st.GetModelVersion(ctx, name, v2.version)
	require.NoError(t, err)
	require.Empty(t, mv.Tags[vocab.TagEvalMSE], "evidence recorded from a damaged champion")
	// The same for a damaged challenger.
	_, err = a.evaluate(ctx, evalInput(name, v1, 0))
	require.Equal(t, failure.ChecksumMismatch, failure.CodeOf(err), "%v", err)
	// A challenger whose version carries another hash than the pipeline
	// logged.
	in := evalInput(name, v2, 0)
	in.ChallengerSHA256 = v1.sha
	_, err = a.evaluate(ctx, in)
	require.Equal(t, failure.ChecksumMismatch, failure.CodeOf(err), "%v", err)
}

// A champion that records no manifest hash (its alias set by hand on a
// version registered outside flavorflow) is not scored unchecked:
// InvalidManifest, naming `starter verify`.
func evaluateChampionWithoutHash(t *testing.T, st store.Store) {
	ctx := context.Background()
	a := &Activities{Store: st, WorkDir: t.TempDir()}
	name := "eval-nohash-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	v1 := newEvalVersion(t, st, name, 5, 0)
	// Version 2 is v1's files registered again without the tag.
	bare, err := st.CreateModelVersion(ctx, store.CreateModelVersionRequest{Name: name, Source: "models:/" + v1.modelID, ModelID: v1.modelID})
	require.NoError(t, err)
	v3 := newEvalVersion(t, st, name, 3, 0)
	_, err = a.evaluate(ctx, evalInput(name, v3, bare.Version))
	require.Equal(t, failure.InvalidManifest, failure.CodeOf(err), "%v", err)
	require.Contains(t, err.Error(), "starter verify")
	require.Contains(t, err.Error(), fmt.Sprintf("champion v%d of %s", bare.Version, name), "the error says which version failed")
}

// Train and Evaluate pick the same rows from a data file, for a window; and
// when the file changes between them (appended to: the newest row, hence
// the window, moved) Evaluate refuses instead of scoring on rows the
// challenger was trained on.
func evaluateAgreesWithTrain(t *testing.T, st store.Store) {
	ctx := context.Background()
	a := &Activities{Store: st, WorkDir: t.TempDir()}
	name := "eval-agree-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	path := filepath.Join(t.TempDir(), "data.csv")
	var csv strings.Builder
	csv.WriteString("t,x,y\n")
	for d := 1; d <= 10; d++ {
		// Days 1-7 follow y = x + 2, days 8-10 y = x + 6.
		off := 2
		if d > 7 {
			off = 6
		}
		csv.WriteString(time.Date(2026, 1, d, 0, 0, 0, 0, time.UTC).Format(time.RFC3339) + "," + strconv.Itoa(d) + "," + strconv.Itoa(d+off) + "\n")
	}
	require.NoError(t, os.WriteFile(path, []byte(csv.String()), 0o644))
	data, h := vocab.TrainingData{Path: path}, vocab.Holdout{Window: 72 * time.Hour}
	tr, err := a.train(ctx, TrainInput{ModelName: name, Data: data, Holdout: h})
	require.NoError(t, err)
	require.Equal(t, 2.0, tr.Model.Offset, "trained on days 1-7 only")
	require.Equal(t, 3, tr.HeldOutRows)
	v1 := newEvalVersion(t, st, name, tr.Model.Offset, 0)
	in := evalInput(name, v1, 0)
	in.Data, in.Holdout, in.TrainDataSHA256 = data, h, tr.DataSHA256
	out, err := a.evaluate(ctx, in)
	require.NoError(t, err)
	// Days 8-10, each off by 4.
	require.Equal(t, 3, out.Evidence.ChallengerScores.N)
	require.InDelta(t, 16.0, out.Evidence.ChallengerScores.MSE, 1e-12)
	require.Contains(t, out.Evidence.HeldOut, "2026-01-10T00:00:00Z (the newest row)")

	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString("2026-01-12T00:00:00Z,12,18\n")
	require.NoError(t, err)
	require.NoError(t, f.Close())
	_, err = a.evaluate(ctx, in)
	require.Equal(t, failure.InvalidTrainingData, failure.CodeOf(err), "%v", err)
	require.Contains(t, err.Error(), "changed since the challenger was trained")
}
