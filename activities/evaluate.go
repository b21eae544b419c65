package activities

import (
	"context"
	"fmt"
	"strconv"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/fakemodel"
	"github.com/flavorflow/flavorflow/flavor"
	"github.com/flavorflow/flavorflow/internal/telemetry"
	"github.com/flavorflow/flavorflow/modeluri"
	"github.com/flavorflow/flavorflow/policy"
	"github.com/flavorflow/flavorflow/store"
	"github.com/flavorflow/flavorflow/vocab"
)

// Metric keys Evaluate logs to the challenger's run. The challenger's are
// linked to its logged model (the MLflow UI shows them on the model's page,
// with the held-out data as their dataset); the champion's are the run's
// only, since they describe another model.
const (
	MetricEvalMSE         = "eval_mse"
	MetricEvalMAE         = "eval_mae"
	MetricEvalR2          = "eval_r2"
	MetricEvalRows        = "eval_rows"
	MetricChampionEvalMSE = "champion_eval_mse"
	MetricChampionEvalMAE = "champion_eval_mae"
	MetricChampionEvalR2  = "champion_eval_r2"
	// EvalDatasetName is the dataset name of the challenger's metrics; the
	// digest is the start of the held-out rows' sha256.
	EvalDatasetName = "held-out"
)

// Evaluate scores the challenger version and the champion version on the
// same held-out rows, chosen exactly as Train chose the rows it kept out.
// Each version is downloaded into a fresh directory, checked against its
// manifest and the hash recorded on it, and loaded with its flavor, as
// LoadAndVerify does; the scores are the predictions of those exact bytes.
// The scores are logged to the challenger's run (timestamped in.At, so a
// retry logs identical points) and tagged on both versions.
func (a *Activities) Evaluate(ctx context.Context, in EvaluateInput) (EvaluateOutput, error) {
	stop := a.keepAlive(ctx, func() any { return "evaluating" })
	out, err := a.evaluate(ctx, in)
	stop()
	return out, toTemporal(err)
}

func (a *Activities) evaluate(ctx context.Context, in EvaluateInput) (EvaluateOutput, error) {
	if err := vocab.ValidateModelName(in.ModelName); err != nil {
		return EvaluateOutput{}, err
	}
	switch {
	case in.Challenger < 1:
		return EvaluateOutput{}, failure.New(failure.InvalidArgument, "challenger version %d: versions start at 1", in.Challenger)
	case in.Champion < 0:
		return EvaluateOutput{}, failure.New(failure.InvalidArgument, "champion version %d is negative", in.Champion)
	case in.Holdout.IsZero():
		return EvaluateOutput{}, failure.New(failure.InvalidArgument, "no held-out data to evaluate on (give evaluation data, a fraction or a window)")
	case in.At.IsZero():
		return EvaluateOutput{}, failure.New(failure.InvalidArgument, "no time to log the evaluation metrics at")
	}
	if isGeneric(in.Flavor) {
		return a.evaluateFlavor(ctx, in)
	}
	split, err := fakemodel.SplitData(in.Data, in.Holdout, in.Cutoff)
	if err != nil {
		return EvaluateOutput{}, err
	}
	if in.TrainDataSHA256 != "" {
		if now := samplesDigest(split.Train); now != in.TrainDataSHA256 {
			return EvaluateOutput{}, failure.New(failure.InvalidTrainingData,
				"the training data changed since the challenger was trained (its training rows hash to %s, now %s): the held-out rows (%s) could include rows it was trained on; run the pipeline again",
				in.TrainDataSHA256, now, split.HeldOutDesc)
		}
	}
	xs := make([]float64, len(split.HeldOut))
	ys := make([]float64, len(split.HeldOut))
	for i, s := range split.HeldOut {
		xs[i], ys[i] = s.X, s.Y
	}
	ev := policy.Evidence{Challenger: in.Challenger, HeldOut: split.HeldOutDesc, HeldOutDataSHA256: samplesDigest(split.HeldOut)}
	var read int64

	challenger, n, err := a.loadVersion(ctx, in.ModelName, in.Challenger, in.ChallengerSHA256)
	read += n
	if err != nil {
		return EvaluateOutput{}, err
	}
	if ev.ChallengerScores, err = policy.Score(challenger.PredictAll(xs), ys); err != nil {
		return EvaluateOutput{}, err
	}
	if in.Champion > 0 {
		ev.Champion = in.Champion
		scores := ev.ChallengerScores
		if in.Champion != in.Challenger {
			// The champion's own recorded hash: loadVersion refuses a
			// version without one (InvalidManifest, `starter verify`).
			champion, n, err := a.loadVersion(ctx, in.ModelName, in.Champion, "")
			read += n
			if err != nil {
				return EvaluateOutput{}, championErr(in, err)
			}
			if scores, err = policy.Score(champion.PredictAll(xs), ys); err != nil {
				return EvaluateOutput{}, err
			}
		}
		ev.ChampionScores = &scores
	}
	return a.finishEvaluation(ctx, in, ev, read)
}

