package tests

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/worker"

	"github.com/flavorflow/flavorflow/internal/testrig/testenv"
	"github.com/flavorflow/flavorflow/linearmodel"
	"github.com/flavorflow/flavorflow/mlflow"
	"github.com/flavorflow/flavorflow/policy"
	"github.com/flavorflow/flavorflow/rows"
	"github.com/flavorflow/flavorflow/store"
	"github.com/flavorflow/flavorflow/vocab"
	"github.com/flavorflow/flavorflow/workflows"
)

// planeCSV writes n rows of y = 1 + 2a - 3b + offset (a = i, b = 5i mod 7)
// with a header, and with column t (hourly from base) when base is set.
func planeCSV(t *testing.T, dir, name string, offset float64, n int, base time.Time) string {
	return shiftedPlaneCSV(t, dir, name, func(int) float64 { return offset }, n, base)
}

// shiftedPlaneCSV is planeCSV with row i offset by offset(i).
func shiftedPlaneCSV(t *testing.T, dir, name string, offset func(i int) float64, n int, base time.Time) string {
	t.Helper()
	var b strings.Builder
	if !base.IsZero() {
		b.WriteString("t,")
	}
	b.WriteString("a,b,y\n")
	for i := range n {
		a, c := float64(i), float64((i*5)%7)
		if !base.IsZero() {
			b.WriteString(base.Add(time.Duration(i)*time.Hour).Format(time.RFC3339) + ",")
		}
		fmt.Fprintf(&b, "%g,%g,%g\n", a, c, 1+2*a-3*c+offset(i))
	}
	path := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
	return path
}

func linearBeats(data string, h vocab.Holdout) workflows.LifecycleRequest {
	req := beats(h)
	req.Trainer, req.Data = "linear", vocab.TrainingData{Path: data}
	return req
}

