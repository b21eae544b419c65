package workflows

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/flavorflow/flavorflow/activities"
	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/policy"
	"github.com/flavorflow/flavorflow/vocab"
)

// policyRequest is a beats-champion pipeline holding out a fifth of its
// rows.
func policyRequest() LifecycleRequest {
	req := request()
	req.Policy = policy.Policy{Mode: policy.BeatsChampion}
	req.Holdout = vocab.Holdout{Fraction: 0.2, Seed: 1}
	return req
}

// scored answers Evaluate with the challenger scoring chal and each champion
// the score champs gives it, recording the inputs.
func scored(chal float64, champs func(champion int) float64, calls *[]activities.EvaluateInput) func(context.Context, activities.EvaluateInput) (activities.EvaluateOutput, error) {
	return func(_ context.Context, in activities.EvaluateInput) (activities.EvaluateOutput, error) {
		*calls = append(*calls, in)
		ev := policy.Evidence{Challenger: in.Challenger, ChallengerScores: policy.Scores{N: 5, MSE: chal}}
		if in.Champion > 0 {
			s := policy.Scores{N: 5, MSE: champs(in.Champion)}
			ev.Champion, ev.ChampionScores = in.Champion, &s
		}
		return activities.EvaluateOutput{Evidence: ev, BytesRead: 1}, nil
	}
}

// promotions records PromoteAlias calls and answers them with answers in
// turn (the last one repeated).
func promotions(calls *[]activities.PromoteInput, answers ...activities.PromoteOutput) func(context.Context, activities.PromoteInput) (activities.PromoteOutput, error) {
	return func(_ context.Context, in activities.PromoteInput) (activities.PromoteOutput, error) {
		*calls = append(*calls, in)
		if in.Record != "" {
			return activities.PromoteOutput{Previous: 1, Current: 1}, nil
		}
		i := min(len(*calls)-1, len(answers)-1)
		return answers[i], nil
	}
}

func result(t *testing.T, env *testsuite.TestWorkflowEnvironment) LifecycleResult {
	t.Helper()
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var res LifecycleResult
	require.NoError(t, env.GetWorkflowResult(&res))
	return res
}

func (f *fakes) memo(key string) any {
	var v any
	for _, m := range f.memos {
		if x, ok := m[key]; ok {
			v = x
		}
	}
	return v
}

func TestBetterChallengerIsPromotedConditionally(t *testing.T) {
	env := newEnv(t)
	f := happy()
	var evals []activities.EvaluateInput
	var proms []activities.PromoteInput
	f.evaluate = scored(0.1, func(int) float64 { return 0.5 }, &evals)
	f.promote = promotions(&proms, activities.PromoteOutput{Previous: 1, Current: 2, Changed: true})
	f.install(env)
	env.ExecuteWorkflow(WorkflowName, policyRequest())
	res := result(t, env)

	require.Equal(t, OutcomePromoted, res.Outcome)
	require.Contains(t, res.Reason, "beats champion v1")
	require.Len(t, evals, 1)
	require.Equal(t, 2, evals[0].Challenger)
	require.Equal(t, 1, evals[0].Champion, "the champion is where the alias pointed")
	require.Equal(t, "r1", evals[0].ChallengerRunID)
	require.Len(t, proms, 1)
	d := proms[0].Decided
	require.NotNil(t, d)
	require.True(t, d.RequireChampion, "a beats-champion promotion is conditional on the champion it beat")
	require.Equal(t, 1, d.Evidence.Champion)
	_, stage, _ := f.last()
	require.Equal(t, StagePromoted, stage)
	require.Equal(t, OutcomePromoted, f.memo(MemoOutcome))
}

