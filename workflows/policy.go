package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/flavorflow/flavorflow/activities"
	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/modeluri"
	"github.com/flavorflow/flavorflow/policy"
	"github.com/flavorflow/flavorflow/vocab"
)

// maxPolicyRounds bounds how often one pipeline evaluates again because the
// champion changed between its evaluation and its turn at the alias. Each
// round means another pipeline's promotion landed first; a pipeline that
// loses this race this often fails with AliasConflict rather than spin.
const maxPolicyRounds = 10

// Approval decisions.
const (
	decisionApproved = "approved"
	decisionRejected = "rejected"
	decisionTimedOut = "timed-out"
)

// usesPolicy reports whether the pipeline takes the policy path: a policy
// other than the default "always, no approval", or held-out data to
// evaluate on. Pipelines without either run exactly the commands they ran
// before policies existed, so their histories replay.
func usesPolicy(req LifecycleRequest) bool {
	p := req.Policy.Normalized()
	return p.Mode != policy.Always || p.Approval == policy.ApprovalRequired || !req.Holdout.IsZero()
}

// ValidatePolicy rejects a policy that can never be applied to req (the
// starter checks it before it starts a pipeline, the workflow again).
func ValidatePolicy(req LifecycleRequest) error {
	if err := req.Policy.Validate(); err != nil {
		return err
	}
	p := req.Policy.Normalized()
	if req.Alias == "" && (p.Mode == policy.BeatsChampion || p.Mode == policy.Threshold || p.Approval == policy.ApprovalRequired) {
		return failure.New(failure.InvalidArgument, "promotion policy %s (approval %s) needs an alias to promote to", p.Mode, p.Approval)
	}
	if p.NeedsEvaluation() && req.Holdout.IsZero() {
		return failure.New(failure.InvalidArgument, "promotion policy %s compares scores and needs held-out data: an evaluation file, a holdout fraction or a holdout window", p.Mode)
	}
	return req.Holdout.Validate()
}

// changePolicyAnyFlavor guards evaluation for flavors other than
// fakemodel. Before it, such a pipeline with a policy or held-out data
// failed in validation; a history recorded then replays that refusal.
const changePolicyAnyFlavor = "policy-any-flavor"

// evaluatesOtherFlavor refuses, in a history recorded before Go flavors
// could be evaluated, what validation refused then. It records a marker
// only in pipelines of another flavor with a policy, so FakeModel
// histories have the commands they had.
func evaluatesOtherFlavor(ctx workflow.Context, req LifecycleRequest) error {
	if !NamesOtherFlavor(req) || !usesPolicy(req) {
		return nil
	}
	if workflow.GetVersion(ctx, changePolicyAnyFlavor, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf(
			"promotion policies and held-out data evaluate fakemodel models only so far; trainer %q, flavor %q runs without them", req.Trainer, req.Flavor),
			string(failure.InvalidArgument), nil)
	}
	return nil
}

// challenger is the version the pipeline registered.
type challenger struct {
	version        int
	sha256         string
	runID, modelID string
	// trainDataSHA256 is what Train read: Evaluate refuses to score on
	// data that changed since.
	trainDataSHA256 string
	// flavor is Train's (empty for fakemodel): Evaluate scores rows of
	// named columns through the flavor registry for any other.
	flavor string
	// python: the Python worker trained it, and only it can load it.
	python bool
	// location is where registration found its files (nil: ask).
	location *activities.VersionLocation
}

// evaluate scores the challenger and the champion. A Go worker loads the
// versions of its flavors (Evaluate); a model the Python worker trained is
// scored there (EvaluatePython, on its queue) and the scores are recorded
// here (RecordEvidence), so the evidence, its records and the decision are
// the same for every flavor. A Go challenger whose champion only the Python
// worker loads is scored there too.
func evaluate(ctx workflow.Context, c challenger, in activities.EvaluateInput, out *activities.EvaluateOutput) error {
	var a *activities.Activities
	if c.python {
		return evaluateInPython(ctx, in, out)
	}
	err := workflow.ExecuteActivity(withStep(ctx, StageEvaluating), a.Evaluate, in).Get(ctx, out)
	if err == nil || !championOnlyPythonLoads(c, in, err) {
		return err
	}
	if workflow.GetVersion(ctx, changeMixedFlavorEvaluation, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return err
	}
	// The Go challenger ships a python_function loader (every Go flavor
	// with one does); the champion was trained by the Python worker. Only
	// the Python worker loads both, so it scores both, on the same rows.
	return evaluateInPython(ctx, in, out)
}

