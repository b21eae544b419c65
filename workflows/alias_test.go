package workflows

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/flavorflow/flavorflow/activities"
	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/policy"
)

func keeperEnv(t *testing.T) *testsuite.TestWorkflowEnvironment {
	t.Helper()
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(AliasKeeper, workflow.RegisterOptions{Name: AliasKeeperName})
	env.RegisterActivity(a)
	return env
}

// answer is one update's outcome.
type answer struct {
	res      AliasChangeResult
	err      error
	rejected error
	done     bool
}

// send delivers an update to the keeper and records its outcome in got.
func send(t *testing.T, env *testsuite.TestWorkflowEnvironment, got *answer, updateID string, req AliasChangeRequest) {
	t.Helper()
	env.UpdateWorkflow(activities.AliasChangeUpdate, updateID, &testsuite.TestUpdateCallback{
		OnReject: func(err error) { got.rejected, got.done = err, true },
		OnAccept: func() {},
		OnComplete: func(v any, err error) {
			got.err, got.done = err, true
			switch x := v.(type) {
			case AliasChangeResult:
				got.res = x
			case converter.EncodedValue:
				if x != nil && err == nil {
					require.NoError(t, x.Get(&got.res))
				}
			}
		},
	}, req)
}

func champion(version int) AliasChangeRequest {
	return AliasChangeRequest{ModelName: "名前-モデル", Alias: "champion", Version: version, Requester: fmt.Sprintf("p%d", version)}
}

// Updates run concurrently in Temporal; the keeper must still apply them one
// at a time, in arrival order, and record each in its history.
func TestAliasKeeperAppliesChangesOneAtATimeInArrivalOrder(t *testing.T) {
	env := keeperEnv(t)
	var mu sync.Mutex
	var order []int
	others := make(chan struct{}, 8) // one token per change started after the first
	overlap := false
	alias := 0
	env.OnActivity(a.ApplyAliasChange, mock.Anything, mock.Anything).Return(func(_ context.Context, req AliasChangeRequest) (activities.PromoteOutput, error) {
		mu.Lock()
		order = append(order, req.Version)
		first := len(order) == 1
		mu.Unlock()
		if !first {
			others <- struct{}{}
		} else {
			// Without serialization the other changes were dispatched with
			// this one and start now; give them a bounded chance to show.
			select {
			case <-others:
				mu.Lock()
				overlap = true
				mu.Unlock()
			case <-time.After(200 * time.Millisecond):
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if req.Version < alias {
			return activities.PromoteOutput{Previous: alias, Current: alias}, temporal.NewNonRetryableApplicationError("older", string(failure.AliasConflict), nil)
		}
		out := activities.PromoteOutput{Previous: alias, Current: req.Version, Changed: alias != req.Version}
		alias = req.Version
		return out, nil
	})
	got := make([]answer, 3)
	env.RegisterDelayedCallback(func() {
		send(t, env, &got[0], "u1", champion(1))
		send(t, env, &got[1], "u3", champion(3))
		send(t, env, &got[2], "u2", champion(2))
	}, 0)
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(activities.AliasHistoryQuery)
		require.NoError(t, err)
		var h activities.AliasHistory
		require.NoError(t, v.Get(&h))
		require.Len(t, h.Events, 3)
		require.Equal(t, []int{1, 3, 2}, []int{h.Events[0].To, h.Events[1].To, h.Events[2].To})
		require.Equal(t, []string{"changed", "changed", string(failure.AliasConflict)}, []string{h.Events[0].Outcome, h.Events[1].Outcome, h.Events[2].Outcome})
		require.Equal(t, 1, h.Events[1].From)
		require.Equal(t, "p3", h.Events[1].Requester)
		require.Equal(t, []int{1, 2, 3}, []int{h.Events[0].Seq, h.Events[1].Seq, h.Events[2].Seq})
		env.CancelWorkflow()
	}, time.Hour)
	env.ExecuteWorkflow(AliasKeeperName, activities.AliasKeeperInput{ModelName: "名前-モデル", Alias: "champion"})
	require.False(t, overlap, "two changes of one alias ran at once")
	require.Equal(t, []int{1, 3, 2}, order, "changes applied out of arrival order")
	require.NoError(t, got[0].err)
	require.NoError(t, got[1].err)
	require.Equal(t, AliasChangeResult{ModelName: "名前-モデル", Alias: "champion", Version: 3, Previous: 1, Current: 3, Changed: true, AliasURI: "models:/名前-モデル@champion"}, got[1].res)
	require.Equal(t, string(failure.AliasConflict), ErrorType(got[2].err))
}

