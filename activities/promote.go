package activities

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/store"
	"github.com/flavorflow/flavorflow/vocab"
)

// Alias changes and who serializes them.
//
// MLflow's alias set is an unconditional upsert with no compare-and-set, so
// two promoters that read, check and set at once can lose an update (and on
// a first-time set, the loser gets the database's unique-constraint error).
// Every promotion and rollback of one (model, alias) therefore goes through
// one long-lived workflow for that alias, the keeper (workflows.AliasKeeper),
// which applies the changes one at a time in arrival order with
// ApplyAliasChange. Inside Temporal nothing else writes the alias, so there
// is no race to detect; the checks in applyAliasChange are the guard against
// writers outside Temporal (someone in the MLflow UI).

// PromoteAlias is the pipeline's promote step. With Keeper set and a
// Temporal client configured it asks the keeper workflow for the change
// (Update-with-Start) and waits for its answer; otherwise (a pipeline started
// before the keeper existed, or an in-process test environment without a
// client) it applies the change itself with the same checks.
func (a *Activities) PromoteAlias(ctx context.Context, in PromoteInput) (PromoteOutput, error) {
	return run(ctx, a, "promoting", a.promote, in)
}

func (a *Activities) promote(ctx context.Context, in PromoteInput) (PromoteOutput, error) {
	if in.Keeper != "" && a.Temporal != nil && activity.IsActivity(ctx) {
		return a.promoteThroughKeeper(ctx, in)
	}
	if in.Keeper != "" {
		a.logger(ctx).Warn("no Temporal client: applying the alias change directly, not through its keeper workflow", "keeper", in.Keeper)
	}
	return a.promoteAlias(ctx, in)
}

// promoteAlias applies a pipeline's promotion directly.
func (a *Activities) promoteAlias(ctx context.Context, in PromoteInput) (PromoteOutput, error) {
	wfID, _ := workflowKey(ctx)
	if in.Record != "" {
		return PromoteOutput{}, nil // no keeper, no history to record in
	}
	return a.applyAliasChange(ctx, AliasChangeRequest{
		ModelName: in.ModelName, Alias: in.Alias, Version: in.Version, Rollback: in.Rollback,
		Requester: wfID, Pipeline: wfID, Decided: in.Decided, Location: in.Location,
	})
}

// promoteThroughKeeper sends the promotion to the keeper. The request ID
// (pipeline, alias, version) lets the keeper answer a retried request with
// the first outcome; the update ID adds the attempt so that an attempt
// retried after a retryable failure is a new update rather than Temporal's
// cached failure of the old one. The deadline is this attempt's: a request
// the keeper reaches after its requester gave up is skipped, so a pipeline
// that fails never has its version promoted behind its back.
func (a *Activities) promoteThroughKeeper(ctx context.Context, in PromoteInput) (PromoteOutput, error) {
	info := activity.GetInfo(ctx)
	wfID := info.WorkflowExecution.ID
	req := AliasChangeRequest{
		ModelName: in.ModelName, Alias: in.Alias, Version: in.Version, Rollback: in.Rollback,
		Requester: wfID, Pipeline: wfID,
		RequestID: fmt.Sprintf("%s/%s/v%d", wfID, in.Alias, in.Version),
		Deadline:  info.Deadline,
		Decided:   in.Decided, Record: in.Record,
		Location: in.Location,
	}
	switch {
	case in.Record != "":
		req.RequestID += "/" + in.Record
	case in.Decided != nil && in.Decided.RequireChampion && in.Decided.Evidence != nil:
		// Each round against another champion is another request: the
		// keeper must not answer it with the previous round's "stale".
		req.RequestID += fmt.Sprintf("/vs-v%d", in.Decided.Evidence.Champion)
	}
	updateID := fmt.Sprintf("%s#%d", req.RequestID, info.Attempt)
	res, _, err := ChangeAlias(ctx, a.Temporal, info.TaskQueue, in.Keeper, updateID, req)
	if err != nil {
		return PromoteOutput{}, keeperError(err)
	}
	a.logger(ctx).Info("alias change answered", "keeper", in.Keeper, "alias", in.Alias, "version", in.Version, "previous", res.Previous, "current", res.Current, "changed", res.Changed)
	return PromoteOutput{Previous: res.Previous, Current: res.Current, Changed: res.Changed, Stale: res.Stale}, nil
}

// keeperError keeps the keeper's typed outcome (AliasConflict, NotFound...)
// and makes anything else (the keeper unreachable, an update rejected while
// it continues as new) a retryable Internal failure.
func keeperError(err error) error {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return temporal.NewApplicationErrorWithOptions(app.Message(), app.Type(), temporal.ApplicationErrorOptions{
			NonRetryable: !failure.Retryable(failure.Code(app.Type())),
		})
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return failure.Wrap(failure.Internal, err, "ask the alias workflow")
}

// ApplyAliasChange is the keeper's one write step: read the store, check,
// set the alias, read it back.
func (a *Activities) ApplyAliasChange(ctx context.Context, req AliasChangeRequest) (PromoteOutput, error) {
	return run(ctx, a, "applying", a.applyAliasChange, req)
}