// finishEvaluation records the evidence and reports it.
func (a *Activities) finishEvaluation(ctx context.Context, in EvaluateInput, ev policy.Evidence, read int64) (EvaluateOutput, error) {
	if err := a.recordEvidence(ctx, in, ev); err != nil {
		return EvaluateOutput{}, err
	}
	a.Metrics.AddBytes(ctx, telemetry.Download, read)
	log := a.logger(ctx).With("model", in.ModelName, "challenger", in.Challenger, "held_out", ev.HeldOut, "rows", ev.ChallengerScores.N,
		"challenger_mse", ev.ChallengerScores.MSE)
	if in.Flavor != "" {
		log = log.With("flavor", in.Flavor)
	}
	if ev.ChampionScores != nil {
		log = log.With("champion", ev.Champion, "champion_mse", ev.ChampionScores.MSE)
	}
	log.Info("evaluated")
	return EvaluateOutput{Evidence: ev, BytesRead: read}, nil
}

// RecordEvidence records the scores the Python worker's EvaluatePython
// computed, exactly as Evaluate records its own (metrics on the
// challenger's run, tags on both versions, the held-out rows as the run's
// evaluation input), and returns the evidence the policy decides on.
func (a *Activities) RecordEvidence(ctx context.Context, in RecordEvidenceInput) (EvaluateOutput, error) {
	return run(ctx, a, "", a.recordPythonEvidence, in)
}

func (a *Activities) recordPythonEvidence(ctx context.Context, in RecordEvidenceInput) (EvaluateOutput, error) {
	e, s := in.Evaluate, in.Scored
	if err := vocab.ValidateModelName(e.ModelName); err != nil {
		return EvaluateOutput{}, err
	}
	switch {
	case e.Challenger < 1 || e.At.IsZero():
		return EvaluateOutput{}, failure.New(failure.InvalidArgument, "challenger version %d, time %v: nothing to record", e.Challenger, e.At)
	case len(s.HeldOutDataSHA256) != 64 || s.ChallengerScores.N == 0:
		return EvaluateOutput{}, failure.New(failure.InvalidArgument, "the Python worker returned no held-out rows (digest %q, %d rows)", s.HeldOutDataSHA256, s.ChallengerScores.N)
	case (e.Champion > 0) != (s.ChampionScores != nil):
		return EvaluateOutput{}, failure.New(failure.InvalidArgument, "champion v%d and champion scores %v do not go together", e.Champion, s.ChampionScores)
	}
	ev := policy.Evidence{Challenger: e.Challenger, ChallengerScores: s.ChallengerScores, HeldOut: e.Holdout.String(), HeldOutDataSHA256: s.HeldOutDataSHA256}
	if e.Holdout.Window != 0 {
		which := " (the cutoff)"
		if e.Cutoff.IsZero() {
			which = " (the newest row)"
		}
		ev.HeldOut = "window " + e.Holdout.Window.String() + " before " + s.WindowEnd + which
	}
	if s.ChampionScores != nil {
		ev.Champion, ev.ChampionScores = e.Champion, s.ChampionScores
	}
	return a.finishEvaluation(ctx, e, ev, s.BytesRead)
}

// DefaultTarget is the column a held-out row's true value is read from
// when the challenger's predictor does not name one (Targeted): y, the
// target of fakemodel's pairs, the worker's linear trainer and the Python
// trainers.
const DefaultTarget = "y"

// Targeted is implemented by a flavor.Predictor that knows which column
// it predicts (linearmodel's records its target); Evaluate scores its
// predictions against that column of the held-out rows.
type Targeted interface {
	Target() string
}