// changeMixedFlavorEvaluation guards handing a Go challenger's evaluation
// to the Python worker when the champion is a model only it loads. Before
// it, such a pipeline failed with FlavorNotFound; a history recorded then
// replays that failure.
const changeMixedFlavorEvaluation = "mixed-flavor-evaluation"

// championOnlyPythonLoads reports whether the Go worker's evaluation failed
// because it could not load the champion: the challenger of a Go flavor
// other than fakemodel (its data is a table, as the Python worker's is)
// loaded, since verification loaded it, so FlavorNotFound is the
// champion's.
func championOnlyPythonLoads(c challenger, in activities.EvaluateInput, err error) bool {
	return c.flavor != "" && in.Champion > 0 && in.Champion != in.Challenger && ErrorType(err) == string(failure.FlavorNotFound)
}

// evaluateInPython scores the challenger and the champion in the Python
// worker (EvaluatePython, on its queue) and records the scores here
// (RecordEvidence).
func evaluateInPython(ctx workflow.Context, in activities.EvaluateInput, out *activities.EvaluateOutput) error {
	var a *activities.Activities
	// The Python worker reads an MLflow server's registry itself; for any
	// other store the Go worker stages both versions in the shared work
	// directory (Dir "" against a server), as for verification.
	var challengerAt, championAt activities.StagePythonOutput
	if err := workflow.ExecuteActivity(withStep(ctx, StageEvaluating), a.StagePythonVerify, activities.StagePythonInput{
		ModelName: in.ModelName, Version: in.Challenger, ManifestSHA256: in.ChallengerSHA256,
	}).Get(ctx, &challengerAt); err != nil {
		return err
	}
	if challengerAt.Dir != "" && in.Champion > 0 && in.Champion != in.Challenger {
		if err := workflow.ExecuteActivity(withStep(ctx, StageEvaluating), a.StagePythonVerify, activities.StagePythonInput{
			ModelName: in.ModelName, Version: in.Champion,
		}).Get(ctx, &championAt); err != nil {
			return err
		}
	}
	o := stepActivityOptions(StageEvaluating)
	o.TaskQueue = workflow.GetInfo(ctx).TaskQueueName + vocab.PythonQueueSuffix
	var scored activities.PythonEvaluateOutput
	if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, o), vocab.ActivityEvaluatePython, activities.PythonEvaluateInput{
		ModelName: in.ModelName, Challenger: in.Challenger, ChallengerSHA256: in.ChallengerSHA256, Champion: in.Champion,
		Data: in.Data, Holdout: in.Holdout, Cutoff: in.Cutoff, TrainDataSHA256: in.TrainDataSHA256,
		ChallengerDir: challengerAt.Dir, ChampionDir: championAt.Dir, ChampionSHA256: championAt.ManifestSHA256,
	}).Get(ctx, &scored); err != nil {
		return err
	}
	return workflow.ExecuteActivity(withStep(ctx, StageEvaluating), a.RecordEvidence, activities.RecordEvidenceInput{Evaluate: in, Scored: scored}).Get(ctx, out)
}

