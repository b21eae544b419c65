package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/flavorflow/flavorflow/policy"
)

// The alias keeper's contract: the workflow (workflows.AliasKeeper) and its
// callers (PromoteAlias here, `starter promote` and `starter rollback`) meet
// on these names and types. They live in this package because the activity
// that calls the keeper cannot import the workflows package, which imports
// this one.
const (
	// AliasKeeperName is the keeper's registered workflow type.
	AliasKeeperName = "AliasKeeper"
	// AliasChangeUpdate is the update that promotes or rolls back the alias.
	AliasChangeUpdate = "change"
	// AliasHistoryQuery returns the keeper's AliasHistory.
	AliasHistoryQuery = "history"
)

// ModelNameKey is the ModelName search attribute (workflows.ModelNameKey):
// a keeper is started with it, so it need not upsert it (a history event
// and a visibility write less per keeper).
var ModelNameKey = temporal.NewSearchAttributeKeyKeyword("ModelName")

// AliasChangeRequest moves an alias of a registered model to a version.
type AliasChangeRequest struct {
	ModelName string `json:"model_name"`
	Alias     string `json:"alias"`
	Version   int    `json:"version"`
	// Rollback lets the alias move backwards (an operator's decision).
	Rollback bool `json:"rollback,omitempty"`
	// Requester says who asked, for the history: a pipeline's workflow ID
	// or "starter promote".
	Requester string `json:"requester,omitempty"`
	// Pipeline is the requesting pipeline's workflow ID ("" for an
	// operator): a re-run of a pipeline whose version was superseded
	// succeeds unchanged.
	Pipeline string `json:"pipeline,omitempty"`
	// RequestID identifies a request across retries ("" none): the keeper
	// answers a repeated ID with the first outcome.
	RequestID string `json:"request_id,omitempty"`
	// Deadline is when the requester stops waiting (zero: never). A request
	// the keeper reaches later is not applied.
	Deadline time.Time `json:"deadline,omitzero"`
	// Decided is the evidence and approval behind a pipeline's decision
	// (see PromoteInput.Decided); Record asks only to record a decision not
	// to promote (see PromoteInput.Record).
	Decided *Decided `json:"decided,omitempty"`
	Record  string   `json:"record,omitempty"`
	// Location is the version's, from its registration (see
	// PromoteInput.Location).
	Location *VersionLocation `json:"location,omitempty"`
}

// AliasChangeResult is where the alias pointed before and after.
type AliasChangeResult struct {
	ModelName string `json:"model_name"`
	Alias     string `json:"alias"`
	Version   int    `json:"version"`  // requested
	Previous  int    `json:"previous"` // 0: the alias was unset
	Current   int    `json:"current"`  // where it points now
	Changed   bool   `json:"changed"`  // false: it already pointed there
	AliasURI  string `json:"alias_uri"`
	// Stale: a conditional change found the alias moved off the champion
	// it was decided against; nothing was written.
	Stale bool `json:"stale,omitempty"`
}

// AliasEvent is one change request the keeper handled.
type AliasEvent struct {
	Seq       int       `json:"seq"` // 1-based over the keeper's whole life
	At        time.Time `json:"at"`  // workflow time the change was applied
	Requester string    `json:"requester,omitempty"`
	RequestID string    `json:"request_id,omitempty"`
	From      int       `json:"from"`    // where the alias pointed (0: unset)
	To        int       `json:"to"`      // the requested version
	Current   int       `json:"current"` // where it points after
	Rollback  bool      `json:"rollback,omitempty"`
	// Outcome is "changed", "unchanged", "stale" (a conditional change
	// found another champion), a recorded decision ("kept-champion",
	// "rejected"), or the failure type.
	Outcome string `json:"outcome"`
	Error   string `json:"error,omitempty"`
	// Reason, ApprovedBy, ApprovalReason and Evidence say why, when a
	// pipeline's policy decided (see Decided).
	Reason         string           `json:"reason,omitempty"`
	ApprovedBy     string           `json:"approved_by,omitempty"`
	ApprovalReason string           `json:"approval_reason,omitempty"`
	Evidence       *policy.Evidence `json:"evidence,omitempty"`
}