func TestWorseChallengerKeepsTheChampion(t *testing.T) {
	env := newEnv(t)
	f := happy()
	var evals []activities.EvaluateInput
	var proms []activities.PromoteInput
	f.evaluate = scored(0.9, func(int) float64 { return 0.5 }, &evals)
	f.promote = promotions(&proms, activities.PromoteOutput{})
	f.install(env)
	env.ExecuteWorkflow(WorkflowName, policyRequest())
	res := result(t, env)

	require.Equal(t, OutcomeKeptChampion, res.Outcome, "losing is an outcome, not a failure")
	require.Contains(t, res.Reason, "does not beat champion v1")
	require.NotNil(t, res.Evidence)
	require.Empty(t, res.AliasURI)
	require.Len(t, proms, 1, "the decision is recorded in the alias history")
	require.Equal(t, OutcomeKeptChampion, proms[0].Record)
	require.Equal(t, res.Reason, proms[0].Decided.Reason)
	_, stage, _ := f.last()
	require.Equal(t, StageKeptChampion, stage)
	require.Equal(t, OutcomeKeptChampion, f.memo(MemoOutcome))
	require.Equal(t, res.Reason, f.memo(MemoReason))
	require.Zero(t, f.compensations, "a kept champion is not compensated")
}

// TestChallengerIsComparedWithTheNewChampion: another pipeline's promotion
// lands between this one's evaluation and its turn at the alias (the keeper
// answers Stale). The challenger must be evaluated again against the new
// champion, and here it loses to it.
func TestChallengerIsComparedWithTheNewChampion(t *testing.T) {
	env := newEnv(t)
	f := happy()
	var evals []activities.EvaluateInput
	var proms []activities.PromoteInput
	f.evaluate = scored(0.3, func(champ int) float64 {
		if champ == 3 {
			return 0.2 // the other pipeline's version is better than ours
		}
		return 0.5
	}, &evals)
	f.promote = promotions(&proms, activities.PromoteOutput{Previous: 3, Current: 3, Stale: true})
	f.install(env)
	env.ExecuteWorkflow(WorkflowName, policyRequest())
	res := result(t, env)

	require.Len(t, evals, 2)
	require.Equal(t, []int{1, 3}, []int{evals[0].Champion, evals[1].Champion})
	require.Equal(t, OutcomeKeptChampion, res.Outcome)
	require.Contains(t, res.Reason, "champion v3")
	require.Len(t, proms, 2)
	require.Equal(t, OutcomeKeptChampion, proms[1].Record)
}

func TestChampionChangingEveryRoundEndsInAliasConflict(t *testing.T) {
	env := newEnv(t)
	f := happy()
	var evals []activities.EvaluateInput
	var proms []activities.PromoteInput
	f.evaluate = scored(0.1, func(int) float64 { return 0.5 }, &evals)
	f.promote = func(_ context.Context, in activities.PromoteInput) (activities.PromoteOutput, error) {
		proms = append(proms, in)
		next := in.Decided.Evidence.Champion + 10
		return activities.PromoteOutput{Previous: next, Current: next, Stale: true}, nil
	}
	f.install(env)
	env.ExecuteWorkflow(WorkflowName, policyRequest())
	require.Equal(t, string(failure.AliasConflict), ErrorType(env.GetWorkflowError()))
	require.Len(t, evals, maxPolicyRounds)
}

func TestPolicyNeverRegistersOnly(t *testing.T) {
	env := newEnv(t)
	f := happy()
	var evals []activities.EvaluateInput
	f.evaluate = scored(0.1, func(int) float64 { return 0.5 }, &evals)
	f.install(env)
	req := policyRequest()
	req.Policy = policy.Policy{Mode: policy.Never}
	env.ExecuteWorkflow(WorkflowName, req)
	res := result(t, env)
	require.Equal(t, OutcomeRegistered, res.Outcome)
	require.Len(t, evals, 1, "held-out data given: the scores are recorded anyway")
	env.AssertNotCalled(t, "PromoteAlias", mock.Anything, mock.Anything)
	_, stage, _ := f.last()
	require.Equal(t, StageRegistered, stage)
}