// evaluateFlavor is Evaluate for a challenger of a flavor other than
// fakemodel: the held-out rows are rows of named columns (SplitTable, as
// Train split them), both versions are loaded through the worker's flavor
// registry with the same download and integrity checks, and each scores
// its Predict on the held-out rows against the target column. The
// champion may be of any registered flavor (a model name can change
// flavors between versions), as long as it reads columns the rows have.
func (a *Activities) evaluateFlavor(ctx context.Context, in EvaluateInput) (EvaluateOutput, error) {
	split, err := fakemodel.SplitTable(in.Data, in.Holdout, in.Cutoff)
	if err != nil {
		return EvaluateOutput{}, err
	}
	if in.TrainDataSHA256 != "" {
		if now := tableDigest(split.Train); now != in.TrainDataSHA256 {
			return EvaluateOutput{}, failure.New(failure.InvalidTrainingData,
				"the training data changed since the challenger was trained (its training rows hash to %s, now %s): the held-out rows (%s) could include rows it was trained on; run the pipeline again",
				in.TrainDataSHA256, now, split.HeldOutDesc)
		}
	}
	ev := policy.Evidence{Challenger: in.Challenger, HeldOut: split.HeldOutDesc, HeldOutDataSHA256: tableDigest(split.HeldOut)}
	var read int64
	challenger, n, err := a.loadFlavorVersion(ctx, in.ModelName, in.Challenger, in.ChallengerSHA256)
	read += n
	if err != nil {
		return EvaluateOutput{}, err
	}
	if challenger.Flavor != in.Flavor {
		return EvaluateOutput{}, failure.New(failure.VerificationFailed, "version %d of %s loads as flavor %q, the pipeline trained %q", in.Challenger, in.ModelName, challenger.Flavor, in.Flavor)
	}
	target := DefaultTarget
	if t, ok := challenger.Predictor.(Targeted); ok && t.Target() != "" {
		target = t.Target()
	}
	ys, err := split.HeldOut.Column(target)
	if err != nil {
		return EvaluateOutput{}, failure.Wrap(failure.InvalidTrainingData, err, "the held-out rows (%s) have no target column %q", split.HeldOutDesc, target)
	}
	score := func(version int, p flavor.Predictor) (policy.Scores, error) {
		x, err := split.HeldOut.Select(p.Inputs()...)
		if err != nil {
			return policy.Scores{}, failure.Wrap(failure.InvalidTrainingData, err, "version %d of %s reads columns %v, which the held-out rows (%s) lack", version, in.ModelName, p.Inputs(), split.HeldOutDesc)
		}
		preds, err := p.Predict(ctx, x)
		if err != nil {
			return policy.Scores{}, err
		}
		return policy.Score(preds, ys)
	}
	if ev.ChallengerScores, err = score(in.Challenger, challenger.Predictor); err != nil {
		return EvaluateOutput{}, err
	}
	if in.Champion > 0 {
		ev.Champion = in.Champion
		scores := ev.ChallengerScores
		if in.Champion != in.Challenger {
			champion, n, err := a.loadFlavorVersion(ctx, in.ModelName, in.Champion, "")
			read += n
			if err != nil {
				return EvaluateOutput{}, championErr(in, err)
			}
			if scores, err = score(in.Champion, champion.Predictor); err != nil {
				return EvaluateOutput{}, err
			}
		}
		ev.ChampionScores = &scores
	}
	return a.finishEvaluation(ctx, in, ev, read)
}

// championErr says which version failed to load: the code stays the
// cause's (the workflow hands a FlavorNotFound champion to the Python
// worker).
func championErr(in EvaluateInput, err error) error {
	return fmt.Errorf("champion v%d of %s: %w", in.Champion, in.ModelName, err)
}

// loadVersion downloads version of name into a fresh scratch directory
// (removed before it returns), checks every file against the manifest and
// the manifest against the hash recorded on the version, and loads it.
// want, when set, is the hash the pipeline logged, which the version's tag
// must also carry. A version recording no hash is InvalidManifest: nothing
// is scored that could not be checked.
func (a *Activities) loadVersion(ctx context.Context, name string, version int, want string) (fakemodel.FakeModel, int64, error) {
	var m fakemodel.FakeModel
	n, err := a.checkedLoad(ctx, name, version, want, func(ctx context.Context, uri, dst string) (string, error) {
		loaded, err := flavor.LoadModel(ctx, a.Store, uri, dst)
		m = loaded.Model
		return loaded.ManifestSHA256, err
	})
	return m, n, err
}

// loadFlavorVersion is loadVersion for a version of any flavor the
// worker's registry loads.
func (a *Activities) loadFlavorVersion(ctx context.Context, name string, version int, want string) (flavor.Model, int64, error) {
	var m flavor.Model
	n, err := a.checkedLoad(ctx, name, version, want, func(ctx context.Context, uri, dst string) (string, error) {
		var err error
		m, err = flavor.Load(ctx, a.registry(), a.Store, uri, dst)
		return m.ManifestSHA256, err
	})
	return m, n, err
}

// checkedLoad is loadVersion's checks around load, which downloads uri
// into dst, loads it and returns the manifest hash it loaded with.
func (a *Activities) checkedLoad(ctx context.Context, name string, version int, want string, load func(ctx context.Context, uri, dst string) (string, error)) (int64, error) {
	mv, err := a.Store.GetModelVersion(ctx, name, version)
	if err != nil {
		return 0, err
	}
	tag := mv.Tags[vocab.TagManifestSHA256]
	switch {
	case tag == "":
		return 0, failure.New(failure.InvalidManifest,
			"version %d of %s records no manifest hash (%s) to check its bytes against; run `starter verify --model %s --version %d` first",
			version, name, vocab.TagManifestSHA256, name, version)
	case want != "" && tag != want:
		return 0, failure.New(failure.ChecksumMismatch, "version %d carries manifest hash %q, the pipeline logged %q", version, tag, want)
	}
	dst, release, err := a.downloadDir(ctx)
	if err != nil {
		return 0, err
	}
	defer release()
	dlCtx, handBack, cancel := a.untilStop(ctx)
	got, err := load(dlCtx, modeluri.Version(name, version), dst)
	cancel()
	size, _ := dirSize(dst)
	if err = handBack(err); err != nil {
		return size, err
	}
	// The load compared the download with the tag; this makes the
	// comparison explicit, whatever the loader's rules become.
	if got != tag {
		return size, failure.New(failure.ChecksumMismatch, "version %d of %s downloaded with manifest hash %s, it records %s", version, name, got, tag)
	}
	return size, nil
}

