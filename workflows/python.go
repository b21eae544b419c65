package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/flavorflow/flavorflow/activities"
	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/modeluri"
	"github.com/flavorflow/flavorflow/vocab"
)

// changePythonFlavorChecked guards the refusal of a Python trainer whose
// saved flavor is not the one the request names.
const changePythonFlavorChecked = "python-flavor-checked"

// pythonLifecycle runs a pipeline whose trainer is the Python worker's
// (vocab.IsPythonTrainer): train and save on the Python queue, log and
// register here with the same exactly-once rules as every pipeline, verify
// on the Python queue (Go cannot load a scikit-learn model), promote here.
//
// Assumption: the Python worker saves into the work directory the Go
// worker uploads from (same machine or a shared volume); LogModel refuses a
// directory it cannot see (NotFound) rather than re-train elsewhere.
func (p *pipeline) pythonLifecycle(ctx workflow.Context, req LifecycleRequest, res LifecycleResult, cutoff time.Time) (LifecycleResult, error) {
	var a *activities.Activities
	pyQueue := workflow.GetInfo(ctx).TaskQueueName + vocab.PythonQueueSuffix
	onPython := func(step string) workflow.Context {
		o := stepActivityOptions(step)
		o.TaskQueue = pyQueue
		return workflow.WithActivityOptions(ctx, o)
	}
	// Training saves too: the Python worker's directory may exist from
	// here on, so finish cleans the work directory up.
	p.saving = true
	var py activities.PythonTrainOutput
	if err := workflow.ExecuteActivity(onPython(StageTraining), vocab.ActivityTrainPython, activities.PythonTrainInput{
		ModelName: req.ModelName, Trainer: req.Trainer, Data: req.Data, Cutoff: cutoff,
		Holdout: req.Holdout, // absent without one: the input is the bytes it was
	}).Get(ctx, &py); err != nil {
		return res, p.fail(err)
	}
	// A flavor the request names must be the one the Python trainer saved
	// (it decides the format); only a mismatching run records the marker,
	// so every other history replays unchanged.
	if req.Flavor != "" && req.Flavor != py.Flavor && workflow.GetVersion(ctx, changePythonFlavorChecked, workflow.DefaultVersion, 1) >= 1 {
		msg := fmt.Sprintf("trainer %q saves flavor %q, the pipeline asked for flavor %q", req.Trainer, py.Flavor, req.Flavor)
		return res, p.fail(temporal.NewNonRetryableApplicationError(msg, string(failure.FlavorNotFound), nil))
	}
	res.Flavor = py.Flavor
	trained := activities.TrainOutput{
		Stats: py.Stats, DataSHA256: py.DataSHA256, Flavor: py.Flavor, Metrics: py.Metrics, Check: py.Check,
		Dataset: &activities.TrainingDataset{Source: datasetSource(req.Data), Rows: py.Rows},
	}
	if !req.Holdout.IsZero() {
		trained.HeldOut, trained.HeldOutRows = req.Holdout.String(), py.HeldOutRows
	}
	saveIn := activities.SaveInput{ModelName: req.ModelName, Created: workflow.GetInfo(ctx).WorkflowStartTime, Flavor: py.Flavor}

	if err := p.enter(StageLogging); err != nil {
		return res, err
	}
	var logged activities.LogOutput
	if err := workflow.ExecuteActivity(withStep(ctx, StageLogging), a.LogModel, activities.LogInput{
		ModelName: req.ModelName, Save: saveIn, Saved: py.Dir, Train: trained, Cutoff: cutoff, External: true,
	}).Get(ctx, &logged); err != nil {
		return res, p.fail(err)
	}
	res.RunID, res.ModelID, res.LoggedModelURI = logged.RunID, logged.ModelID, logged.ModelURI
	res.ManifestSHA256 = logged.Logged.SHA256
	res.BytesMoved += logged.BytesSent
	p.progress.BytesMoved = res.BytesMoved

	reg, previous, err := p.registerAndReadAlias(ctx, req, logged, &res)
	if err != nil {
		return res, err
	}

	if err := p.enter(StageVerifying, ModelVersionKey.ValueSet(int64(reg.Version))); err != nil {
		return res, err
	}
	verified, err := p.verifyPython(ctx, onPython(StageVerifying), req.ModelName, reg.Version, logged.Logged.SHA256, py.Check, &res)
	if err != nil {
		return res, p.fail(err)
	}
	res.PythonVerified = &PythonVerification{ManifestSHA256: verified.ManifestSHA256, Predictions: verified.Predictions, ModelURI: verified.ModelURI, Dir: verified.Dir}

	if usesPolicy(req) {
		// Evaluated on the Python queue, decided and promoted as every
		// pipeline with a policy. Histories from before this was possible
		// failed validation (evaluatesOtherFlavor keeps that refusal).
		err := p.decideAndPromote(ctx, req, &res, challenger{
			version: reg.Version, sha256: logged.Logged.SHA256, runID: logged.RunID, modelID: logged.ModelID,
			trainDataSHA256: py.DataSHA256, flavor: py.Flavor, python: true, location: reg.Location,
		}, previous.Version, cutoff)
		return res, err
	}
	if req.Alias == "" {
		p.progress.StepsDone = append(p.progress.StepsDone, StageVerifying)
		p.progress.Step = "done"
		res.Outcome = OutcomeRegistered
		return res, nil
	}
	if err := p.enter(StagePromoting); err != nil {
		return res, err
	}
	var promoted activities.PromoteOutput
	if err := workflow.ExecuteActivity(withStep(ctx, StagePromoting), a.PromoteAlias, activities.PromoteInput{
		ModelName: req.ModelName, Alias: req.Alias, Version: reg.Version, Previous: previous.Version,
		Keeper:   AliasKeeperID(workflow.GetInfo(ctx).TaskQueueName, req.ModelName, req.Alias),
		Location: reg.Location,
	}).Get(ctx, &promoted); err != nil {
		return res, p.fail(err)
	}
	res.AliasURI = modeluri.Alias(req.ModelName, req.Alias)
	if promoted.Changed {
		res.PreviousAlias = promoted.Previous
	}
	if err := p.enter(StagePromoted); err != nil {
		return res, err
	}
	p.progress.Step = "done"
	res.Outcome = OutcomePromoted
	return res, nil
}

// datasetSource is activities' dataSource, for a pipeline whose rows were
// read by the Python worker: the data file's path as the request gives it
// (the starter sends it absolute).
func datasetSource(d vocab.TrainingData) string {
	if d.Path == "" {
		return "inline"
	}
	return "file://" + d.Path
}