// applied fakes ApplyAliasChange on a store whose alias starts unset and
// counts the calls.
func applied(env *testsuite.TestWorkflowEnvironment, calls *int) {
	alias := 0
	env.OnActivity(a.ApplyAliasChange, mock.Anything, mock.Anything).Return(func(_ context.Context, req AliasChangeRequest) (activities.PromoteOutput, error) {
		*calls++
		out := activities.PromoteOutput{Previous: alias, Current: req.Version, Changed: alias != req.Version}
		alias = req.Version
		return out, nil
	})
}

// A retried request (same RequestID, new update ID: the pipeline's next
// attempt) gets the first answer without a second write, also when the
// answer was carried over from the previous run.
func TestAliasKeeperDedupesRetriedRequests(t *testing.T) {
	env := keeperEnv(t)
	calls := 0
	applied(env, &calls)
	carried := activities.AliasOutcome{RequestID: "p1/champion/v1", Result: AliasChangeResult{ModelName: "名前-モデル", Alias: "champion", Version: 1, Current: 1, Changed: true}}
	got := make([]answer, 3)
	env.RegisterDelayedCallback(func() {
		req := champion(2)
		req.RequestID = "p2/champion/v2"
		send(t, env, &got[0], "p2/champion/v2#1", req)
		send(t, env, &got[1], "p2/champion/v2#2", req)
		old := champion(1)
		old.RequestID = carried.RequestID
		send(t, env, &got[2], "p1/champion/v1#3", old)
	}, 0)
	env.RegisterDelayedCallback(env.CancelWorkflow, time.Hour)
	env.ExecuteWorkflow(AliasKeeperName, activities.AliasKeeperInput{ModelName: "名前-モデル", Alias: "champion", Outcomes: []activities.AliasOutcome{carried}})
	require.Equal(t, 1, calls, "a retried request was applied twice")
	for _, g := range got {
		require.True(t, g.done)
		require.NoError(t, g.err)
	}
	require.Equal(t, got[0].res, got[1].res)
	require.True(t, got[1].res.Changed)
	require.Equal(t, carried.Result, got[2].res, "the carried answer")
}

// After MaxChanges the keeper continues as new, but only once every
// accepted change has finished, and carries the history and the answers.
func TestAliasKeeperContinuesAsNewCarryingHistory(t *testing.T) {
	env := keeperEnv(t)
	calls := 0
	applied(env, &calls)
	got := make([]answer, 3)
	env.RegisterDelayedCallback(func() {
		for i := range got {
			req := champion(i + 1)
			req.RequestID = fmt.Sprintf("p%d/champion/v%d", i+1, i+1)
			send(t, env, &got[i], req.RequestID+"#1", req)
		}
	}, 0)
	old := activities.AliasEvent{Seq: 7, To: 9, Outcome: "changed"}
	env.ExecuteWorkflow(AliasKeeperName, activities.AliasKeeperInput{ModelName: "名前-モデル", Alias: "champion", MaxChanges: 2, History: []activities.AliasEvent{old}})
	var can *workflow.ContinueAsNewError
	require.ErrorAs(t, env.GetWorkflowError(), &can)
	var next activities.AliasKeeperInput
	require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
	require.Equal(t, 3, calls)
	for _, g := range got {
		require.True(t, g.done, "a change accepted before continue-as-new was dropped")
		require.NoError(t, g.err)
	}
	require.Equal(t, "名前-モデル", next.ModelName)
	require.Equal(t, 2, next.MaxChanges)
	require.Len(t, next.History, 4)
	require.Equal(t, []int{7, 8, 9, 10}, []int{next.History[0].Seq, next.History[1].Seq, next.History[2].Seq, next.History[3].Seq})
	require.Len(t, next.Outcomes, 3)
	require.Equal(t, "p3/champion/v3", next.Outcomes[2].RequestID)
}

