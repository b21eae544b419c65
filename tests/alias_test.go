package tests

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/flavorflow/flavorflow/activities"
	"github.com/flavorflow/flavorflow/internal/testrig/testenv"
	"github.com/flavorflow/flavorflow/vocab"
	"github.com/flavorflow/flavorflow/workflows"
)

// The alias keeper on a real server: concurrent Update-with-Start calls,
// the first of which starts it, are applied one at a time; it continues as
// new every two changes while calls keep arriving, and none is lost; the
// history survives continue-as-new.
func TestAliasKeeperOnDevServer(t *testing.T) {
	t.Parallel()
	tp := testenv.StartTemporal(t, testenv.TemporalOptions{})
	r := newRig(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const model, alias, n = "名前-モデル", "champion", 10
	// Real stored versions: a change re-hashes the version's bytes before
	// the alias moves.
	for v := 1; v <= n; v++ {
		registerFakeModel(t, r.local, model, float64(v))
		require.NoError(t, r.local.SetModelVersionTag(ctx, model, v, vocab.TagVerified, "true"))
	}
	const queue = "alias-keeper"
	w := worker.New(tp.Client, queue, worker.Options{})
	workflows.Register(w)
	r.acts.Temporal = tp.Client
	w.RegisterActivity(r.acts)
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)

	// Start it with a small run length so it continues as new under load.
	id := workflows.AliasKeeperID(queue, model, alias)
	_, err := tp.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: queue}, workflows.AliasKeeperName,
		activities.AliasKeeperInput{ModelName: model, Alias: alias, MaxChanges: 2})
	require.NoError(t, err)

	// Two waves of concurrent changes: versions 1-6, then 7-10, which reach
	// the runs that follow the first continue-as-new.
	errs := make([]error, n)
	change := func(version int) {
		req := activities.AliasChangeRequest{ModelName: model, Alias: alias, Version: version, Requester: fmt.Sprintf("p%d", version)}
		// Retry what the server refuses while a run hands over to the next
		// (as the promote step's retry policy does), a bounded number of times.
		for try := range 20 {
			_, _, errs[version-1] = activities.ChangeAlias(ctx, tp.Client, queue, id, fmt.Sprintf("u%d-%d", version, try), req)
			if errs[version-1] == nil || workflows.ErrorType(errs[version-1]) != "" {
				return
			}
			t.Logf("change %d: %v; retrying", version, errs[version-1])
		}
	}
	for _, wave := range [][2]int{{1, 6}, {7, 10}} {
		var wg sync.WaitGroup
		for v := wave[0]; v <= wave[1]; v++ {
			wg.Go(func() { change(v) })
		}
		wg.Wait()
		highest := 0
		for v := wave[0]; v <= wave[1]; v++ {
			if err := errs[v-1]; err == nil {
				highest = v
			} else {
				require.Equal(t, "AliasConflict", workflows.ErrorType(err), "change %d: %v", v, err)
			}
		}
		require.Equal(t, wave[1], highest, "the highest version's promotion must succeed")
	}
	mv, err := r.local.GetModelVersionByAlias(ctx, model, alias)
	require.NoError(t, err)
	require.Equal(t, n, mv.Version)

	// Every change is in the history, in order, across the runs.
	v, err := tp.Client.QueryWorkflow(ctx, id, "", activities.AliasHistoryQuery)
	require.NoError(t, err)
	var h activities.AliasHistory
	require.NoError(t, v.Get(&h))
	require.Len(t, h.Events, n)
	for i, ev := range h.Events {
		require.Equal(t, i+1, ev.Seq)
	}
	desc, err := tp.Client.DescribeWorkflowExecution(ctx, id, "")
	require.NoError(t, err)
	require.NotEqual(t, desc.WorkflowExecutionInfo.Execution.RunId, desc.WorkflowExecutionInfo.FirstRunId, "the keeper continued as new")
	if os.Getenv("FLAVORFLOW_UPDATE_GOLDEN") == "1" {
		writeHistory(t, tp.Client, id, desc.WorkflowExecutionInfo.FirstRunId, goldenKeeperHistory)
	}
}

const goldenKeeperHistory = "testdata/alias_keeper_history.json"

// The committed history of a keeper's first run (concurrent updates, then
// continue-as-new) must replay against today's keeper: a change that would
// break running keepers fails here. Refresh it deliberately with
// FLAVORFLOW_UPDATE_GOLDEN=1 go test ./tests -run TestAliasKeeperOnDevServer.
func TestReplayAliasKeeperHistory(t *testing.T) {
	replayer := worker.NewWorkflowReplayer()
	replayer.RegisterWorkflowWithOptions(workflows.AliasKeeper, workflow.RegisterOptions{Name: workflows.AliasKeeperName})
	require.NoError(t, replayer.ReplayWorkflowHistoryFromJSONFile(nil, goldenKeeperHistory))
}

// Two deployments on one namespace — say staging on one store and
// production on another, each with its own task queue — promote the same
// model and alias. Each alias must move in its own store: a keeper belongs
// to one worker pool. Before, the keeper the first pipeline started answered
// the second pipeline's promotion from the first's store ("unchanged"), and
// the second reported a promotion that never happened in its own.
func TestAliasKeeperPerWorkerPool(t *testing.T) {
	t.Parallel()
	tp := testenv.StartTemporal(t, testenv.TemporalOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for _, queue := range []string{"staging", "production"} {
		r := newRig(t)
		startWorker(t, tp.Client, queue, r)
		run, err := tp.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: queue + "-shared", TaskQueue: queue},
			workflows.WorkflowName, tutorialRequest("shared"))
		require.NoError(t, err)
		var res workflows.LifecycleResult
		require.NoError(t, run.Get(ctx, &res), queue)
		mv, err := r.local.GetModelVersionByAlias(ctx, "shared", "champion")
		require.NoError(t, err, "%s: the alias must be set in this deployment's own store", queue)
		require.Equal(t, res.Version, mv.Version, queue)
	}
}

// More promotions in flight than the worker has activity slots: each
// pipeline's promote step holds a slot while it waits for its alias's
// keeper, so the keeper's own write must not need one. With the write as a
// regular activity on the same task queue, 4 pipelines on a worker with 2
// activity slots deadlocked (both slots waiting for writes that could not
// start) until the promote step's 30-minute timeout.
func TestPromotionsBeyondActivitySlots(t *testing.T) {
	t.Parallel()
	tp := testenv.StartTemporal(t, testenv.TemporalOptions{})
	r := newRig(t)
	const queue = "few-slots"
	w := worker.New(tp.Client, queue, worker.Options{MaxConcurrentActivityExecutionSize: 2})
	workflows.Register(w)
	r.acts.Temporal = tp.Client
	w.RegisterActivity(r.acts)
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const n = 4
	runs := make([]client.WorkflowRun, n)
	for i := range runs {
		run, err := tp.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: fmt.Sprintf("slots-%d", i), TaskQueue: queue,
			TypedSearchAttributes: testenv.SearchAttributes()}, workflows.WorkflowName, tutorialRequest(fmt.Sprintf("slots-model-%d", i)))
		require.NoError(t, err)
		runs[i] = run
	}
	for i, run := range runs {
		var res workflows.LifecycleResult
		require.NoError(t, run.Get(ctx, &res), "pipeline %d did not finish: promotions waiting for activity slots they hold", i)
		require.Equal(t, workflows.OutcomePromoted, res.Outcome)
	}
}