// recordEvidence logs the scores to the challenger's run and tags both
// versions. Every write is idempotent: a retry writes the same points and
// tags.
func (a *Activities) recordEvidence(ctx context.Context, in EvaluateInput, ev policy.Evidence) error {
	ts := in.At.UnixMilli()
	c := ev.ChallengerScores
	digest := ev.HeldOutDataSHA256[:16]
	point := func(key string, v float64) store.Metric {
		m := store.Metric{Key: key, Value: v, TimestampMs: ts}
		if in.ChallengerModelID != "" {
			m.ModelID, m.DatasetName, m.DatasetDigest = in.ChallengerModelID, EvalDatasetName, digest
		}
		return m
	}
	metrics := []store.Metric{
		point(MetricEvalMSE, c.MSE), point(MetricEvalMAE, c.MAE), point(MetricEvalR2, c.R2), point(MetricEvalRows, float64(c.N)),
	}
	tags := [][2]string{
		{vocab.TagEvalMSE, num(c.MSE)}, {vocab.TagEvalMAE, num(c.MAE)}, {vocab.TagEvalR2, num(c.R2)}, {vocab.TagEvalRows, strconv.Itoa(c.N)},
		{vocab.TagEvalHeldOut, ev.HeldOut}, {vocab.TagEvalDataSHA256, ev.HeldOutDataSHA256},
		{vocab.TagEvalChampionVersion, "none"},
	}
	if h := ev.ChampionScores; h != nil {
		// Step is the champion's version: a pipeline that evaluates again
		// because the alias moved meanwhile logs its new comparison as a
		// new point at the same time, and MLflow's latest value (highest
		// step first) is the comparison with the newest champion, not the
		// largest of the values.
		step := int64(ev.Champion)
		metrics = append(metrics,
			store.Metric{Key: MetricChampionEvalMSE, Value: h.MSE, TimestampMs: ts, Step: step},
			store.Metric{Key: MetricChampionEvalMAE, Value: h.MAE, TimestampMs: ts, Step: step},
			store.Metric{Key: MetricChampionEvalR2, Value: h.R2, TimestampMs: ts, Step: step})
		tags[len(tags)-1][1] = strconv.Itoa(ev.Champion)
		tags = append(tags, [2]string{vocab.TagEvalChampionMSE, num(h.MSE)}, [2]string{vocab.TagEvalChampionMAE, num(h.MAE)}, [2]string{vocab.TagEvalChampionR2, num(h.R2)})
	}
	if in.ChallengerRunID != "" {
		if err := a.Store.LogBatch(ctx, in.ChallengerRunID, store.Batch{Metrics: metrics}); err != nil {
			return err
		}
		// The held-out rows as the run's evaluation input, named as the
		// metrics' dataset; logged once per run however often it runs.
		src := in.Data
		if in.Holdout.Data != nil {
			src = *in.Holdout.Data
		}
		input := datasetInput(EvalDatasetName, ev.HeldOutDataSHA256, dataSource(src), c.N, ContextEvaluation)
		if err := a.Store.LogInputs(ctx, in.ChallengerRunID, []store.DatasetInput{input}); err != nil {
			return err
		}
	}
	for _, kv := range tags {
		if err := a.Store.SetModelVersionTag(ctx, in.ModelName, in.Challenger, kv[0], kv[1]); err != nil {
			return err
		}
	}
	if h := ev.ChampionScores; h != nil && ev.Champion != ev.Challenger {
		for _, kv := range [][2]string{
			{vocab.TagEvalVs(ev.Challenger, string(policy.MSE)), num(h.MSE)},
			{vocab.TagEvalVs(ev.Challenger, string(policy.MAE)), num(h.MAE)},
			{vocab.TagEvalVs(ev.Challenger, string(policy.R2)), num(h.R2)},
		} {
			if err := a.Store.SetModelVersionTag(ctx, in.ModelName, ev.Champion, kv[0], kv[1]); err != nil {
				return err
			}
		}
	}
	return nil
}

// num formats a score so that it parses back to the same float64.
func num(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
