package workflows

import (
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/flavorflow/flavorflow/activities"
	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/modeluri"
	"github.com/flavorflow/flavorflow/vocab"
)

// VerifyVersionName is the registered type name of VerifyVersion.
const VerifyVersionName = "VerifyVersion"

// VerifyVersionRequest names a registered version to verify.
type VerifyVersionRequest struct {
	ModelName string    `json:"model_name"`
	Version   int       `json:"version"`
	Inputs    []float64 `json:"inputs,omitempty"` // default DefaultVerifyInputs
}

// VerifyVersionResult is what verification found and recorded.
type VerifyVersionResult struct {
	ModelName       string    `json:"model_name"`
	Version         int       `json:"version"`
	ModelURI        string    `json:"model_uri"`
	ManifestSHA256  string    `json:"manifest_sha256"`
	ManifestCreated bool      `json:"manifest_created"`
	Flavor          string    `json:"flavor"`
	Offset          float64   `json:"offset"`
	Inputs          []float64 `json:"inputs"`
	Predictions     []float64 `json:"predictions"`
}

// VerifyVersion is `starter verify`: it makes a version registered outside
// a pipeline (by Python MLflow, say) promotable, through the VerifyVersion
// activity, which records the version's manifest when it has none, loads it
// with its flavor, predicts on the inputs and tags it verified. A workflow,
// not a direct call, for the same reasons as AliasChange: the step is
// durable and retried with the verify step's policy (downloads heartbeat),
// and its history says who verified which version when. The request's shape
// is checked first, so a malformed one fails before any activity.
func VerifyVersion(ctx workflow.Context, req VerifyVersionRequest) (VerifyVersionResult, error) {
	var a *activities.Activities
	inputs := req.Inputs
	if len(inputs) == 0 {
		inputs = DefaultVerifyInputs
	}
	res := VerifyVersionResult{ModelName: req.ModelName, Version: req.Version, Inputs: inputs}
	if err := validateVerifyVersion(req); err != nil {
		return res, err
	}
	ctx = withStep(ctx, StageVerifying)
	var out activities.VerifyVersionOutput
	if err := workflow.ExecuteActivity(ctx, a.VerifyVersion, activities.VerifyVersionInput{
		ModelName: req.ModelName, Version: req.Version, Inputs: inputs,
	}).Get(ctx, &out); err != nil {
		return res, err
	}
	res.ModelURI = modeluri.Version(req.ModelName, req.Version)
	res.ManifestSHA256, res.ManifestCreated = out.ManifestSHA256, out.ManifestCreated
	res.Flavor, res.Offset, res.Predictions = out.Flavor, out.Offset, out.Predictions
	return res, nil
}

func validateVerifyVersion(req VerifyVersionRequest) error {
	err := vocab.ValidateModelName(req.ModelName)
	if err == nil && req.Version < 1 {
		err = failure.New(failure.InvalidArgument, "version %d: versions start at 1", req.Version)
	}
	if err != nil {
		return temporal.NewNonRetryableApplicationError(err.Error(), string(failure.CodeOf(err)), nil)
	}
	return nil
}
