package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/flavorflow/flavorflow/activities"
	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/modeluri"
)

// Limits of one keeper run. A run handles keeperMaxChanges changes (or
// fewer, when the server suggests it) and then continues as new, carrying
// the recent history and answers, so its event history stays small.
const (
	keeperMaxChanges   = 500
	keeperKeepHistory  = 100
	keeperKeepOutcomes = 200
)

// AliasKeeper is the one long-lived workflow per (model, alias) that every
// promotion and rollback of that alias goes through (the entity pattern).
// Callers reach it with Update-with-Start (activities.ChangeAlias): the
// first one starts it, later ones attach to the running run. It applies the
// changes strictly one at a time in arrival order — Temporal runs update
// handlers concurrently, so each handler takes a ticket and waits for its
// turn — each with ApplyAliasChange, which reads the store before it writes.
// Because no two changes of one alias ever run at once, the lost updates
// and constraint races of concurrent promoters cannot happen inside
// Temporal; ApplyAliasChange's read-back remains the guard against writers
// outside it.
//
// A request repeated with the same RequestID (a retried pipeline step) gets
// the first answer; after that answer has aged out of the carried list the
// store decides (the alias already there is success). The history query
// returns who moved the alias from where to where, and when.
func AliasKeeper(ctx workflow.Context, in activities.AliasKeeperInput) error {
	if err := validateAliasChange(AliasChangeRequest{ModelName: in.ModelName, Alias: in.Alias, Version: 1}); err != nil {
		return err
	}
	k := &keeper{in: in, history: in.History, outcomes: in.Outcomes}
	if n := len(in.History); n > 0 {
		k.seq, k.current = in.History[n-1].Seq, in.History[n-1].Current
	}
	// Keepers are started with their ModelName (activities.ChangeAlias);
	// one started without it (before that, or by hand) sets it here. The
	// start's attributes are in the history, so replay decides alike.
	if v, ok := workflow.GetTypedSearchAttributes(ctx).GetKeyword(ModelNameKey); !ok || v != in.ModelName {
		if err := workflow.UpsertTypedSearchAttributes(ctx, ModelNameKey.ValueSet(in.ModelName)); err != nil {
			return err
		}
	}
	if err := workflow.SetQueryHandler(ctx, activities.AliasHistoryQuery, func() (activities.AliasHistory, error) {
		return activities.AliasHistory{ModelName: in.ModelName, Alias: in.Alias, Events: k.history}, nil
	}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, activities.AliasChangeUpdate, k.change,
		workflow.UpdateHandlerOptions{Validator: k.validate}); err != nil {
		return err
	}
	limit := in.MaxChanges
	if limit <= 0 {
		limit = keeperMaxChanges
	}
	if err := workflow.Await(ctx, func() bool {
		return k.handled >= limit || workflow.GetInfo(ctx).GetContinueAsNewSuggested()
	}); err != nil {
		return err
	}
	// Changes already accepted finish in this run; their callers are
	// waiting for the answers.
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return err
	}
	return workflow.NewContinueAsNewError(ctx, AliasKeeperName, k.carry())
}

// keeper is one run's state. Workflow code: deterministic, no maps.
type keeper struct {
	in       activities.AliasKeeperInput
	history  []activities.AliasEvent
	outcomes []activities.AliasOutcome
	seq      int   // Seq of the last event
	current  int   // where the alias pointed after the last change (0: unset or unknown)
	handled  int   // changes handled in this run
	next     int   // next ticket
	queue    []int // tickets waiting or running, in arrival order
}

// validate rejects, before anything is recorded, a request that is not for
// this keeper's alias or can never be valid.
func (k *keeper) validate(_ workflow.Context, req AliasChangeRequest) error {
	if req.ModelName != k.in.ModelName || req.Alias != k.in.Alias {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("request for alias %s of %q sent to the keeper of alias %s of %q", req.Alias, req.ModelName, k.in.Alias, k.in.ModelName), string(failure.InvalidArgument), nil)
	}
	return validateAliasChange(req)
}