// decideAndPromote is the policy path after verification: evaluate the
// challenger against the champion on held-out data, decide by the policy,
// wait for an operator when the policy requires one, and promote through the
// alias keeper — conditionally on the champion still being the one it was
// compared with. When another pipeline's promotion lands first the
// challenger is evaluated again against the new champion, so two challengers
// finishing together are each compared with the champion in turn, never
// both with a stale one.
func (p *pipeline) decideAndPromote(ctx workflow.Context, req LifecycleRequest, res *LifecycleResult, c challenger, champion int, cutoff time.Time) error {
	pol := req.Policy.Normalized()
	var a *activities.Activities
	for round := 1; ; round++ {
		var ev *policy.Evidence
		if !req.Holdout.IsZero() && req.Alias != "" {
			if err := p.enter(StageEvaluating); err != nil {
				return err
			}
			var out activities.EvaluateOutput
			if err := evaluate(ctx, c, activities.EvaluateInput{
				ModelName: req.ModelName, Challenger: c.version, ChallengerSHA256: c.sha256,
				ChallengerRunID: c.runID, ChallengerModelID: c.modelID, Champion: champion,
				Data: req.Data, Holdout: req.Holdout, Cutoff: cutoff, At: workflow.GetInfo(ctx).WorkflowStartTime,
				TrainDataSHA256: c.trainDataSHA256,
				// Empty for fakemodel: its input is the bytes it was.
				Flavor: c.flavor,
			}, &out); err != nil {
				return p.fail(err)
			}
			ev = &out.Evidence
			res.Evidence, p.progress.Evidence = ev, ev
			res.BytesMoved += out.BytesRead
			p.progress.BytesMoved = res.BytesMoved
			if err := workflow.UpsertMemo(ctx, map[string]any{MemoEvaluation: ev}); err != nil {
				return p.fail(err)
			}
		}
		d := policy.Decide(pol, ev)
		p.progress.Decision = &d
		if !d.Promote {
			if pol.Mode == policy.Never || req.Alias == "" {
				return p.conclude(ctx, req, res, OutcomeRegistered, StageRegistered, d.Reason, nil)
			}
			return p.conclude(ctx, req, res, OutcomeKeptChampion, StageKeptChampion, d.Reason, &activities.Decided{Evidence: ev, Reason: d.Reason})
		}
		if pol.Approval == policy.ApprovalRequired && p.approval == nil {
			if err := p.awaitApproval(ctx, pol, c.version); err != nil {
				return err
			}
			res.Approval = p.approval
			if reason, rejected := rejection(pol, *p.approval); rejected {
				return p.conclude(ctx, req, res, OutcomeRejected, StageRejected, reason, &activities.Decided{
					Evidence: ev, Reason: reason, ApprovedBy: p.approval.By, ApprovalReason: p.approval.Reason,
				})
			}
		}
		if err := p.enter(StagePromoting); err != nil {
			return err
		}
		decided := &activities.Decided{Evidence: ev, Reason: d.Reason, RequireChampion: pol.Mode == policy.BeatsChampion && ev != nil}
		if p.approval != nil {
			decided.ApprovedBy, decided.ApprovalReason = p.approval.By, p.approval.Reason
		}
		var promoted activities.PromoteOutput
		if err := workflow.ExecuteActivity(withStep(ctx, StagePromoting), a.PromoteAlias, activities.PromoteInput{
			ModelName: req.ModelName, Alias: req.Alias, Version: c.version, Previous: champion,
			Keeper:   AliasKeeperID(workflow.GetInfo(ctx).TaskQueueName, req.ModelName, req.Alias),
			Decided:  decided,
			Location: c.location,
		}).Get(ctx, &promoted); err != nil {
			return p.fail(err)
		}
		if promoted.Stale {
			if round >= maxPolicyRounds {
				return p.fail(temporal.NewNonRetryableApplicationError(fmt.Sprintf(
					"alias %s of %s changed champion %d times while version %d was being evaluated against it; giving up",
					req.Alias, req.ModelName, round, c.version), string(failure.AliasConflict), nil))
			}
			workflow.GetLogger(ctx).Info("champion changed since the evaluation; evaluating again", "evaluated_against", champion, "now", promoted.Current, "round", round)
			champion = promoted.Current
			continue
		}
		res.AliasURI = modeluri.Alias(req.ModelName, req.Alias)
		res.PreviousAlias = promoted.Previous
		if err := p.enter(StagePromoted); err != nil {
			return err
		}
		return p.settle(ctx, res, OutcomePromoted, d.Reason)
	}
}

// rejection says whether an approval outcome stops the promotion, and why.
func rejection(pol policy.Policy, a Approval) (string, bool) {
	switch a.Decision {
	case decisionRejected:
		return fmt.Sprintf("rejected by %s: %s", a.By, a.Reason), true
	case decisionTimedOut:
		if pol.OnTimeout == policy.TimeoutPromote {
			return "", false
		}
		return fmt.Sprintf("no approval within %s; the policy rejects on timeout", pol.ApprovalTimeout), true
	}
	return "", false
}

// awaitApproval waits for an operator's approve or reject, at most the
// policy's timeout. While it waits the Stage is awaiting-approval (so
// `starter list --stage awaiting-approval` finds it) and the updates are
// accepted.
func (p *pipeline) awaitApproval(ctx workflow.Context, pol policy.Policy, version int) error {
	if err := p.enter(StageAwaitingApproval); err != nil {
		return err
	}
	p.progress.AwaitingApproval = true
	p.progress.ApprovalDeadline = workflow.Now(ctx).Add(pol.ApprovalTimeout)
	// The Temporal UI shows this on the workflow's page ("Current details").
	id := workflow.GetInfo(ctx).WorkflowExecution.ID
	workflow.SetCurrentDetails(ctx, fmt.Sprintf("**Awaiting approval** of version %d until %s.\n\n%s\n\nApprove: `starter approve %s --reason ...`  \nReject: `starter reject %s --reason ...`",
		version, p.progress.ApprovalDeadline.UTC().Format(time.RFC3339), p.progress.Decision.Reason, id, id))
	defer func() {
		p.progress.AwaitingApproval = false
		workflow.SetCurrentDetails(ctx, "")
	}()
	decided, err := workflow.AwaitWithTimeout(ctx, pol.ApprovalTimeout, func() bool { return p.approval != nil })
	if err != nil {
		return p.fail(err) // cancelled while waiting
	}
	if !decided {
		p.approval = &Approval{Decision: decisionTimedOut, By: "timeout", At: workflow.Now(ctx), Version: version,
			Reason: fmt.Sprintf("no decision within %s; on timeout the policy says %s", pol.ApprovalTimeout, pol.OnTimeout)}
	}
	p.progress.Approval = p.approval
	workflow.GetLogger(ctx).Info("approval decided", "decision", p.approval.Decision, "by", p.approval.By, "reason", p.approval.Reason)
	return nil
}