// Promotion on evidence for a flavor other than fakemodel (the linear
// model of the worker binary's registry, two features), on the real dev
// server and worker, on both stores: Train holds the rows out, Evaluate
// loads challenger and champion by exact version through the flavor
// contract and scores their predictions on the held-out rows against y.
// A better challenger takes the alias; a worse one keeps the champion and
// the pipeline completes with outcome kept-champion and the reason.
func TestPromoteOnEvidenceLinear(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"local", "mlflow"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			p := newPolicyEnv(t, kind, testenv.TemporalOptions{})
			dir := t.TempDir()
			fraction := vocab.Holdout{Fraction: 0.3, Seed: 7}

			// v1: off by 5 everywhere; no champion yet.
			res := p.result(p.start("1", linearBeats(planeCSV(t, dir, "v1.csv", 5, 30, time.Time{}), fraction)))
			require.Equal(t, workflows.OutcomePromoted, res.Outcome, res.Reason)
			require.Equal(t, linearmodel.Name, res.Flavor)
			require.Contains(t, res.Reason, "no champion")
			require.NotNil(t, res.Evidence)
			require.Equal(t, 1, p.alias())

			// v2: the true plane, scored on its own held-out rows: 0
			// against the champion's 25 (an error of 5 on every row).
			res = p.result(p.start("2", linearBeats(planeCSV(t, dir, "v2.csv", 0, 30, time.Time{}), fraction)))
			require.Equal(t, workflows.OutcomePromoted, res.Outcome, res.Reason)
			require.Equal(t, 2, res.Version)
			ev := res.Evidence
			require.NotNil(t, ev)
			require.NotNil(t, ev.ChampionScores)
			require.Equal(t, 1, ev.Champion)
			held := 0
			for i := range 30 {
				if rows.HeldOutByFraction(i, fraction.Fraction, fraction.Seed) {
					held++
				}
			}
			require.Equal(t, held, ev.ChallengerScores.N, "the rows Train held out")
			require.InDelta(t, 0, ev.ChallengerScores.MSE, 1e-9)
			require.InDelta(t, 25, ev.ChampionScores.MSE, 1e-9)
			require.InDelta(t, 5, ev.ChampionScores.MAE, 1e-9)
			require.InDelta(t, 1, ev.ChallengerScores.R2, 1e-9)
			require.Equal(t, 2, p.alias())
			require.Equal(t, workflows.StagePromoted, p.stage(p.model+"-2"))
			v2 := p.version(2)
			require.Equal(t, "1", v2.Tags[vocab.TagEvalChampionVersion], "%v", v2.Tags)
			require.Contains(t, p.version(1).Tags, vocab.TagEvalVs(2, "mse"))

			// v3: trained off by 10, scored on a separate evaluation file of
			// the true plane: it loses to v2 and the alias stays.
			eval := planeCSV(t, dir, "eval.csv", 0, 12, time.Time{})
			res = p.result(p.start("3", linearBeats(planeCSV(t, dir, "v3.csv", 10, 30, time.Time{}), vocab.Holdout{Data: &vocab.TrainingData{Path: eval}})))
			require.Equal(t, workflows.OutcomeKeptChampion, res.Outcome)
			require.Contains(t, res.Reason, "does not beat champion v2")
			require.Equal(t, 12, res.Evidence.ChallengerScores.N)
			require.InDelta(t, 100, res.Evidence.ChallengerScores.MSE, 1e-9)
			require.InDelta(t, 0, res.Evidence.ChampionScores.MSE, 1e-9)
			require.Equal(t, 3, res.Version, "registered and verified, not promoted")
			require.Equal(t, 2, p.alias())
			require.Equal(t, workflows.StageKeptChampion, p.stage(p.model+"-3"))
			h := p.history()
			last := h.Events[len(h.Events)-1]
			require.Equal(t, "kept-champion", last.Outcome)
			require.Equal(t, res.Reason, last.Reason)

			if kind != "local" {
				return
			}
			// v4: timestamped rows whose last 6 hours moved up by 4; the
			// window holds them out (no cutoff: before the newest row).
			// Trained on the earlier rows only, v4 is the true plane and
			// misses each held-out row by 4 (MSE 16, as the champion); a fit
			// that had seen them would miss by less. Not better by the
			// margin: the champion stays.
			base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
			shifted := shiftedPlaneCSV(t, dir, "v4.csv", func(i int) float64 {
				if i >= 24 {
					return 4
				}
				return 0
			}, 30, base)
			window := linearBeats(shifted, vocab.Holdout{Window: 6 * time.Hour})
			window.Policy.Margin, window.Policy.MarginAbsolute = 0.5, true
			res = p.result(p.start("4", window))
			require.Equal(t, workflows.OutcomeKeptChampion, res.Outcome, res.Reason)
			require.Equal(t, 6, res.Evidence.ChallengerScores.N, "rows in (newest-6h, newest]")
			require.InDelta(t, 16, res.Evidence.ChallengerScores.MSE, 1e-9)
			require.InDelta(t, 16, res.Evidence.ChampionScores.MSE, 1e-9)
			require.Contains(t, res.Evidence.HeldOut, "window 6h0m0s before 2026-03-02T05:00:00Z")
			require.Equal(t, 2, p.alias())

			// threshold: the challenger's own MSE must be at most 1; one
			// off by 2 on the evaluation file (MSE 4) is kept out.
			limit := 1.0
			thr := linearBeats(planeCSV(t, dir, "v5.csv", 2, 30, time.Time{}), vocab.Holdout{Data: &vocab.TrainingData{Path: eval}})
			thr.Policy = policy.Policy{Mode: policy.Threshold, Threshold: &limit}
			res = p.result(p.start("5", thr))
			require.Equal(t, workflows.OutcomeKeptChampion, res.Outcome, res.Reason)
			require.InDelta(t, 4, res.Evidence.ChallengerScores.MSE, 1e-9)
			require.Equal(t, 2, p.alias())
		})
	}
}

// A linear pipeline with a policy, recorded when validation refused it
// (before Go flavors were evaluated), must replay: the refusal stays in
// that history behind GetVersion("policy-any-flavor"). Recorded from
// commit aa9d413 with the request of this file's tests.
func TestReplayRefusedFlavorPolicyHistory(t *testing.T) {
	replayer := worker.NewWorkflowReplayer()
	workflows.Register(replayer)
	require.NoError(t, replayer.ReplayWorkflowHistoryFromJSONFile(nil, "testdata/linear_policy_refused_history.json"))
}

// Promotion on evidence for a model trained in Python, on the dev server, a
// real MLflow server and both workers: TrainPython keeps the held-out rows
// out (the same rule as Go), EvaluatePython scores the exact challenger and
// champion versions (pyfunc, manifest checked) on them, and Go records the
// evidence and decides as for its own flavors: a better challenger takes
// the alias, a worse one keeps the champion.
func TestPromoteOnEvidencePython(t *testing.T) {
	for _, where := range []string{"embedded", "mlflow"} {
		t.Run(where, func(t *testing.T) { promoteOnEvidencePython(t, where) })
	}
}