func TestThresholdPolicy(t *testing.T) {
	for _, c := range []struct {
		mse     float64
		outcome string
	}{{0.1, OutcomePromoted}, {0.3, OutcomeKeptChampion}} {
		env := newEnv(t)
		f := happy()
		var evals []activities.EvaluateInput
		var proms []activities.PromoteInput
		f.evaluate = scored(c.mse, func(int) float64 { return 0.01 }, &evals)
		f.promote = promotions(&proms, activities.PromoteOutput{Previous: 1, Current: 2, Changed: true})
		f.install(env)
		req := policyRequest()
		limit := 0.2
		req.Policy = policy.Policy{Mode: policy.Threshold, Threshold: &limit}
		env.ExecuteWorkflow(WorkflowName, req)
		res := result(t, env)
		require.Equal(t, c.outcome, res.Outcome, "mse %v", c.mse)
		if c.outcome == OutcomePromoted {
			require.False(t, proms[0].Decided.RequireChampion, "a threshold does not depend on the champion")
		}
	}
}

func TestPolicyRequestsThatCanNeverWork(t *testing.T) {
	for want, mutate := range map[string]func(*LifecycleRequest){
		"needs held-out data": func(r *LifecycleRequest) { r.Holdout = vocab.Holdout{} },
		"needs an alias":      func(r *LifecycleRequest) { r.Alias = "" },
		"unknown metric":      func(r *LifecycleRequest) { r.Policy.Metric = "accuracy" },
	} {
		t.Run(want, func(t *testing.T) {
			env := newEnv(t)
			req := policyRequest()
			mutate(&req)
			env.ExecuteWorkflow(WorkflowName, req)
			err := env.GetWorkflowError()
			var app *temporal.ApplicationError
			require.True(t, errors.As(err, &app), "%v", err)
			require.True(t, app.NonRetryable())
			require.Equal(t, string(failure.InvalidArgument), app.Type())
			require.Contains(t, app.Message(), want)
		})
	}
}

// approval sends an update at mock time `at` and records its outcome.
type approval struct {
	name     string
	req      ApprovalRequest
	accepted bool
	rejected error
	result   any
}

func (ap *approval) send(env *testsuite.TestWorkflowEnvironment, at time.Duration) {
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(ap.name, "", &testsuite.TestUpdateCallback{
			OnAccept:   func() { ap.accepted = true },
			OnReject:   func(err error) { ap.rejected = err },
			OnComplete: func(v any, err error) { ap.result = v },
		}, ap.req)
	}, at)
}

func approvalRequest(onTimeout policy.TimeoutAction) LifecycleRequest {
	req := policyRequest()
	req.Policy.Approval = policy.ApprovalRequired
	req.Policy.ApprovalTimeout = time.Hour
	req.Policy.OnTimeout = onTimeout
	return req
}

func TestApprovalApprovePromotes(t *testing.T) {
	env := newEnv(t)
	f := happy()
	var evals []activities.EvaluateInput
	var proms []activities.PromoteInput
	f.evaluate = scored(0.1, func(int) float64 { return 0.5 }, &evals)
	f.promote = promotions(&proms, activities.PromoteOutput{Previous: 1, Current: 2, Changed: true})
	f.promoteAfter = 5 * time.Minute
	f.install(env)
	var sawWaiting Progress
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(ProgressQuery)
		require.NoError(t, err)
		require.NoError(t, v.Get(&sawWaiting))
	}, 10*time.Minute)
	ap := &approval{name: ApproveUpdate, req: ApprovalRequest{By: "ana", Reason: "looks good"}}
	ap.send(env, 20*time.Minute)
	again := &approval{name: RejectUpdate, req: ApprovalRequest{By: "bob", Reason: "changed my mind"}}
	again.send(env, 21*time.Minute)
	env.ExecuteWorkflow(WorkflowName, approvalRequest(policy.TimeoutReject))
	res := result(t, env)

	require.True(t, sawWaiting.AwaitingApproval)
	require.Equal(t, StageAwaitingApproval, sawWaiting.Step)
	require.NotNil(t, sawWaiting.Evidence, "the operator sees the evidence while deciding")
	require.True(t, ap.accepted, "approve: %v", ap.rejected)
	require.Equal(t, OutcomePromoted, res.Outcome)
	require.Equal(t, "ana", res.Approval.By)
	require.Equal(t, "ana", proms[0].Decided.ApprovedBy, "the approval goes into the alias history")
	require.Equal(t, "looks good", proms[0].Decided.ApprovalReason)
	require.Error(t, again.rejected, "a second decision is refused")
	require.Equal(t, string(failure.NotAwaitingApproval), ErrorType(again.rejected))
	require.Contains(t, again.rejected.Error(), "already decided: version 2 was approved by ana")
}

