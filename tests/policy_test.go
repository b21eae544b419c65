package tests

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/flavorflow/flavorflow/activities"
	"github.com/flavorflow/flavorflow/internal/testrig/testenv"
	"github.com/flavorflow/flavorflow/mlflow"
	"github.com/flavorflow/flavorflow/policy"
	"github.com/flavorflow/flavorflow/store"
	"github.com/flavorflow/flavorflow/vocab"
	"github.com/flavorflow/flavorflow/workflows"
)

// line is n rows of y = x + offset, x = 1..n.
func line(offset float64, n int) vocab.TrainingData {
	rows := make([]vocab.Sample, n)
	for i := range rows {
		x := float64(i + 1)
		rows[i] = vocab.Sample{X: x, Y: x + offset}
	}
	return vocab.TrainingData{Pairs: rows}
}

// policyEnv is a dev server, a worker binary on one store, and that store.
type policyEnv struct {
	*cliEnv
	st    store.Store
	model string
}

// newPolicyEnv starts the worker on the embedded store ("local") or on the
// shared MLflow server ("mlflow").
func newPolicyEnv(t *testing.T, kind string, opts testenv.TemporalOptions) *policyEnv {
	c := newCLIEnvWith(t, opts)
	p := &policyEnv{cliEnv: c, model: fmt.Sprintf("policy-%s-%d", kind, time.Now().UnixNano())}
	if kind == "mlflow" {
		ml := testenv.SharedMLflow(t, testenv.MLflowOptions{})
		c.env = append(c.env, "MLFLOW_TRACKING_URI="+ml.URL)
		st, err := mlflow.New(mlflow.Config{TrackingURI: ml.URL})
		require.NoError(t, err)
		t.Cleanup(func() { _ = st.Close() })
		p.st = st
	}
	c.startWorker()
	if kind == "local" {
		p.st = c.openStore()
	}
	return p
}

func (p *policyEnv) start(id string, req workflows.LifecycleRequest) client.WorkflowRun {
	p.t.Helper()
	req.ModelName = p.model
	if req.Alias == "" {
		req.Alias = "champion"
	}
	run, err := p.tp.Client.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{
		ID: p.model + "-" + id, TaskQueue: p.queue, TypedSearchAttributes: testenv.SearchAttributes(),
	}, workflows.WorkflowName, req)
	require.NoError(p.t, err)
	return run
}

func (p *policyEnv) result(run client.WorkflowRun) workflows.LifecycleResult {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var res workflows.LifecycleResult
	require.NoError(p.t, p.client().GetWorkflow(ctx, run.GetID(), "").Get(ctx, &res), "pipeline %s", run.GetID())
	return res
}

func (p *policyEnv) client() client.Client { return p.tp.Client }

func (p *policyEnv) alias() int {
	p.t.Helper()
	mv, err := p.st.GetModelVersionByAlias(context.Background(), p.model, "champion")
	require.NoError(p.t, err)
	return mv.Version
}

func (p *policyEnv) version(v int) *store.ModelVersion {
	p.t.Helper()
	mv, err := p.st.GetModelVersion(context.Background(), p.model, v)
	require.NoError(p.t, err)
	return mv
}

// stage is the pipeline's Stage search attribute.
func (p *policyEnv) stage(id string) string {
	p.t.Helper()
	desc, err := p.client().DescribeWorkflowExecution(context.Background(), id, "")
	require.NoError(p.t, err)
	var s string
	require.NoError(p.t, converter.GetDefaultDataConverter().FromPayload(desc.WorkflowExecutionInfo.SearchAttributes.GetIndexedFields()["Stage"], &s))
	return s
}

// awaitApproval waits until the pipeline says it is waiting for an operator.
func (p *policyEnv) awaitApproval(id string) workflows.Progress {
	p.t.Helper()
	var pr workflows.Progress
	eventually(p.t, 2*time.Minute, func() bool {
		v, err := p.client().QueryWorkflow(context.Background(), id, "", workflows.ProgressQuery)
		return err == nil && v.Get(&pr) == nil && pr.AwaitingApproval
	}, "pipeline "+id+" awaiting approval")
	return pr
}

// decide sends approve or reject and waits for the answer.
func (p *policyEnv) decide(id, update string, r workflows.ApprovalRequest) (workflows.Approval, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	h, err := p.client().UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: id, UpdateName: update, Args: []any{r}, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	var a workflows.Approval
	if err == nil {
		err = h.Get(ctx, &a)
	}
	return a, err
}

