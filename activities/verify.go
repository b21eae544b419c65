package activities

import (
	"context"
	"fmt"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/flavor"
	"github.com/flavorflow/flavorflow/internal/telemetry"
	"github.com/flavorflow/flavorflow/modeluri"
)

// LoadAndVerify downloads the exact registered version into a fresh
// directory, checks every file against the manifest and the manifest against
// the hash recorded at log time and on the version, loads the model and
// compares its predictions with the trained model's. Only then does it tag
// the version verified, which PromoteAlias requires.
func (a *Activities) LoadAndVerify(ctx context.Context, in VerifyInput) (VerifyOutput, error) {
	out, err := a.loadAndVerify(ctx, in)
	return out, toTemporal(err)
}

func (a *Activities) loadAndVerify(ctx context.Context, in VerifyInput) (VerifyOutput, error) {
	if len(in.Inputs) == 0 {
		return VerifyOutput{}, failure.New(failure.InvalidArgument, "no verification inputs")
	}
	mv, err := a.Store.GetModelVersion(ctx, in.ModelName, in.Version)
	if err != nil {
		return VerifyOutput{}, err
	}
	if tag := mv.Tags[TagManifestSHA256]; tag != in.ManifestSHA256 {
		return VerifyOutput{}, failure.New(failure.ChecksumMismatch, "version %d carries manifest hash %q, the pipeline logged %q", in.Version, tag, in.ManifestSHA256)
	}
	attempt := int32(1)
	if info, ok := activityInfo(ctx); ok {
		attempt = info.Attempt
	}
	dst := a.workDir(ctx, fmt.Sprintf("verify-%d", attempt))
	if err := removeAll(dst); err != nil {
		return VerifyOutput{}, err
	}
	defer func() { _ = removeAll(dst) }()

	stop := a.keepAlive(ctx, func() any { return "downloading" })
	dlCtx, handBack, cancel := a.untilStop(ctx)
	loaded, err := flavor.LoadModel(dlCtx, a.Store, modeluri.Version(in.ModelName, in.Version), dst)
	cancel()
	stop()
	err = handBack(err)
	if err != nil {
		return VerifyOutput{}, err
	}
	if loaded.ManifestSHA256 != in.ManifestSHA256 {
		return VerifyOutput{}, failure.New(failure.ChecksumMismatch, "downloaded manifest hash %s differs from the logged %s", loaded.ManifestSHA256, in.ManifestSHA256)
	}
	preds := loaded.Model.PredictAll(in.Inputs)
	for i, x := range in.Inputs {
		if want := in.Expected.Predict(x); preds[i] != want {
			return VerifyOutput{}, failure.New(failure.VerificationFailed, "version %d predicts %v for %v, the trained model %v", in.Version, preds[i], x, want)
		}
	}
	if !loaded.Model.Equal(in.Expected) {
		return VerifyOutput{}, failure.New(failure.VerificationFailed, "version %d loads as %v, the trained model is %v", in.Version, loaded.Model, in.Expected)
	}
	if err := a.Store.SetModelVersionTag(ctx, in.ModelName, in.Version, TagVerified, "true"); err != nil {
		return VerifyOutput{}, err
	}
	size, _ := dirSize(dst)
	a.Metrics.AddBytes(ctx, telemetry.Download, size)
	a.logger(ctx).Info("verified", "model", in.ModelName, "version", in.Version, "manifest_sha256", loaded.ManifestSHA256)
	return VerifyOutput{ManifestSHA256: loaded.ManifestSHA256, Predictions: preds, BytesRead: size}, nil
}

// ReadAlias returns the version an alias points at, 0 when it is not set.
func (a *Activities) ReadAlias(ctx context.Context, in AliasInput) (AliasOutput, error) {
	v, err := a.readAlias(ctx, in.ModelName, in.Alias)
	return AliasOutput{Version: v}, toTemporal(err)
}

func (a *Activities) readAlias(ctx context.Context, name, alias string) (int, error) {
	mv, err := a.Store.GetModelVersionByAlias(ctx, name, alias)
	switch {
	case failure.Has(err, failure.NotFound):
		return 0, nil
	case err != nil:
		return 0, err
	}
	return mv.Version, nil
}