func TestApprovalRejectKeepsTheChampion(t *testing.T) {
	env := newEnv(t)
	f := happy()
	var evals []activities.EvaluateInput
	var proms []activities.PromoteInput
	f.evaluate = scored(0.1, func(int) float64 { return 0.5 }, &evals)
	f.promote = promotions(&proms, activities.PromoteOutput{})
	f.install(env)
	noReason := &approval{name: RejectUpdate, req: ApprovalRequest{By: "bob"}}
	noReason.send(env, 5*time.Minute)
	ap := &approval{name: RejectUpdate, req: ApprovalRequest{By: "bob", Reason: "data drift last week"}}
	ap.send(env, 10*time.Minute)
	env.ExecuteWorkflow(WorkflowName, approvalRequest(policy.TimeoutPromote))
	res := result(t, env)

	require.Equal(t, string(failure.InvalidArgument), ErrorType(noReason.rejected), "a rejection needs a reason")
	require.True(t, ap.accepted)
	require.Equal(t, OutcomeRejected, res.Outcome)
	require.Contains(t, res.Reason, "rejected by bob: data drift last week")
	require.Len(t, proms, 1)
	require.Equal(t, OutcomeRejected, proms[0].Record)
	require.Equal(t, "bob", proms[0].Decided.ApprovedBy)
	_, stage, _ := f.last()
	require.Equal(t, StageRejected, stage)
}

func TestApprovalTimeoutDoesWhatThePolicySays(t *testing.T) {
	for _, c := range []struct {
		onTimeout policy.TimeoutAction
		outcome   string
	}{{policy.TimeoutReject, OutcomeRejected}, {policy.TimeoutPromote, OutcomePromoted}} {
		t.Run(string(c.onTimeout), func(t *testing.T) {
			env := newEnv(t)
			f := happy()
			var evals []activities.EvaluateInput
			var proms []activities.PromoteInput
			f.evaluate = scored(0.1, func(int) float64 { return 0.5 }, &evals)
			f.promote = promotions(&proms, activities.PromoteOutput{Previous: 1, Current: 2, Changed: true})
			f.install(env)
			late := &approval{name: ApproveUpdate, req: ApprovalRequest{By: "late"}}
			late.send(env, 2*time.Hour)
			env.ExecuteWorkflow(WorkflowName, approvalRequest(c.onTimeout))
			res := result(t, env)
			require.Equal(t, c.outcome, res.Outcome)
			require.Equal(t, decisionTimedOut, res.Approval.Decision)
			// The workflow completed before the late approval, or refused it.
			if late.rejected != nil {
				require.Equal(t, string(failure.NotAwaitingApproval), ErrorType(late.rejected))
			}
		})
	}
}

func TestApprovalBeforeTheWaitIsRefused(t *testing.T) {
	env := newEnv(t)
	f := happy()
	var evals []activities.EvaluateInput
	f.evaluate = scored(0.1, func(int) float64 { return 0.5 }, &evals)
	f.evaluateAfter = 30 * time.Minute
	f.install(env)
	early := &approval{name: ApproveUpdate, req: ApprovalRequest{By: "eager"}}
	early.send(env, time.Minute)
	ok := &approval{name: ApproveUpdate, req: ApprovalRequest{By: "ana"}}
	ok.send(env, 40*time.Minute)
	env.ExecuteWorkflow(WorkflowName, approvalRequest(policy.TimeoutReject))
	res := result(t, env)
	require.Equal(t, string(failure.NotAwaitingApproval), ErrorType(early.rejected))
	require.Contains(t, early.rejected.Error(), "not awaiting approval")
	require.Equal(t, OutcomePromoted, res.Outcome)
}