// conclude ends a pipeline that does not move the alias: the decision goes
// into the alias's history (through its keeper, like every change of the
// alias), then the Stage, memo and result say what happened and why.
func (p *pipeline) conclude(ctx workflow.Context, req LifecycleRequest, res *LifecycleResult, outcome, stage, reason string, decided *activities.Decided) error {
	if decided != nil && req.Alias != "" {
		var a *activities.Activities
		if err := workflow.ExecuteActivity(withStep(ctx, StagePromoting), a.PromoteAlias, activities.PromoteInput{
			ModelName: req.ModelName, Alias: req.Alias, Version: res.Version,
			Keeper:  AliasKeeperID(workflow.GetInfo(ctx).TaskQueueName, req.ModelName, req.Alias),
			Decided: decided, Record: outcome,
		}).Get(ctx, nil); err != nil {
			return p.fail(err)
		}
	}
	if err := p.enter(stage); err != nil {
		return err
	}
	return p.settle(ctx, res, outcome, reason)
}

// settle records the outcome in the result, the progress and the memo.
func (p *pipeline) settle(ctx workflow.Context, res *LifecycleResult, outcome, reason string) error {
	res.Outcome, res.Reason = outcome, reason
	p.progress.Step = "done"
	if err := workflow.UpsertMemo(ctx, map[string]any{MemoOutcome: outcome, MemoReason: reason}); err != nil {
		return p.fail(err)
	}
	workflow.GetLogger(ctx).Info("pipeline concluded", "outcome", outcome, "reason", reason)
	return nil
}

// handleApprovals registers the approve and reject updates. They are
// accepted only while the pipeline waits for a decision: before, after, or
// a second time they are refused with NotAwaitingApproval and a message that
// says which.
func (p *pipeline) handleApprovals(ctx workflow.Context) error {
	for _, u := range []struct{ name, decision string }{{ApproveUpdate, decisionApproved}, {RejectUpdate, decisionRejected}} {
		decision := u.decision
		err := workflow.SetUpdateHandlerWithOptions(ctx, u.name,
			func(ctx workflow.Context, r ApprovalRequest) (Approval, error) {
				a := Approval{Decision: decision, By: strings.TrimSpace(r.By), Reason: strings.TrimSpace(r.Reason),
					At: workflow.Now(ctx), Version: p.progress.Version}
				p.approval = &a
				return a, nil
			},
			workflow.UpdateHandlerOptions{Validator: func(_ workflow.Context, r ApprovalRequest) error {
				return p.validateApproval(decision, r)
			}})
		if err != nil {
			return err
		}
	}
	return nil
}

// validateApproval refuses a decision that cannot be taken now.
func (p *pipeline) validateApproval(decision string, r ApprovalRequest) error {
	refuse := func(code failure.Code, format string, args ...any) error {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), string(code), nil)
	}
	switch {
	case strings.TrimSpace(r.By) == "":
		return refuse(failure.InvalidArgument, "say who decides: the approval's \"by\" is empty")
	case decision == decisionRejected && strings.TrimSpace(r.Reason) == "":
		return refuse(failure.InvalidArgument, "a rejection needs a reason")
	case p.approval != nil:
		a := p.approval
		if a.Decision == decisionTimedOut {
			return refuse(failure.NotAwaitingApproval, "too late: the wait for approval of version %d ran out at %s", a.Version, a.At.UTC().Format("2006-01-02 15:04:05Z"))
		}
		return refuse(failure.NotAwaitingApproval, "already decided: version %d was %s by %s at %s", a.Version, a.Decision, a.By, a.At.UTC().Format("2006-01-02 15:04:05Z"))
	case !p.progress.AwaitingApproval:
		return refuse(failure.NotAwaitingApproval, "the pipeline is not awaiting approval (step: %s)", p.progress.Step)
	}
	return nil
}
