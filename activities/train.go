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
// cutoff (the schedule's nominal time; all data without one). The weights payload, when
// asked for, is seeded by the workflow ID so every attempt builds the same
// bytes.
func (a *Activities) Train(ctx context.Context, in TrainInput) (TrainOutput, error) {
	// Reading a large data file takes a while; heartbeat so the step's short
	// heartbeat timeout tells a dead worker from a slow one.
	return run(ctx, a, "training", a.train, in)
}

func (a *Activities) train(ctx context.Context, in TrainInput) (TrainOutput, error) {
	if err := store.ValidateModelName(in.ModelName); err != nil {
		return TrainOutput{}, err
	}
	samples, model, stats, err := FitData(in.Data, in.Cutoff)
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
	a.logger(ctx).Info("trained", "model", model.String(), "samples", stats.N, "mse", stats.MSE, "cutoff", in.Cutoff)
	return TrainOutput{Model: model, Stats: stats, DataSHA256: samplesDigest(samples)}, nil
}

// FitData loads the training data, keeps the samples up to cutoff and fits
// them: every check Train makes on its data, with its limits and errors. The
// starter calls it before it starts a pipeline, so data the worker would
// refuse is InvalidTrainingData (exit 2) up front, not a failed pipeline.
func FitData(d TrainingData, cutoff time.Time) ([]fakemodel.Sample, fakemodel.FakeModel, fakemodel.Stats, error) {
	samples, err := loadSamples(d)
	if err != nil {
		return nil, fakemodel.FakeModel{}, fakemodel.Stats{}, err
	}
	if samples, err = fakemodel.Until(samples, cutoff); err != nil {
		return nil, fakemodel.FakeModel{}, fakemodel.Stats{}, err
	}
	model, stats, err := fakemodel.Fit(samples)
	return samples, model, stats, err
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
