package activities

// The pipeline's steps for models of flavors other than fakemodel: the
// trainer and flavor come from the worker's registry, the model travels
// between steps as its JSON, and verification compares the loaded
// version's predictions with the trained model's on a few training rows.
// fakemodel keeps its own path (train.go, save.go, verify.go) so histories
// recorded before flavors existed replay with the same inputs.

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"slices"
	"time"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/fakemodel"
	"github.com/flavorflow/flavorflow/flavor"
	"github.com/flavorflow/flavorflow/internal/telemetry"
	"github.com/flavorflow/flavorflow/rows"
	"github.com/flavorflow/flavorflow/vocab"
)

// maxCheckRows bounds the verification rows carried in the history.
const maxCheckRows = 8

// isGeneric reports whether a model of flavor name takes this file's path.
func isGeneric(name string) bool { return name != "" && name != flavor.FlavorName }

// trainGeneric fits with tr, a trainer of a flavor other than fakemodel.
func (a *Activities) trainGeneric(ctx context.Context, in TrainInput, tr flavor.Trainer) (TrainOutput, error) {
	reg := a.registry()
	fl, err := reg.Flavor(tr.Flavor)
	if err != nil {
		return TrainOutput{}, err
	}
	if _, ok := fl.(flavor.Decoder); !ok {
		return TrainOutput{}, failure.New(failure.InvalidArgument, "flavor %q cannot be trained by a pipeline: it does not implement flavor.Decoder", tr.Flavor)
	}
	if in.WeightsSize != 0 {
		return TrainOutput{}, failure.New(failure.InvalidArgument, "a weights payload is a fakemodel option; flavor %q has none", tr.Flavor)
	}
	// The rows Evaluate scores (SplitTable, the same function) are kept
	// out of the fit.
	split, err := fakemodel.SplitTable(in.Data, in.Holdout, in.Cutoff)
	if err != nil {
		return TrainOutput{}, err
	}
	table := split.Train
	model, metrics, err := tr.Fit(ctx, table)
	if err != nil {
		return TrainOutput{}, err
	}
	for k, v := range metrics {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return TrainOutput{}, failure.New(failure.InvalidTrainingData, "trainer %q reports metric %s = %v, which cannot be recorded", tr.Name, k, v)
		}
	}
	params, err := json.Marshal(model)
	if err != nil {
		return TrainOutput{}, failure.Wrap(failure.InvalidModel, err, "encode the %s model", tr.Flavor)
	}
	check, err := a.expectedPredictions(ctx, fl, params, table)
	if err != nil {
		return TrainOutput{}, err
	}
	a.logger(ctx).Info("trained", "flavor", tr.Flavor, "trainer", tr.Name, "rows", table.Len(), "metrics", metrics, "cutoff", in.Cutoff,
		"held_out", split.HeldOutDesc, "held_out_rows", split.HeldOut.Len())
	out := TrainOutput{
		Stats:      fakemodel.Stats{N: table.Len(), MSE: metrics["mse"]},
		DataSHA256: tableDigest(table),
		Flavor:     tr.Flavor, Params: params, Metrics: metrics, Check: check,
	}
	if !in.Holdout.IsZero() {
		out.HeldOut, out.HeldOutRows = split.HeldOutDesc, split.HeldOut.Len()
	}
	return out, nil
}

// expectedPredictions saves the model as it travels (decoded from params),
// loads it back through the flavor and predicts on the first rows: the
// predictions every later load of the version must reproduce. A model that
// does not survive its own save and load fails here, before anything is
// created in the store.
func (a *Activities) expectedPredictions(ctx context.Context, fl flavor.Flavor, params []byte, table rows.Table) (*ModelCheck, error) {
	model, err := fl.(flavor.Decoder).DecodeModel(params)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "flavorflow-check-")
	if err != nil {
		return nil, failure.Wrap(failure.Internal, err, "temporary directory")
	}
	defer os.RemoveAll(tmp)
	dir := tmp + "/model"
	if _, err := flavor.Save(ctx, dir, fl, model, flavor.SaveOptions{ModelUUID: "00000000000000000000000000000000", Created: time.Unix(0, 0)}); err != nil {
		return nil, err
	}
	reg, err := flavor.NewRegistry(fl)
	if err != nil {
		return nil, err
	}
	loaded, err := flavor.Load(ctx, reg, nil, dir, "")
	if err != nil {
		return nil, err
	}
	in, err := table.Select(loaded.Predictor.Inputs()...)
	if err != nil {
		return nil, failure.Wrap(failure.InvalidModel, err, "the model's inputs")
	}
	in.Rows, in.Times = in.Rows[:min(maxCheckRows, len(in.Rows))], nil
	preds, err := loaded.Predictor.Predict(ctx, in)
	if err != nil {
		return nil, err
	}
	return &ModelCheck{Rows: in, Predictions: preds}, nil
}

