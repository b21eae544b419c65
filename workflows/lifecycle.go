package workflows

import (
	"errors"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/flavorflow/flavorflow/activities"
	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/modeluri"
	"github.com/flavorflow/flavorflow/vocab"
)

// ModelLifecycle trains a FakeModel, saves it in MLflow's format, logs and
// registers it, verifies the registered version end to end and only then
// moves the alias.
//
// Whatever the outcome, it then cleans up after itself (finish): on failure
// or cancellation it compensates what it created in the store, and it
// removes its work directory.
func ModelLifecycle(ctx workflow.Context, req LifecycleRequest) (LifecycleResult, error) {
	p := &pipeline{ctx: ctx, progress: Progress{Step: StageTraining}}
	if err := workflow.SetQueryHandler(ctx, ProgressQuery, func() (Progress, error) { return p.progress, nil }); err != nil {
		return LifecycleResult{}, err
	}
	if err := p.handleApprovals(ctx); err != nil {
		return LifecycleResult{}, err
	}
	res, err := p.lifecycle(ctx, req)
	p.finish(req, err)
	return res, err
}

// lifecycle runs the steps.
func (p *pipeline) lifecycle(ctx workflow.Context, req LifecycleRequest) (LifecycleResult, error) {
	var a *activities.Activities
	if err := validate(req); err != nil {
		return LifecycleResult{}, p.fail(err)
	}
	if err := evaluatesOtherFlavor(ctx, req); err != nil {
		return LifecycleResult{}, p.fail(err)
	}
	if len(req.VerifyInputs) == 0 {
		req.VerifyInputs = DefaultVerifyInputs
	}
	res := LifecycleResult{ModelName: req.ModelName, Alias: req.Alias}
	if err := p.enter(StageTraining, ModelNameKey.ValueSet(req.ModelName)); err != nil {
		return res, err
	}
	cutoff := scheduledStart(ctx)
	if vocab.IsPythonTrainer(req.Trainer) {
		// A path of its own: histories recorded before it never name a
		// Python trainer, so they replay through the code below unchanged.
		return p.pythonLifecycle(ctx, req, res, cutoff)
	}
	var trained activities.TrainOutput
	if err := workflow.ExecuteActivity(withStep(ctx, StageTraining), a.Train, activities.TrainInput{
		ModelName: req.ModelName, Data: req.Data, WeightsSize: req.WeightsSize, Cutoff: cutoff, Holdout: req.Holdout,
		// Empty for requests without them: the input is the bytes it was.
		Flavor: req.Flavor, Trainer: req.Trainer,
	}).Get(ctx, &trained); err != nil {
		return res, p.fail(err)
	}
	res.Offset = trained.Model.Offset
	res.Flavor = trained.Flavor

	if err := p.enter(StageSaving); err != nil {
		return res, err
	}
	saveIn := activities.SaveInput{ModelName: req.ModelName, Model: trained.Model, Created: workflow.GetInfo(ctx).WorkflowStartTime,
		// Empty for fakemodel: the input is the bytes it was.
		Flavor: trained.Flavor, Params: trained.Params}
	var saved activities.SaveOutput
	if err := workflow.ExecuteActivity(withStep(ctx, StageSaving), a.SaveModel, saveIn).Get(ctx, &saved); err != nil {
		return res, p.fail(err)
	}
	if !saved.Created.IsZero() {
		saveIn.Created = saved.Created // a re-run of this ID saves as the earlier run did
	}

	if err := p.enter(StageLogging); err != nil {
		return res, err
	}
	var logged activities.LogOutput
	if err := workflow.ExecuteActivity(withStep(ctx, StageLogging), a.LogModel, activities.LogInput{
		ModelName: req.ModelName, Save: saveIn, Saved: saved.Dir, Train: trained, Cutoff: cutoff,
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
	var verified activities.VerifyOutput
	if err := workflow.ExecuteActivity(withStep(ctx, StageVerifying), a.LoadAndVerify, activities.VerifyInput{
		ModelName: req.ModelName, Version: reg.Version, ManifestSHA256: logged.Logged.SHA256,
		Expected: trained.Model, Inputs: req.VerifyInputs,
		Flavor: trained.Flavor, Check: trained.Check, Location: reg.Location,
	}).Get(ctx, &verified); err != nil {
		return res, p.fail(err)
	}
	res.BytesMoved += verified.BytesRead
	p.progress.BytesMoved = res.BytesMoved

	if usesPolicy(req) {
		err := p.decideAndPromote(ctx, req, &res, challenger{
			version: reg.Version, sha256: logged.Logged.SHA256, runID: logged.RunID, modelID: logged.ModelID,
			trainDataSHA256: trained.DataSHA256, flavor: trained.Flavor, location: reg.Location,
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
	// The alias moves through its keeper workflow (AliasKeeper), which
	// serializes every change of it. Same command as before, one more
	// argument: histories of earlier pipelines replay unchanged.
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
		// Where the alias was when the keeper moved it; the early read
		// may be stale by then (other changes queued before this one).
		res.PreviousAlias = promoted.Previous
	}
	if err := p.enter(StagePromoted); err != nil {
		return res, err
	}
	p.progress.Step = "done"
	res.Outcome = OutcomePromoted
	return res, nil
}

// pipeline tracks progress for the query and the Stage search attribute,
// and what finish has to undo and clean.
type pipeline struct {
	ctx      workflow.Context
	progress Progress
	// approval is the operator's decision, once one arrived.
	approval *Approval
	// saving: a save was started, so a worker may hold files of this
	// workflow. logging: the store may hold objects it created.
	saving, logging bool
}

// Steps of finish, for activity options and summaries; not Stage values.
const (
	stepCompensating = "compensating"
	stepCleaningUp   = "cleaning-up"
)

// changeCleanup guards the commands finish added (compensation, clean-up),
// so histories of pipelines started before them still replay.
const changeCleanup = "compensate-and-clean-up"

// finish compensates a failed or cancelled pipeline's objects in the store
// and removes its work directory. Both are best effort: they run in a
// disconnected context (so a cancelled pipeline still does them), have their
// own short, bounded retry policies, and a failure of either is logged and
// never replaces the pipeline's own error.
func (p *pipeline) finish(req LifecycleRequest, err error) {
	if !p.saving {
		return // nothing written yet: validation or training failed
	}
	if workflow.GetVersion(p.ctx, changeCleanup, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return
	}
	var a *activities.Activities
	ctx, _ := workflow.NewDisconnectedContext(p.ctx)
	logger := workflow.GetLogger(ctx)
	if err != nil && p.logging {
		var out activities.CompensateOutput
		cerr := workflow.ExecuteActivity(withStep(ctx, stepCompensating), a.Compensate, activities.CompensateInput{
			ModelName: req.ModelName, ErrorType: ErrorType(err), Error: err.Error(), Cancelled: temporal.IsCanceledError(err),
		}).Get(ctx, &out)
		if cerr != nil {
			logger.Error("compensation failed; leftovers may remain in the store", "error", cerr)
		} else {
			logger.Info("compensated", "runs_failed", out.RunsFailed, "logged_models_failed", out.LoggedModelsFailed,
				"versions_tagged", out.VersionsTagged, "registered_model_deleted", out.RegisteredModelDeleted)
		}
	}
	var cleanUp workflow.Future
	if p.localShortSteps() {
		cleanUp = workflow.ExecuteLocalActivity(withLocalStep(ctx, stepCleaningUp, steps[stepCleaningUp].startToClose), a.CleanUp)
	} else {
		cleanUp = workflow.ExecuteActivity(withStep(ctx, stepCleaningUp), a.CleanUp)
	}
	if cerr := cleanUp.Get(ctx, nil); cerr != nil {
		logger.Warn("work directory clean-up failed; the worker's janitor removes it later", "error", cerr)
	}
}

// enter records the previous step as done and upserts Stage (plus extra
// search attributes).
func (p *pipeline) enter(stage string, extra ...temporal.SearchAttributeUpdate) error {
	switch stage {
	case StageSaving:
		p.saving = true
	case StageLogging:
		p.logging = true
	}
	if p.progress.Step != stage && p.progress.Step != "" {
		p.progress.StepsDone = append(p.progress.StepsDone, p.progress.Step)
	}
	p.progress.Step = stage
	updates := append([]temporal.SearchAttributeUpdate{StageKey.ValueSet(stage)}, extra...)
	return workflow.UpsertTypedSearchAttributes(p.ctx, updates...)
}

// fail marks the pipeline failed (Stage=failed) and returns err.
func (p *pipeline) fail(err error) error {
	p.progress.Error = err.Error()
	_ = workflow.UpsertTypedSearchAttributes(p.ctx, StageKey.ValueSet(StageFailed))
	workflow.GetLogger(p.ctx).Error("pipeline failed", "step", p.progress.Step, "error", err)
	return err
}

// validate rejects a request that can never succeed before any work starts,
// with the same error types the activities would use.
func validate(req LifecycleRequest) error {
	check := func(err error) error {
		if err == nil {
			return nil
		}
		return temporal.NewNonRetryableApplicationError(err.Error(), string(failure.CodeOf(err)), nil)
	}
	if err := check(vocab.ValidateModelName(req.ModelName)); err != nil {
		return err
	}
	if req.Alias != "" {
		if err := check(vocab.ValidateAlias(req.Alias)); err != nil {
			return err
		}
	}
	if err := check(ValidatePolicy(req)); err != nil {
		return err
	}
	if err := check(ValidateFlavor(req)); err != nil {
		return err
	}
	return check(req.Data.CheckInlineLimit())
}

// NamesOtherFlavor reports whether req names a trainer or flavor other
// than fakemodel (requests recorded before the fields existed name none).
func NamesOtherFlavor(req LifecycleRequest) bool {
	named := func(s string) bool { return s != "" && s != "fakemodel" }
	return named(req.Trainer) || named(req.Flavor)
}

// ValidateFlavor rejects what a pipeline of another flavor cannot do: a
// weights payload is fakemodel's. Policies and held-out data work for every
// flavor (Go flavors are evaluated by Evaluate, Python-trained models by
// the Python worker's EvaluatePython). The starter calls it too, so the
// refusal is exit 2 before anything starts.
func ValidateFlavor(req LifecycleRequest) error {
	if !NamesOtherFlavor(req) {
		return nil
	}
	if req.WeightsSize != 0 {
		return failure.New(failure.InvalidArgument, "a weights payload is a fakemodel option; trainer %q, flavor %q has none", req.Trainer, req.Flavor)
	}
	return nil
}

// scheduledStart returns the schedule's nominal time for runs started by a
// Temporal Schedule, the zero time otherwise.
func scheduledStart(ctx workflow.Context) time.Time {
	t, ok := workflow.GetTypedSearchAttributes(ctx).GetTime(ScheduledStartKey)
	if !ok {
		return time.Time{}
	}
	return t
}

// ErrorType returns the ApplicationError type in err's chain ("" if none).
func ErrorType(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Type()
	}
	return ""
}

// registerAndReadAlias registers the logged model, records the version in
// the result, progress and memo, and reads where the alias points before
// verification (the champion). Both the Go and the Python training paths
// take these steps, with the same commands.
func (p *pipeline) registerAndReadAlias(ctx workflow.Context, req LifecycleRequest, logged activities.LogOutput, res *LifecycleResult) (activities.RegisterOutput, activities.AliasOutput, error) {
	var a *activities.Activities
	var reg activities.RegisterOutput
	var previous activities.AliasOutput
	if err := p.enter(StageRegistering); err != nil {
		return reg, previous, err
	}
	if err := workflow.ExecuteActivity(withStep(ctx, StageRegistering), a.RegisterModel, activities.RegisterInput{
		ModelName: req.ModelName, ModelID: logged.ModelID, RunID: logged.RunID, ManifestSHA256: logged.Logged.SHA256,
	}).Get(ctx, &reg); err != nil {
		return reg, previous, p.fail(err)
	}
	res.Version, res.ModelURI, res.UIURL = reg.Version, reg.ModelURI, reg.UIURL
	p.progress.Version, p.progress.ModelURI = reg.Version, reg.ModelURI
	memo := map[string]any{MemoModelURI: reg.ModelURI}
	if reg.UIURL != "" {
		memo[MemoMLflowURL] = reg.UIURL
	}
	if err := workflow.UpsertMemo(ctx, memo); err != nil {
		return reg, previous, p.fail(err)
	}
	if req.Alias != "" {
		in := activities.AliasInput{ModelName: req.ModelName, Alias: req.Alias}
		var read workflow.Future
		if p.localShortSteps() {
			read = workflow.ExecuteLocalActivity(withLocalStep(ctx, StagePromoting, HeartbeatTimeout), a.ReadAlias, in)
		} else {
			read = workflow.ExecuteActivity(withStep(ctx, StagePromoting), a.ReadAlias, in)
		}
		if err := read.Get(ctx, &previous); err != nil {
			return reg, previous, p.fail(err)
		}
		res.PreviousAlias = previous.Version
	}
	return reg, previous, nil
}

// changeLocalShortSteps guards running the pipeline's two short steps that
// only touch the store or the worker's disk, ReadAlias and CleanUp, as local
// activities. A regular activity costs the server an activity task (three
// events, a dispatch, its timers) and the pipeline a workflow task to resume;
// a local activity runs inside the workflow task that schedules it and
// leaves one marker. Both are idempotent (a read; a removal of the
// workflow's own directory) and keep their step's retry policy and time
// budget, so a retry is safe and bounded. Pipelines started before replay
// with the regular activities.
const changeLocalShortSteps = "short-steps-as-local-activities"

// localShortSteps reports whether this pipeline runs ReadAlias and CleanUp
// as local activities (see changeLocalShortSteps).
func (p *pipeline) localShortSteps() bool {
	return workflow.GetVersion(p.ctx, changeLocalShortSteps, workflow.DefaultVersion, 1) == 1
}

// withLocalStep returns ctx with step's time budget and retry policy as
// local activity options, one attempt bounded by attempt (a local activity
// cannot heartbeat, so the attempt's bound takes the place of the heartbeat
// timeout that bounded the regular activity).
func withLocalStep(ctx workflow.Context, step string, attempt time.Duration) workflow.Context {
	o := stepActivityOptions(step)
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout:    min(o.StartToCloseTimeout, attempt),
		ScheduleToCloseTimeout: o.ScheduleToCloseTimeout,
		RetryPolicy:            o.RetryPolicy,
		Summary:                o.Summary,
	})
}