// applyAliasChange moves the alias by these rules, all decided by what the
// store says now (not by what the requester saw earlier):
//
//  1. The version must exist (NotFound) and be tagged verified by
//     LoadAndVerify (VerificationFailed).
//  2. Aliases move forward only by version number: if the alias is on a
//     higher version, a promotion is AliasConflict (a rollback may move it
//     back) — unless the requesting pipeline promoted this version before and
//     it has since been superseded (a re-run of a finished pipeline), which
//     succeeds unchanged.
//  3. The alias already on the version is success without a write (a no-op,
//     or a retry whose earlier attempt set it).
//  4. The stored bytes are checked right before the write, and the alias
//     read again: moved meanwhile by a writer outside Temporal is
//     AliasConflict, not overwritten.
//  5. After the write the alias is read back; another value means a writer
//     outside Temporal moved it meanwhile: AliasConflict.
func (a *Activities) applyAliasChange(ctx context.Context, req AliasChangeRequest) (PromoteOutput, error) {
	if err := vocab.ValidateAlias(req.Alias); err != nil {
		return PromoteOutput{}, err
	}
	a.hintLocation(req.ModelName, req.Version, req.Location)
	mv, err := a.Store.GetModelVersion(ctx, req.ModelName, req.Version)
	if err != nil {
		return PromoteOutput{}, err
	}
	if mv.Tags[vocab.TagVerified] != "true" {
		return PromoteOutput{}, failure.New(failure.VerificationFailed, "version %d of %s has not passed verification; it is not promoted", req.Version, req.ModelName)
	}
	current, err := a.readAlias(ctx, req.ModelName, req.Alias)
	if err != nil {
		return PromoteOutput{}, err
	}
	out := PromoteOutput{Previous: current, Current: current}
	conditional := req.Decided != nil && req.Decided.RequireChampion && req.Decided.Evidence != nil
	switch {
	case current == req.Version:
		return out, a.markPromoted(ctx, req, mv)
	case conditional && current != req.Decided.Evidence.Champion:
		out.Stale = true
		a.logger(ctx).Info("champion changed since the evaluation; not promoted", "alias", req.Alias, "version", req.Version,
			"evaluated_against", req.Decided.Evidence.Champion, "now", current)
		return out, nil
	case current > req.Version && !req.Rollback && !conditional:
		if req.Pipeline != "" && mv.Tags[vocab.TagPromotedBy+req.Alias] == req.Pipeline {
			// This pipeline promoted this version before (a re-run, e.g. a
			// repeated backfill) and a newer one has taken the alias since:
			// the promotion already happened.
			a.logger(ctx).Info("promotion superseded", "alias", req.Alias, "version", req.Version, "now", current)
			return out, nil
		}
		return out, failure.New(failure.AliasConflict, "alias %s of %s points at version %d, newer than %d; aliases move forward only (use rollback)", req.Alias, req.ModelName, current, req.Version)
	}
	if _, err := a.checkStoredVersion(ctx, mv); err != nil {
		return out, err
	}
	// The check reads the whole model, seconds for a large one; a writer
	// outside Temporal (the MLflow UI) who moved the alias meanwhile would
	// be overwritten without a trace by the set below. Read again: MLflow
	// has no compare-and-set, so this narrows the window to one round trip.
	if now, err := a.readAlias(ctx, req.ModelName, req.Alias); err != nil {
		return out, err
	} else if now != current {
		out.Current = now
		if conditional {
			out.Stale = true // decided against a champion that is gone: evaluate again
			return out, nil
		}
		return out, failure.New(failure.AliasConflict, "alias %s of %s moved from version %d to %d while version %d was being checked: another writer moved it", req.Alias, req.ModelName, current, now, req.Version)
	}
	if err := a.Store.SetAlias(ctx, req.ModelName, req.Alias, req.Version); err != nil {
		return out, err
	}
	got, err := a.readAlias(ctx, req.ModelName, req.Alias)
	if err != nil {
		return out, err
	}
	out.Current = got
	if got != req.Version {
		return out, failure.New(failure.AliasConflict, "alias %s of %s reads back as version %d after setting %d: another writer moved it", req.Alias, req.ModelName, got, req.Version)
	}
	out.Changed = true
	a.logger(ctx).Info("alias moved", "model", req.ModelName, "alias", req.Alias, "from", current, "to", req.Version, "rollback", req.Rollback, "requester", req.Requester)
	return out, a.markPromoted(ctx, req, mv)
}

// markPromoted records on the version which pipeline promoted it, after the
// alias is on it, for rule 2's re-run case. Operators' changes are not
// recorded: a promote command repeated after the alias moved on must say so.
func (a *Activities) markPromoted(ctx context.Context, req AliasChangeRequest, mv *store.ModelVersion) error {
	key := vocab.TagPromotedBy + req.Alias
	if req.Pipeline == "" || req.Rollback || mv.Tags[key] == req.Pipeline {
		return nil
	}
	return a.Store.SetModelVersionTag(ctx, req.ModelName, req.Version, key, req.Pipeline)
}

func activityInfo(ctx context.Context) (activity.Info, bool) {
	if !activity.IsActivity(ctx) {
		return activity.Info{}, false
	}
	return activity.GetInfo(ctx), true
}
