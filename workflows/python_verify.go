package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/flavorflow/flavorflow/activities"
	"github.com/flavorflow/flavorflow/vocab"
)

// changePythonStaged guards the commands verifyPython added around
// VerifyPython (StagePythonVerify before it; RecordPythonVerified after it
// when the version was staged), so Python pipelines started before them
// replay with VerifyPython alone.
const changePythonStaged = "python-verify-staged"

// verifyPython verifies a version trained in Python. The Python worker
// loads it and compares its predictions with the trainer's; where it loads
// it from is the Go worker's answer, not a workflow decision (the store
// kind is the worker's configuration, which workflow code must not read):
// StagePythonVerify returns Dir "" against an MLflow server, and the
// Python worker loads models:/<name>/<version> and tags the version itself,
// as before; on the embedded store it downloads the exact version into the
// shared work directory, the Python worker loads that directory, and
// RecordPythonVerified re-checks the verdict and sets the tag here (the
// Python worker cannot write to the embedded store).
func (p *pipeline) verifyPython(ctx, onPython workflow.Context, modelName string, version int, manifestSHA256 string, check *activities.ModelCheck, res *LifecycleResult) (activities.PythonVerifyOutput, error) {
	var a *activities.Activities
	var staged activities.StagePythonOutput
	if workflow.GetVersion(ctx, changePythonStaged, workflow.DefaultVersion, 1) >= 1 {
		if err := workflow.ExecuteActivity(withStep(ctx, StageVerifying), a.StagePythonVerify, activities.StagePythonInput{
			ModelName: modelName, Version: version, ManifestSHA256: manifestSHA256,
		}).Get(ctx, &staged); err != nil {
			return activities.PythonVerifyOutput{}, err
		}
		res.BytesMoved += staged.BytesRead
		p.progress.BytesMoved = res.BytesMoved
	}
	var verified activities.PythonVerifyOutput
	if err := workflow.ExecuteActivity(onPython, vocab.ActivityVerifyPython, activities.PythonVerifyInput{
		ModelName: modelName, Version: version, ManifestSHA256: manifestSHA256, Check: check, Dir: staged.Dir,
	}).Get(ctx, &verified); err != nil {
		return verified, err
	}
	if staged.Dir == "" {
		return verified, nil
	}
	err := workflow.ExecuteActivity(withStep(ctx, StageVerifying), a.RecordPythonVerified, activities.RecordPythonInput{
		ModelName: modelName, Version: version, ManifestSHA256: manifestSHA256, Check: check, Verified: verified,
	}).Get(ctx, nil)
	return verified, err
}