func (p *policyEnv) history() activities.AliasHistory {
	p.t.Helper()
	v, err := p.client().QueryWorkflow(context.Background(), workflows.AliasKeeperID(p.queue, p.model, "champion"), "", activities.AliasHistoryQuery)
	require.NoError(p.t, err)
	var h activities.AliasHistory
	require.NoError(p.t, v.Get(&h))
	return h
}

func beats(h vocab.Holdout) workflows.LifecycleRequest {
	return workflows.LifecycleRequest{Policy: policy.Policy{Mode: policy.BeatsChampion}, Holdout: h}
}

// Promotion on evidence on the real dev server and worker, on both stores:
// the first version takes the alias (no champion), a better challenger
// takes it from the champion, a worse one leaves it, and a pipeline whose
// challenger loses completes with outcome kept-champion and says why, in
// its result, its Stage, the alias history and the versions' tags.
func TestPromoteOnEvidence(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"local", "mlflow"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			p := newPolicyEnv(t, kind, testenv.TemporalOptions{})
			fraction := vocab.Holdout{Fraction: 0.3, Seed: 7}

			// v1: y = x + 5, no champion yet.
			req := beats(fraction)
			req.Data = line(5, 20)
			res := p.result(p.start("1", req))
			require.Equal(t, workflows.OutcomePromoted, res.Outcome)
			require.Contains(t, res.Reason, "no champion")
			require.Equal(t, 1, p.alias())

			// v2: y = x + 3, scored on its own held-out rows: 0 against the
			// champion's 4.
			req.Data = line(3, 20)
			res = p.result(p.start("2", req))
			require.Equal(t, workflows.OutcomePromoted, res.Outcome, res.Reason)
			require.Equal(t, 2, res.Version)
			require.NotNil(t, res.Evidence)
			require.NotNil(t, res.Evidence.ChampionScores)
			require.Equal(t, 1, res.Evidence.Champion)
			require.InDelta(t, 0, res.Evidence.ChallengerScores.MSE, 1e-9)
			require.InDelta(t, 4, res.Evidence.ChampionScores.MSE, 1e-9)
			require.InDelta(t, 2, res.Evidence.ChampionScores.MAE, 1e-9)
			require.Equal(t, 2, p.alias())
			require.Equal(t, workflows.StagePromoted, p.stage(p.model+"-2"))

			// The comparison is visible on both versions and on the run.
			v2 := p.version(2)
			require.Equal(t, "1", v2.Tags["flavorflow.eval.champion_version"], "%v", v2.Tags)
			require.Contains(t, v2.Tags, "flavorflow.eval.mse")
			require.Contains(t, p.version(1).Tags, "flavorflow.eval.vs_v2.mse")
			run, err := p.st.GetRun(context.Background(), res.RunID)
			require.NoError(t, err)
			keys := map[string]float64{}
			for _, m := range run.Metrics {
				keys[m.Key] = m.Value
			}
			require.Contains(t, keys, "eval_mse")
			require.InDelta(t, 4, keys["champion_eval_mse"], 1e-9)
			// The run shows the data that trained and scored the version
			// (issue 11, part 3): one input per context.
			contexts := map[string]string{}
			for _, in := range run.Inputs {
				contexts[in.Tags[store.DatasetContextTag]] = in.Dataset.Name
			}
			require.Equal(t, map[string]string{"training": "training", "evaluation": activities.EvalDatasetName}, contexts, "%+v", run.Inputs)

			// v3: trained on y = x + 10, evaluated on a separate file of
			// y = x + 3: it loses to the champion and the alias stays.
			worse := beats(vocab.Holdout{Data: &vocab.TrainingData{Pairs: line(3, 8).Pairs}})
			worse.Data = line(10, 20)
			id := p.model + "-3"
			res = p.result(p.start("3", worse))
			require.Equal(t, workflows.OutcomeKeptChampion, res.Outcome)
			require.Contains(t, res.Reason, "does not beat champion v2")
			require.InDelta(t, 49, res.Evidence.ChallengerScores.MSE, 1e-9)
			require.Equal(t, 3, res.Version, "the challenger is registered and verified, just not promoted")
			require.Equal(t, 2, p.alias())
			require.Equal(t, workflows.StageKeptChampion, p.stage(id))
			desc, err := p.client().DescribeWorkflowExecution(context.Background(), id, "")
			require.NoError(t, err)
			var outcome string
			require.NoError(t, converter.GetDefaultDataConverter().FromPayload(desc.WorkflowExecutionInfo.Memo.GetFields()[workflows.MemoOutcome], &outcome))
			require.Equal(t, workflows.OutcomeKeptChampion, outcome)

			h := p.history()
			var outcomes []string
			for _, ev := range h.Events {
				outcomes = append(outcomes, ev.Outcome)
			}
			require.Equal(t, []string{"changed", "changed", "kept-champion"}, outcomes)
			last := h.Events[len(h.Events)-1]
			require.Equal(t, res.Reason, last.Reason)
			require.NotNil(t, last.Evidence)
		})
	}
}