// A request the keeper reaches after its requester stopped waiting is not
// applied (its retry is a new request); a request for another alias is
// rejected before it is recorded.
func TestAliasKeeperSkipsExpiredAndForeignRequests(t *testing.T) {
	env := keeperEnv(t)
	calls := 0
	applied(env, &calls)
	var expired, foreign answer
	env.RegisterDelayedCallback(func() {
		req := champion(1)
		req.Deadline = time.Unix(1, 0)
		send(t, env, &expired, "late", req)
		other := champion(1)
		other.Alias = "canary"
		send(t, env, &foreign, "foreign", other)
	}, 0)
	env.RegisterDelayedCallback(env.CancelWorkflow, time.Hour)
	env.ExecuteWorkflow(AliasKeeperName, activities.AliasKeeperInput{ModelName: "名前-モデル", Alias: "champion"})
	require.Equal(t, 0, calls)
	require.Equal(t, string(failure.Internal), ErrorType(expired.err))
	require.ErrorContains(t, expired.err, "after its requester stopped waiting")
	require.Error(t, foreign.rejected)
	require.Equal(t, string(failure.InvalidArgument), ErrorType(foreign.rejected))
}

func TestAliasKeeperIDIsASCIIAndInjective(t *testing.T) {
	require.Equal(t, "alias-iris@champion@flavorflow", AliasKeeperID("flavorflow", "iris", "champion"))
	require.Equal(t, "alias-~E5~90~8D~E5~89~8D-~E3~83~A2~E3~83~87~E3~83~AB@champion@q", AliasKeeperID("q", "名前-モデル", "champion"))
	require.NotEqual(t, AliasKeeperID("q", "a-b", "c"), AliasKeeperID("q", "a", "b-c"))
	require.NotEqual(t, AliasKeeperID("q", "a@b", "c"), AliasKeeperID("q", "a", "b@c"))
	require.NotEqual(t, AliasKeeperID("q@x", "a", "c"), AliasKeeperID("q", "a", "c@x"))
	// One keeper per worker pool: staging and production never share one.
	require.NotEqual(t, AliasKeeperID("staging", "iris", "champion"), AliasKeeperID("production", "iris", "champion"))
}

// The pipeline's promote step names the alias's keeper, so the change is
// serialized with every other change of that alias.
func TestLifecyclePromotesThroughTheKeeper(t *testing.T) {
	env := newEnv(t)
	env.OnActivity(a.PromoteAlias, mock.Anything, activities.PromoteInput{
		ModelName: "iris", Alias: "champion", Version: 2, Previous: 1, Keeper: AliasKeeperID("default-test-taskqueue", "iris", "champion"),
	}).Return(activities.PromoteOutput{Previous: 1, Current: 2, Changed: true}, nil).Once()
	happy().install(env)
	env.ExecuteWorkflow(WorkflowName, request())
	require.NoError(t, env.GetWorkflowError())
	env.AssertActivityCalled(t, "PromoteAlias", mock.Anything, activities.PromoteInput{
		ModelName: "iris", Alias: "champion", Version: 2, Previous: 1, Keeper: AliasKeeperID("default-test-taskqueue", "iris", "champion"),
	})
}