// change handles one request when its turn comes.
func (k *keeper) change(ctx workflow.Context, req AliasChangeRequest) (AliasChangeResult, error) {
	ticket := k.next
	k.next++
	k.queue = append(k.queue, ticket)
	defer k.leave(ticket)
	if err := workflow.Await(ctx, func() bool { return k.queue[0] == ticket }); err != nil {
		return AliasChangeResult{}, err
	}
	k.handled++
	if o, ok := k.outcome(req.RequestID); ok {
		return o.Result, outcomeError(o)
	}
	res := AliasChangeResult{ModelName: req.ModelName, Alias: req.Alias, Version: req.Version, AliasURI: modeluri.Alias(req.ModelName, req.Alias)}
	now := workflow.Now(ctx)
	// A failed change returns no output; its event keeps the last known
	// position.
	ev := activities.AliasEvent{At: now, Requester: req.Requester, RequestID: req.RequestID,
		From: k.current, To: req.Version, Current: k.current, Rollback: req.Rollback}
	if d := req.Decided; d != nil {
		ev.Reason, ev.ApprovedBy, ev.ApprovalReason, ev.Evidence = d.Reason, d.ApprovedBy, d.ApprovalReason, d.Evidence
	}
	var err error
	switch {
	case req.Record != "":
		// A decision not to promote: history only, the store is not
		// touched and the alias stays where the keeper last saw it.
		ev.To, ev.Outcome = req.Version, req.Record
		res.Previous, res.Current = k.current, k.current
		k.seq++
		ev.Seq = k.seq
		k.history = append(k.history, ev)
		if req.RequestID != "" {
			k.outcomes = append(k.outcomes, activities.AliasOutcome{RequestID: req.RequestID, Result: res})
		}
		return res, nil
	case !req.Deadline.IsZero() && !now.Before(req.Deadline):
		// The requester's attempt has ended; its retry is a new request.
		err = failure.New(failure.Internal, "the request for version %d reached the alias keeper after its requester stopped waiting (%s); not applied", req.Version, req.Deadline.Format(time.RFC3339))
	default:
		var out activities.PromoteOutput
		var a *activities.Activities
		if workflow.GetVersion(ctx, changeApplyLocally, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
			err = workflow.ExecuteActivity(applyOptions(ctx, now, req.Deadline), a.ApplyAliasChange, req).Get(ctx, &out)
		} else {
			err = workflow.ExecuteLocalActivity(applyLocalOptions(ctx, now, req.Deadline), a.ApplyAliasChange, req).Get(ctx, &out)
		}
		if err == nil {
			res.Previous, res.Current, res.Changed, res.Stale = out.Previous, out.Current, out.Changed, out.Stale
			ev.From, ev.Current = out.Previous, out.Current
			k.current = out.Current
		}
	}
	o := activities.AliasOutcome{RequestID: req.RequestID, Result: res}
	switch {
	case err == nil && res.Stale:
		ev.Outcome = "stale"
	case err == nil && res.Changed:
		ev.Outcome = "changed"
	case err == nil:
		ev.Outcome = "unchanged"
	default:
		o.ErrType, o.ErrMsg = errorParts(err)
		ev.Outcome, ev.Error = o.ErrType, o.ErrMsg
	}
	k.seq++
	ev.Seq = k.seq
	k.history = append(k.history, ev)
	// Remember answers a retry would get again; a retryable failure is not
	// an answer, the retry should try again.
	if req.RequestID != "" && (o.ErrType == "" || !failure.Retryable(failure.Code(o.ErrType))) {
		k.outcomes = append(k.outcomes, o)
	}
	return res, outcomeError(o)
}