// AliasOutcome is a remembered answer to a request ID.
type AliasOutcome struct {
	RequestID string            `json:"request_id"`
	Result    AliasChangeResult `json:"result"`
	ErrType   string            `json:"err_type,omitempty"`
	ErrMsg    string            `json:"err_msg,omitempty"`
}

// AliasKeeperInput starts the keeper of one alias, or continues it as new
// with what the previous run carried over.
type AliasKeeperInput struct {
	ModelName string `json:"model_name"`
	Alias     string `json:"alias"`
	// History is the most recent changes, oldest first.
	History []AliasEvent `json:"history,omitempty"`
	// Outcomes are the most recent answers by request ID, oldest first.
	Outcomes []AliasOutcome `json:"outcomes,omitempty"`
	// MaxChanges is how many changes one run handles before it continues
	// as new (0: the default).
	MaxChanges int `json:"max_changes,omitempty"`
}

// AliasHistory is the answer of the history query.
type AliasHistory struct {
	ModelName string       `json:"model_name"`
	Alias     string       `json:"alias"`
	Events    []AliasEvent `json:"events"`
}

// ChangeAlias asks the keeper workflow keeperID for req with
// Update-with-Start (starting the keeper on taskQueue if it is not running)
// and waits for the outcome until ctx ends. It returns the run that handled
// the update.
//
// A lost connection to Temporal is not the change's outcome: the request is
// sent again, in attempts of at most changeAttempt, with the same updateID,
// which the server deduplicates (the keeper already running is attached to,
// an update already admitted is answered, not applied twice). Only an answer
// — the keeper's success or typed failure, or a server's refusal — ends the
// wait before ctx does.
func ChangeAlias(ctx context.Context, c client.Client, taskQueue, keeperID, updateID string, req AliasChangeRequest) (AliasChangeResult, string, error) {
	backoff := 200 * time.Millisecond
	for {
		actx, cancel := context.WithTimeout(ctx, changeAttempt)
		began := time.Now()
		res, runID, err := changeAliasOnce(actx, c, taskQueue, keeperID, updateID, req)
		cancel()
		if err == nil || !lostConnection(err) || ctx.Err() != nil {
			return res, runID, err
		}
		if time.Since(began) < changeAttempt/2 {
			// Refused at once (the server is down): wait before asking again.
			select {
			case <-ctx.Done():
				return res, runID, err
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
		}
	}
}

// changeAttempt bounds one Update-with-Start and wait. The SDK retries a
// dropped connection only within one call; a fresh call each minute follows
// an outage of any length.
const changeAttempt = time.Minute

func changeAliasOnce(ctx context.Context, c client.Client, taskQueue, keeperID, updateID string, req AliasChangeRequest) (AliasChangeResult, string, error) {
	start := c.NewWithStartWorkflowOperation(client.StartWorkflowOptions{
		ID:                       keeperID,
		TaskQueue:                taskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		StaticSummary:            fmt.Sprintf("Keeper of alias %s of %s: promotions and rollbacks, one at a time", req.Alias, req.ModelName),
		TypedSearchAttributes:    temporal.NewSearchAttributes(ModelNameKey.ValueSet(req.ModelName)),
	}, AliasKeeperName, AliasKeeperInput{ModelName: req.ModelName, Alias: req.Alias})
	h, err := c.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: start,
		UpdateOptions: client.UpdateWorkflowOptions{
			UpdateID:     updateID,
			UpdateName:   AliasChangeUpdate,
			Args:         []any{req},
			WaitForStage: client.WorkflowUpdateStageCompleted,
		},
	})
	if err != nil {
		return AliasChangeResult{}, "", err
	}
	var res AliasChangeResult
	err = h.Get(ctx, &res)
	return res, h.RunID(), err
}

// lostConnection reports whether err from a Temporal call says only that the
// server did not answer in time (refused, unavailable, deadline), as opposed
// to an answer: the update's own failure or the server's refusal.
func lostConnection(err error) bool {
	var (
		app *temporal.ApplicationError
		una *serviceerror.Unavailable
		dl  *serviceerror.DeadlineExceeded
	)
	switch {
	case errors.As(err, &app):
		return false
	case errors.As(err, &una), errors.As(err, &dl), errors.Is(err, context.DeadlineExceeded):
		return true
	}
	return status.Code(err) == codes.Unavailable || status.Code(err) == codes.DeadlineExceeded
}