// The result says where the alias was when the keeper moved it, not where
// the pipeline's early read saw it: other changes may have come first.
func TestLifecycleReportsTheKeepersPrevious(t *testing.T) {
	env := newEnv(t)
	env.OnActivity(a.PromoteAlias, mock.Anything, mock.Anything).
		Return(activities.PromoteOutput{Previous: 4, Current: 2, Changed: true}, nil).Once()
	happy().install(env)
	env.ExecuteWorkflow(WorkflowName, request())
	require.NoError(t, env.GetWorkflowError())
	var res LifecycleResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Equal(t, 4, res.PreviousAlias)
}

// A pipeline's decision not to promote is recorded in the alias history
// without touching the store, and a promotion's evidence and approval go
// into its event.
func TestAliasKeeperRecordsDecisions(t *testing.T) {
	env := keeperEnv(t)
	calls := 0
	applied(env, &calls)
	ev := &policy.Evidence{Challenger: 2, Champion: 1, ChallengerScores: policy.Scores{N: 3, MSE: 0.5}}
	var kept, promoted answer
	var hist activities.AliasHistory
	env.RegisterDelayedCallback(func() {
		req := champion(2)
		req.RequestID, req.Record = "p2/champion/v2/kept-champion", "kept-champion"
		req.Decided = &activities.Decided{Evidence: ev, Reason: "does not beat champion v1"}
		send(t, env, &kept, "k", req)
		req = champion(3)
		req.RequestID = "p3/champion/v3"
		req.Decided = &activities.Decided{Evidence: ev, Reason: "beats", ApprovedBy: "ana", ApprovalReason: "ok"}
		send(t, env, &promoted, "p", req)
	}, 0)
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(activities.AliasHistoryQuery)
		require.NoError(t, err)
		require.NoError(t, v.Get(&hist))
		env.CancelWorkflow()
	}, time.Hour)
	env.ExecuteWorkflow(AliasKeeperName, activities.AliasKeeperInput{ModelName: "名前-モデル", Alias: "champion"})
	require.NoError(t, kept.err)
	require.NoError(t, promoted.err)
	require.Equal(t, 1, calls, "recording a decision must not write to the store")
	require.False(t, kept.res.Changed)
	require.Len(t, hist.Events, 2)
	require.Equal(t, "kept-champion", hist.Events[0].Outcome)
	require.Equal(t, "does not beat champion v1", hist.Events[0].Reason)
	require.Equal(t, ev, hist.Events[0].Evidence)
	require.Equal(t, "changed", hist.Events[1].Outcome)
	require.Equal(t, "ana", hist.Events[1].ApprovedBy)
	require.Equal(t, "ok", hist.Events[1].ApprovalReason)
}

// A keeper started with its ModelName search attribute (as ChangeAlias
// starts it) does not upsert it again: one history event and one visibility
// write less per keeper. One started without it (by hand, or a keeper
// history from before) still sets it.
func TestAliasKeeperUpsertsModelNameOnlyWhenNotStartedWithIt(t *testing.T) {
	for _, withSA := range []bool{true, false} {
		env := keeperEnv(t)
		if withSA {
			require.NoError(t, env.SetTypedSearchAttributesOnStart(temporal.NewSearchAttributes(ModelNameKey.ValueSet("名前-モデル"))))
		}
		upserts := 0
		env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
			if _, ok := args.Get(0).(temporal.SearchAttributes).GetKeyword(ModelNameKey); ok {
				upserts++
			}
		}).Return(nil).Maybe()
		env.RegisterDelayedCallback(env.CancelWorkflow, time.Hour)
		env.ExecuteWorkflow(AliasKeeperName, activities.AliasKeeperInput{ModelName: "名前-モデル", Alias: "champion"})
		want := 1
		if withSA {
			want = 0
		}
		require.Equal(t, want, upserts, "started with the search attribute: %v", withSA)
	}
}