// The approval gate on the real dev server, on both stores: approve
// promotes with the approver in the alias history; reject keeps the
// champion with the reason; a timeout rejects or promotes as the policy
// says; decisions the pipeline is not waiting for are refused.
func TestApprovalGate(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"local", "mlflow"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			p := newPolicyEnv(t, kind, testenv.TemporalOptions{})
			// The champion: y = x + 5.
			p.result(p.start("base", workflows.LifecycleRequest{Data: line(5, 10)}))
			gated := func(offset float64, timeout time.Duration, onTimeout policy.TimeoutAction) workflows.LifecycleRequest {
				req := beats(vocab.Holdout{Data: &vocab.TrainingData{Pairs: line(offset, 6).Pairs}})
				req.Data = line(offset, 10)
				req.Policy.Approval, req.Policy.ApprovalTimeout, req.Policy.OnTimeout = policy.ApprovalRequired, timeout, onTimeout
				return req
			}

			// approve
			run := p.start("approve", gated(4, time.Hour, policy.TimeoutReject))
			pr := p.awaitApproval(run.GetID())
			require.NotNil(t, pr.Evidence, "the operator sees the evidence")
			require.True(t, pr.Decision.Promote)
			require.Equal(t, workflows.StageAwaitingApproval, p.stage(run.GetID()))
			_, err := p.decide(run.GetID(), workflows.ApproveUpdate, workflows.ApprovalRequest{})
			require.ErrorContains(t, err, "say who decides")
			a, err := p.decide(run.GetID(), workflows.ApproveUpdate, workflows.ApprovalRequest{By: "ana", Reason: "checked the report"})
			require.NoError(t, err)
			require.Equal(t, "approved", a.Decision)
			res := p.result(run)
			require.Equal(t, workflows.OutcomePromoted, res.Outcome)
			require.Equal(t, "ana", res.Approval.By)
			require.Equal(t, res.Version, p.alias())
			_, err = p.decide(run.GetID(), workflows.RejectUpdate, workflows.ApprovalRequest{By: "bob", Reason: "late"})
			require.Error(t, err, "a decision on a finished pipeline is refused")
			last := p.history().Events
			require.Equal(t, "ana", last[len(last)-1].ApprovedBy)
			require.Equal(t, "checked the report", last[len(last)-1].ApprovalReason)
			champion := res.Version

			// reject
			run = p.start("reject", gated(3, time.Hour, policy.TimeoutPromote))
			p.awaitApproval(run.GetID())
			_, err = p.decide(run.GetID(), workflows.RejectUpdate, workflows.ApprovalRequest{By: "bob"})
			require.ErrorContains(t, err, "a rejection needs a reason")
			_, err = p.decide(run.GetID(), workflows.RejectUpdate, workflows.ApprovalRequest{By: "bob", Reason: "holiday traffic"})
			require.NoError(t, err)
			_, err = p.decide(run.GetID(), workflows.ApproveUpdate, workflows.ApprovalRequest{By: "ana"})
			if err != nil { // refused while the pipeline finishes, or after
				require.True(t, strings.Contains(err.Error(), "already decided") || strings.Contains(err.Error(), "completed"), "%v", err)
			}
			res = p.result(run)
			require.Equal(t, workflows.OutcomeRejected, res.Outcome)
			require.Contains(t, res.Reason, "rejected by bob: holiday traffic")
			require.Equal(t, champion, p.alias())
			require.Equal(t, workflows.StageRejected, p.stage(run.GetID()))
			ev := p.history().Events
			require.Equal(t, "rejected", ev[len(ev)-1].Outcome)
			require.Equal(t, "bob", ev[len(ev)-1].ApprovedBy)

			// timeout: reject, then promote
			res = p.result(p.start("timeout-reject", gated(3, 2*time.Second, policy.TimeoutReject)))
			require.Equal(t, workflows.OutcomeRejected, res.Outcome)
			require.Equal(t, "timed-out", res.Approval.Decision)
			require.Equal(t, champion, p.alias())
			res = p.result(p.start("timeout-promote", gated(3, 2*time.Second, policy.TimeoutPromote)))
			require.Equal(t, workflows.OutcomePromoted, res.Outcome)
			require.Equal(t, "timed-out", res.Approval.Decision)
			require.Equal(t, res.Version, p.alias())
		})
	}
}