// tableDigest is the sha256 of the column names and the rows as
// little-endian float64s: the same rows give the same digest whatever file
// format carried them.
func tableDigest(t rows.Table) string {
	h := sha256.New()
	cols, _ := json.Marshal(t.Columns)
	_, _ = h.Write(cols)
	var buf [8]byte
	for _, row := range t.Rows {
		for _, v := range row {
			binary.LittleEndian.PutUint64(buf[:], math.Float64bits(v))
			_, _ = h.Write(buf[:])
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// decodeModel returns the flavor of a generic save and the model it saves.
func (a *Activities) decodeModel(name string, params json.RawMessage) (flavor.Flavor, any, error) {
	fl, err := a.registry().Flavor(name)
	if err != nil {
		return nil, nil, err
	}
	dec, ok := fl.(flavor.Decoder)
	if !ok {
		return nil, nil, failure.New(failure.InvalidArgument, "flavor %q does not implement flavor.Decoder", name)
	}
	m, err := dec.DecodeModel(params)
	return fl, m, err
}

// checkPredictions compares a loaded version's predictions with the
// trained model's; they are computed by the same code on the same rows, so
// they must be equal, bit for bit.
func checkPredictions(ctx context.Context, p flavor.Predictor, want *ModelCheck, version int) ([]float64, error) {
	if want == nil || len(want.Predictions) == 0 {
		return nil, failure.New(failure.InvalidArgument, "no verification rows")
	}
	got, err := p.Predict(ctx, want.Rows)
	if err != nil {
		return nil, failure.Wrap(failure.VerificationFailed, err, "version %d cannot predict on the verification rows", version)
	}
	if !slices.Equal(got, want.Predictions) {
		return nil, failure.New(failure.VerificationFailed, "version %d predicts %v on the verification rows, the trained model %v", version, got, want.Predictions)
	}
	return got, nil
}

// verifyLoaded finishes LoadAndVerify for a model of another flavor: the
// manifest as logged, the flavor asked for, the trained model's
// predictions; then the version is tagged verified.
func (a *Activities) verifyLoaded(ctx context.Context, in VerifyInput, loaded flavor.Model) (VerifyOutput, error) {
	if loaded.ManifestSHA256 != in.ManifestSHA256 {
		return VerifyOutput{}, failure.New(failure.ChecksumMismatch, "downloaded manifest hash %s differs from the logged %s", loaded.ManifestSHA256, in.ManifestSHA256)
	}
	if loaded.Flavor != in.Flavor {
		return VerifyOutput{}, failure.New(failure.VerificationFailed, "version %d loads as flavor %q, the pipeline trained %q", in.Version, loaded.Flavor, in.Flavor)
	}
	preds, err := checkPredictions(ctx, loaded.Predictor, in.Check, in.Version)
	if err != nil {
		return VerifyOutput{}, err
	}
	if err := a.Store.SetModelVersionTag(ctx, in.ModelName, in.Version, vocab.TagVerified, "true"); err != nil {
		return VerifyOutput{}, err
	}
	size, _ := dirSize(loaded.Dir)
	a.Metrics.AddBytes(ctx, telemetry.Download, size)
	a.logger(ctx).Info("verified", "model", in.ModelName, "version", in.Version, "flavor", in.Flavor, "manifest_sha256", loaded.ManifestSHA256)
	return VerifyOutput{ManifestSHA256: loaded.ManifestSHA256, Predictions: preds, BytesRead: size}, nil
}