// startWorkers starts a Go worker and a Python worker on the embedded
// store or a shared MLflow server (where: "embedded" or "mlflow") and
// returns a client of that store.
func startWorkers(t *testing.T, c *cliEnv, where string) store.Store {
	if where != "mlflow" {
		c.startWorker()
		c.startPyWorker("")
		return c.openStore()
	}
	ml := testenv.SharedMLflow(t, testenv.MLflowOptions{})
	c.startWorker("MLFLOW_TRACKING_URI=" + ml.URL)
	c.startPyWorker(ml.URL)
	client, err := mlflow.New(mlflow.Config{TrackingURI: ml.URL})
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Close() })
	return client
}

// holdoutFraction holds out the same rows in every pipeline of these tests.
var holdoutFraction = []string{"--holdout-fraction", "0.3", "--holdout-seed", "7"}

// beatsChampionRuns returns a function that runs a beats-champion pipeline
// of model to alias "champion" through the starter and returns its result.
func beatsChampionRuns(c *cliEnv, model string) func(id, trainer, data string, holdout ...string) workflows.LifecycleResult {
	return func(id, trainer, data string, holdout ...string) workflows.LifecycleResult {
		var out struct {
			Result workflows.LifecycleResult `json:"result"`
		}
		c.okJSON(&out, append([]string{"run", "--model", model, "--data", data, "--trainer", trainer, "--alias", "champion",
			"--policy", "beats-champion", "--id", model + "-" + id}, holdout...)...)
		return out.Result
	}
}

// requireBeatsV1 checks that v2 was promoted over v1 on evidence with
// these mean squared errors.
func requireBeatsV1(t *testing.T, res workflows.LifecycleResult, challengerMSE, championMSE float64) {
	t.Helper()
	require.Equal(t, workflows.OutcomePromoted, res.Outcome, res.Reason)
	require.Equal(t, 2, res.Version)
	require.NotNil(t, res.Evidence)
	require.NotNil(t, res.Evidence.ChampionScores)
	require.Equal(t, 1, res.Evidence.Champion)
	require.InDelta(t, challengerMSE, res.Evidence.ChallengerScores.MSE, 1e-9)
	require.InDelta(t, championMSE, res.Evidence.ChampionScores.MSE, 1e-9)
}

// promoteOnEvidencePython: on the embedded store the Go worker stages the
// challenger and the champion for the Python worker (it cannot read that
// store); against an MLflow server the Python worker loads them itself.
func promoteOnEvidencePython(t *testing.T, where string) {
	c := newCLIEnv(t)
	st := startWorkers(t, c, where)
	model := fmt.Sprintf("pypolicy-%d", time.Now().UnixNano())
	dir := t.TempDir()
	run := beatsChampionRuns(c, model)

	res := run("1", "sklearn-linear", planeCSV(t, dir, "v1.csv", 5, 30, time.Time{}), holdoutFraction...)
	require.Equal(t, workflows.OutcomePromoted, res.Outcome, res.Reason)
	require.Equal(t, "sklearn", res.Flavor)
	require.Contains(t, res.Reason, "no champion")

	res = run("2", "sklearn-linear", planeCSV(t, dir, "v2.csv", 0, 30, time.Time{}), holdoutFraction...)
	requireBeatsV1(t, res, 0, 25)
	held := 0
	for i := range 30 {
		if rows.HeldOutByFraction(i, 0.3, 7) {
			held++
		}
	}
	require.Equal(t, held, res.Evidence.ChallengerScores.N, "the rows TrainPython held out, by Go's rule")
	require.Equal(t, "fraction 0.3 of the training rows, seed 7", res.Evidence.HeldOut)
	mv, err := st.GetModelVersion(context.Background(), model, 2)
	require.NoError(t, err)
	require.Equal(t, "1", mv.Tags[vocab.TagEvalChampionVersion], "%v", mv.Tags)
	require.Equal(t, res.Evidence.HeldOutDataSHA256, mv.Tags[vocab.TagEvalDataSHA256])
	champ, err := st.GetModelVersion(context.Background(), model, 1)
	require.NoError(t, err)
	require.Contains(t, champ.Tags, vocab.TagEvalVs(2, "mse"))

	eval := planeCSV(t, dir, "eval.csv", 0, 12, time.Time{})
	res = run("3", "sklearn-linear", planeCSV(t, dir, "v3.csv", 10, 30, time.Time{}), "--eval-data", eval)
	require.Equal(t, workflows.OutcomeKeptChampion, res.Outcome, res.Reason)
	require.Contains(t, res.Reason, "does not beat champion v2")
	require.Equal(t, 12, res.Evidence.ChallengerScores.N)
	require.InDelta(t, 100, res.Evidence.ChallengerScores.MSE, 1e-6)
	require.Equal(t, 3, res.Version)
	a, err := st.GetModelVersionByAlias(context.Background(), model, "champion")
	require.NoError(t, err)
	require.Equal(t, 2, a.Version)
}