// An approval is durable state in Temporal: sent after the worker was
// replaced, or after the dev server itself restarted, it is honoured.
func TestApprovalAfterRestarts(t *testing.T) {
	t.Parallel()
	opts := testenv.TemporalOptions{DBFile: filepath.Join(t.TempDir(), "temporal.db"), Port: testenv.FreePort(t)}
	c := newCLIEnvWith(t, opts)
	p := &policyEnv{cliEnv: c, model: fmt.Sprintf("policy-restart-%d", time.Now().UnixNano())}
	w := c.startWorker()
	p.st = c.openStore()
	gated := beats(vocab.Holdout{Fraction: 0.3, Seed: 1})
	gated.Data = line(3, 20)
	gated.Policy.Approval = policy.ApprovalRequired

	// Worker restart: the waiting pipeline is picked up by the new worker.
	run := p.start("worker", gated)
	p.awaitApproval(run.GetID())
	w.stop(t, 30*time.Second)
	w = c.startWorker()
	_, err := p.decide(run.GetID(), workflows.ApproveUpdate, workflows.ApprovalRequest{By: "ana", Reason: "after a worker restart"})
	require.NoError(t, err)
	res := p.result(run)
	require.Equal(t, workflows.OutcomePromoted, res.Outcome)
	require.Equal(t, 1, p.alias())

	// Dev-server restart while the pipeline waits.
	gated.Data = line(2, 20)
	run = p.start("server", gated)
	p.awaitApproval(run.GetID())
	c.tp.Stop(t)
	c.tp = testenv.StartTemporal(t, opts)
	// Until the worker has reconnected, the update waits for it.
	_, err = p.decide(run.GetID(), workflows.ApproveUpdate, workflows.ApprovalRequest{By: "bob", Reason: "after a server restart"})
	require.NoError(t, err)
	res = p.result(run)
	require.Equal(t, workflows.OutcomePromoted, res.Outcome, res.Reason)
	require.Equal(t, "bob", res.Approval.By)
	require.Equal(t, 2, p.alias())
	_ = w
}

// Two challengers finishing together: both beat the champion, one beats
// the other. Whatever order they reach the alias in, each is compared with
// the champion of its turn — never both with the old one — so the better
// of the two ends on the alias, and every promotion in the alias history
// was decided against the version it replaced.
func TestConcurrentChallengersAreComparedInTurn(t *testing.T) {
	t.Parallel()
	p := newPolicyEnv(t, "local", testenv.TemporalOptions{})
	base := p.model
	eval := &vocab.TrainingData{Pairs: line(3, 8).Pairs}
	for round := range 3 {
		p.model = fmt.Sprintf("%s-%d", base, round)
		p.result(p.start("champion", workflows.LifecycleRequest{Data: line(5, 10)}))
		req := func(offset float64) workflows.LifecycleRequest {
			r := beats(vocab.Holdout{Data: eval})
			r.Data = line(offset, 10)
			return r
		}
		// Started in either order: the better one (offset 3) first in odd rounds.
		first, second := req(3.5), req(3)
		if round%2 == 1 {
			first, second = second, first
		}
		runs := []client.WorkflowRun{p.start("a", first), p.start("b", second)}
		best := 0
		for _, run := range runs {
			res := p.result(run)
			if res.Evidence.ChallengerScores.MSE == 0 {
				best = res.Version
			}
		}
		require.Equal(t, best, p.alias(), "round %d: the better challenger must hold the alias", round)
		for _, ev := range p.history().Events {
			if ev.Outcome == "changed" && ev.Evidence != nil && ev.Evidence.Champion != ev.To {
				require.Equal(t, ev.From, ev.Evidence.Champion, "round %d: promotion of v%d was decided against v%d but replaced v%d", round, ev.To, ev.Evidence.Champion, ev.From)
			}
		}
	}
}