// changeApplyLocally guards the keeper applying changes as a local
// activity. As a regular activity, ApplyAliasChange needed an activity slot
// on the task queue whose slots the waiting PromoteAlias activities hold:
// with more promotions in flight than a worker has activity slots (200
// concurrent pipelines, 16 slots) every slot waited for a change that could
// not start, until the promote step's 30-minute timeout. A local activity
// runs in the keeper's own workflow task, on the worker's local-activity
// slots, so a change never waits for the activities waiting for it.
// Keepers started before it replay with the regular activity.
const changeApplyLocally = "keeper-applies-as-local-activity"

// applyLocalOptions are applyOptions for the local activity: the promote
// step's timeouts and retry policy, bounded by the requester's deadline.
func applyLocalOptions(ctx workflow.Context, now, deadline time.Time) workflow.Context {
	o := stepActivityOptions(StagePromoting)
	lo := workflow.LocalActivityOptions{
		StartToCloseTimeout:    o.StartToCloseTimeout,
		ScheduleToCloseTimeout: o.ScheduleToCloseTimeout,
		RetryPolicy:            o.RetryPolicy,
		Summary:                o.Summary,
	}
	if !deadline.IsZero() {
		if left := deadline.Sub(now); left < lo.ScheduleToCloseTimeout {
			lo.ScheduleToCloseTimeout = left
			lo.StartToCloseTimeout = min(lo.StartToCloseTimeout, left)
		}
	}
	return workflow.WithLocalActivityOptions(ctx, lo)
}

// applyOptions are the promote step's options, bounded by the requester's
// deadline so a change is not written after its requester gave up.
func applyOptions(ctx workflow.Context, now, deadline time.Time) workflow.Context {
	ctx = withStep(ctx, StagePromoting)
	if deadline.IsZero() {
		return ctx
	}
	o := workflow.GetActivityOptions(ctx)
	if left := deadline.Sub(now); left < o.ScheduleToCloseTimeout {
		o.ScheduleToCloseTimeout = left
		o.StartToCloseTimeout = min(o.StartToCloseTimeout, left)
	}
	return workflow.WithActivityOptions(ctx, o)
}

func (k *keeper) leave(ticket int) {
	for i, t := range k.queue {
		if t == ticket {
			k.queue = append(k.queue[:i], k.queue[i+1:]...)
			return
		}
	}
}

// outcome returns the remembered answer to id, newest first.
func (k *keeper) outcome(id string) (activities.AliasOutcome, bool) {
	if id == "" {
		return activities.AliasOutcome{}, false
	}
	for i := len(k.outcomes) - 1; i >= 0; i-- {
		if k.outcomes[i].RequestID == id {
			return k.outcomes[i], true
		}
	}
	return activities.AliasOutcome{}, false
}

// carry is the next run's input: the recent history and answers.
func (k *keeper) carry() activities.AliasKeeperInput {
	next := k.in
	next.History = tail(k.history, keeperKeepHistory)
	next.Outcomes = tail(k.outcomes, keeperKeepOutcomes)
	return next
}

func tail[T any](s []T, n int) []T {
	if len(s) > n {
		s = s[len(s)-n:]
	}
	return append([]T(nil), s...)
}

// outcomeError rebuilds the typed error of an answer.
func outcomeError(o activities.AliasOutcome) error {
	if o.ErrType == "" {
		return nil
	}
	return temporal.NewApplicationErrorWithOptions(o.ErrMsg, o.ErrType, temporal.ApplicationErrorOptions{
		NonRetryable: !failure.Retryable(failure.Code(o.ErrType)),
	})
}

// errorParts is the failure type and message of err (an activity's
// ApplicationError, a timeout, or a failure.Error).
func errorParts(err error) (typ, msg string) {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Type(), app.Message()
	}
	var te *temporal.TimeoutError
	if errors.As(err, &te) {
		return string(failure.Internal), "applying the alias change timed out: " + err.Error()
	}
	return string(failure.CodeOf(err)), err.Error()
}
