package activities

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash/fnv"
	"io"
	"math"
	"os"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/fakemodel"
	"github.com/flavorflow/flavorflow/store"
)

// MaxTrainingFile bounds a training data file (64 MiB is ~3M CSV pairs,
// more than MaxSamples).
const MaxTrainingFile = 64 << 20

// Train fits a FakeModel to the training data observed at or before the
// cutoff (the schedule's nominal time; all data without one). The weights payload, when
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
	samples, err := loadSamples(in.Data)
	if err != nil {
		return TrainOutput{}, err
	}
	if samples, err = fakemodel.Until(samples, in.Cutoff); err != nil {
		return TrainOutput{}, err
	}
	model, stats, err := fakemodel.Fit(samples)
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
	f, err := os.Open(d.Path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, failure.New(failure.InvalidTrainingData, "training data file %s does not exist", d.Path)
		}
		return nil, failure.Wrap(failure.InvalidTrainingData, err, "open training data")
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, failure.Wrap(failure.InvalidTrainingData, err, "stat training data")
	}
	if st.IsDir() {
		return nil, failure.New(failure.InvalidTrainingData, "training data %s is a directory", d.Path)
	}
	if st.Size() > MaxTrainingFile {
		return nil, failure.New(failure.InvalidTrainingData, "training data file is %d bytes, over the limit of %d", st.Size(), MaxTrainingFile)
	}
	return fakemodel.ReadSamples(io.LimitReader(f, MaxTrainingFile))
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