// A schedule of the linear flavor with a beats-champion policy and a
// held-out window, over a 5-day backfill: TestScheduleBeatsChampionBackfill's
// data (y = x + day offset, x = 1, 2, 3 each day), whose least-squares fit
// is slope 1 and the mean offset, so the runs' outcomes are the FakeModel
// table's: each trains on the days before its cutoff, is scored with the
// champion on the last day, and only the improving versions take the alias.
func TestScheduleBeatsChampionBackfillLinear(t *testing.T) {
	t.Parallel()
	c := newCLIEnv(t)
	c.startWorker()
	c.beatsChampionBackfill("retrain-linear", "daily-linear", "--trainer", "linear")
	st := c.openStore()
	mv, err := st.GetModelVersionByAlias(t.Context(), "daily-linear", "champion")
	require.NoError(t, err)
	require.Equal(t, 3, mv.Version)
	rn, err := st.GetRun(t.Context(), mv.RunID)
	require.NoError(t, err)
	require.Equal(t, linearmodel.Name, rn.Params["flavor"])
}

// TestMixedFlavorsOnEvidence: one model name, versions trained by both
// workers. A Go challenger cannot load a champion only Python loads, and
// the other way round; the evaluation must still compare them on the same
// held-out rows, not fail on the champion's flavor.
func TestMixedFlavorsOnEvidence(t *testing.T) {
	for _, where := range []string{"embedded", "mlflow"} {
		t.Run(where, func(t *testing.T) { mixedFlavorsOnEvidence(t, where) })
	}
}

func mixedFlavorsOnEvidence(t *testing.T, where string) {
	c := newCLIEnv(t)
	st := startWorkers(t, c, where)
	model := fmt.Sprintf("mixed-%d", time.Now().UnixNano())
	dir := t.TempDir()
	run := beatsChampionRuns(c, model)
	champion := func() int {
		a, err := st.GetModelVersionByAlias(context.Background(), model, "champion")
		require.NoError(t, err)
		return a.Version
	}

	res := run("1", "sklearn-linear", planeCSV(t, dir, "v1.csv", 5, 30, time.Time{}), holdoutFraction...)
	require.Equal(t, workflows.OutcomePromoted, res.Outcome, res.Reason)
	require.Equal(t, "sklearn", res.Flavor)

	// Go challenger, Python-only champion.
	res = run("2", "linear", planeCSV(t, dir, "v2.csv", 0, 30, time.Time{}), holdoutFraction...)
	requireBeatsV1(t, res, 0, 25)
	require.Equal(t, 2, champion())

	// Python challenger, Go champion, scored on separate evaluation rows
	// the champion fits: the challenger is worse, so the Go version stays.
	eval := planeCSV(t, dir, "eval.csv", 0, 12, time.Time{})
	res = run("3", "sklearn-linear", planeCSV(t, dir, "v3.csv", 10, 30, time.Time{}), "--eval-data", eval)
	require.Equal(t, workflows.OutcomeKeptChampion, res.Outcome, res.Reason)
	require.Equal(t, 3, res.Version)
	require.Equal(t, 2, res.Evidence.Champion)
	require.Equal(t, 12, res.Evidence.ChallengerScores.N)
	require.InDelta(t, 0, res.Evidence.ChampionScores.MSE, 1e-9)
	require.InDelta(t, 100, res.Evidence.ChallengerScores.MSE, 1e-6)
	require.Equal(t, 2, champion())
}
