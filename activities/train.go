package activities

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash/fnv"
	"math"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/fakemodel"
	"github.com/flavorflow/flavorflow/flavor"
	"github.com/flavorflow/flavorflow/vocab"
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
	return run(ctx, a, "training", a.train, in)
}

func (a *Activities) train(ctx context.Context, in TrainInput) (TrainOutput, error) {
	if err := vocab.ValidateModelName(in.ModelName); err != nil {
		return TrainOutput{}, err
	}
	tr, err := a.checkTrainer(in)
	if err != nil {
		return TrainOutput{}, err
	}
	if isGeneric(tr.Flavor) {
		return a.trainGeneric(ctx, in, tr)
	}
	split, model, stats, err := fakemodel.FitSplit(in.Data, in.Holdout, in.Cutoff)
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
	out := TrainOutput{Model: model, Stats: stats, DataSHA256: samplesDigest(split.Train),
		Dataset: &TrainingDataset{Source: dataSource(in.Data), Rows: len(split.Train)}}
	if !in.Holdout.IsZero() {
		out.HeldOut, out.HeldOutRows = split.HeldOutDesc, len(split.HeldOut)
	}
	return out, nil
}

// checkTrainer resolves in.Trainer and in.Flavor in the worker's registry:
// an unknown name is UnknownTrainer or FlavorNotFound, never retried (no
// other worker of this build has it either), and a trainer of another
// flavor than the one asked for is InvalidArgument. The fakemodel flavor is
// trained by its own trainer only (its path predates the registry).
func (a *Activities) checkTrainer(in TrainInput) (flavor.Trainer, error) {
	reg := a.registry()
	name := in.Trainer
	if name == "" {
		name = flavor.FlavorName
	}
	tr, err := reg.Trainer(name)
	if err != nil {
		return flavor.Trainer{}, err
	}
	want := in.Flavor
	if want == "" {
		want = tr.Flavor
	}
	if _, err := reg.Flavor(want); err != nil {
		return flavor.Trainer{}, err
	}
	switch {
	case tr.Flavor != want:
		return flavor.Trainer{}, failure.New(failure.InvalidArgument, "trainer %q fits flavor %q, not %q", name, tr.Flavor, want)
	case want == flavor.FlavorName && name != flavor.FlavorName:
		return flavor.Trainer{}, failure.New(failure.InvalidArgument, "trainer %q: fakemodel models are trained by the fakemodel trainer only", name)
	}
	return tr, nil
}

// samplesDigest is the sha256 of the samples as little-endian float64 pairs:
// the same data gives the same digest whatever file format carried it.
func samplesDigest(samples []vocab.Sample) string {
	h := sha256.New()
	var buf [16]byte
	for _, s := range samples {
		binary.LittleEndian.PutUint64(buf[:8], math.Float64bits(s.X))
		binary.LittleEndian.PutUint64(buf[8:], math.Float64bits(s.Y))
		_, _ = h.Write(buf[:])
	}
	return hex.EncodeToString(h.Sum(nil))
}
