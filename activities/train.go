package activities

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash/fnv"
	"math"
	"time"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/fakemodel"
	"github.com/flavorflow/flavorflow/store"
)

// Train fits a FakeModel to the training data observed at or before the
// cutoff (the schedule's nominal time; all data without one), less the rows
// in.Holdout keeps for evaluation (SplitData: the rows Evaluate scores).
// The output's stats and data sha256 are of the rows it fitted. The weights payload, when
// asked for, is seeded by the workflow ID so every attempt builds the same
// bytes.
func (a *Activities) Train(ctx context.Context, in TrainInput) (TrainOutput, error) {
	// Reading a large data file takes a while; heartbeat so the step's short
	// heartbeat timeout tells a dead worker from a slow one.
	stop := a.keepAlive(ctx, func() any { return "training" })
	out, err := a.train(ctx, in)
	stop()
	return out, toTemporal(err)
}

func (a *Activities) train(ctx context.Context, in TrainInput) (TrainOutput, error) {
	if err := store.ValidateModelName(in.ModelName); err != nil {
		return TrainOutput{}, err
	}
	split, model, stats, err := FitSplit(in.Data, in.Holdout, in.Cutoff)
	if err != nil {
		return TrainOutput{}, err
	}
	if in.WeightsSize < 0 || in.WeightsSize > fakemodel.MaxWeightsSize {
		return TrainOutput{}, failure.New(failure.InvalidModel, "weights size %d is outside [0, %d]", in.WeightsSize, int64(fakemodel.MaxWeightsSize))
	}
	id, _ := workflowKey(ctx)
	model.WeightsSize = in.WeightsSize
	if in.WeightsSize > 0 {
		h := fnv.New64a()
		_, _ = h.Write([]byte(id))
		model.WeightsSeed = h.Sum64()
	}
	a.logger(ctx).Info("trained", "model", model.String(), "samples", stats.N, "mse", stats.MSE, "cutoff", in.Cutoff,
		"held_out", split.HeldOutDesc, "held_out_rows", len(split.HeldOut))
	out := TrainOutput{Model: model, Stats: stats, DataSHA256: samplesDigest(split.Train)}
	if !in.Holdout.IsZero() {
		out.HeldOut, out.HeldOutRows = split.HeldOutDesc, len(split.HeldOut)
	}
	return out, nil
}

// Split is the rows a pipeline trains on and the rows it holds out for
// evaluation, with a description of how they were chosen.
type Split struct {
	Train       []fakemodel.Sample
	HeldOut     []fakemodel.Sample
	HeldOutDesc string
}

// SplitData reads the training data (and the evaluation data) and splits
// it by h: the one place that decides which rows Train fits and which rows
// Evaluate scores, so the two always agree. Without a holdout every row up
// to the cutoff trains and nothing is held out. A separate evaluation set
// is read with the training data's readers and limits and is not cut by
// the cutoff (every run of a schedule scores on the same set).
func SplitData(d TrainingData, h Holdout, cutoff time.Time) (Split, error) {
	if err := h.Validate(); err != nil {
		return Split{}, err
	}
	samples, err := loadSamples(d)
	if err != nil {
		return Split{}, err
	}
	var sp Split
	switch {
	case h.Fraction != 0:
		sp.Train, sp.HeldOut, err = fakemodel.SplitFraction(samples, cutoff, h.Fraction, h.Seed)
		sp.HeldOutDesc = h.String()
	case h.Window != 0:
		sp.Train, sp.HeldOut, err = fakemodel.SplitWindow(samples, cutoff, h.Window)
		sp.HeldOutDesc = "window " + h.Window.String() + " before " + windowEnd(sp.HeldOut, cutoff)
	default:
		sp.Train, err = fakemodel.Until(samples, cutoff)
		if err == nil && h.Data != nil {
			sp.HeldOut, err = loadSamples(*h.Data)
			if err != nil {
				err = failure.Wrap(failure.CodeOf(err), err, "evaluation data")
			}
			sp.HeldOutDesc = h.String()
		}
	}
	if err != nil {
		return Split{}, err
	}
	return sp, nil
}

// windowEnd names the end of a held-out window: the cutoff, or the newest
// held-out row's time.
func windowEnd(heldOut []fakemodel.Sample, cutoff time.Time) string {
	if !cutoff.IsZero() {
		return cutoff.UTC().Format(time.RFC3339) + " (the cutoff)"
	}
	var end time.Time
	for _, s := range heldOut {
		if s.T.After(end) {
			end = s.T
		}
	}
	return end.UTC().Format(time.RFC3339) + " (the newest row)"
}

// FitSplit is SplitData and a fit of the training rows: every check Train
// makes on its data and holdout. The starter can call it before it starts a
// pipeline with a holdout, as it calls FitData.
func FitSplit(d TrainingData, h Holdout, cutoff time.Time) (Split, fakemodel.FakeModel, fakemodel.Stats, error) {
	sp, err := SplitData(d, h, cutoff)
	if err != nil {
		return Split{}, fakemodel.FakeModel{}, fakemodel.Stats{}, err
	}
	model, stats, err := fakemodel.Fit(sp.Train)
	return sp, model, stats, err
}

// FitData loads the training data, keeps the samples up to cutoff and fits
// them: every check Train makes on its data, with its limits and errors. The
// starter calls it before it starts a pipeline, so data the worker would
// refuse is InvalidTrainingData (exit 2) up front, not a failed pipeline.
func FitData(d TrainingData, cutoff time.Time) ([]fakemodel.Sample, fakemodel.FakeModel, fakemodel.Stats, error) {
	sp, model, stats, err := FitSplit(d, Holdout{}, cutoff)
	return sp.Train, model, stats, err
}

func loadSamples(d TrainingData) ([]fakemodel.Sample, error) {
	if len(d.Pairs) > 0 && d.Path != "" {
		return nil, failure.New(failure.InvalidTrainingData, "give training pairs or a data file, not both")
	}
	if err := d.CheckInlineLimit(); err != nil {
		return nil, err
	}
	switch {
	case len(d.Pairs) > 0:
		return d.Pairs, nil
	case d.Path == "":
		return nil, failure.New(failure.InvalidTrainingData, "no training data (neither pairs nor a data file)")
	}
	return fakemodel.ReadFile(d.Path)
}

// samplesDigest is the sha256 of the samples as little-endian float64 pairs:
// the same data gives the same digest whatever file format carried it.
func samplesDigest(samples []fakemodel.Sample) string {
	h := sha256.New()
	var buf [16]byte
	for _, s := range samples {
		binary.LittleEndian.PutUint64(buf[:8], math.Float64bits(s.X))
		binary.LittleEndian.PutUint64(buf[8:], math.Float64bits(s.Y))
		_, _ = h.Write(buf[:])
	}
	return hex.EncodeToString(h.Sum(nil))
}
