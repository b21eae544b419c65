package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flavorflow/flavorflow/activities"
	"github.com/flavorflow/flavorflow/policy"
	"github.com/flavorflow/flavorflow/workflows"
)

// policyStatus is `starter status --output json` with the policy's fields.
type policyStatus struct {
	WorkflowID       string              `json:"workflow_id"`
	Status           string              `json:"status"`
	Step             string              `json:"step"`
	Version          int                 `json:"version"`
	Outcome          string              `json:"outcome"`
	Reason           string              `json:"reason"`
	Evidence         *policy.Evidence    `json:"evidence"`
	AwaitingApproval bool                `json:"awaiting_approval"`
	Approval         *workflows.Approval `json:"approval"`
}

// csvLine writes n rows "x,y" of y = x + offset.
func csvLine(t *testing.T, dir, name string, offset float64, n int) string {
	var b strings.Builder
	for x := 1; x <= n; x++ {
		fmt.Fprintf(&b, "%d,%g\n", x, float64(x)+offset)
	}
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte(b.String()), 0o644))
	return p
}

// The promotion policy and the approval gate from the command line: run
// with a policy, find the waiting pipeline, approve it (and what is refused
// on the way), see the decision in status, watch and the alias history; a
// worse challenger keeps the champion and says why; bad policy flags are
// exit 2 before anything starts.
func TestCLIPolicyAndApproval(t *testing.T) {
	t.Parallel()
	c := newCLIEnv(t)
	c.startWorker()
	const model = "cli-policy"
	c.ok("run", "--model", model, "--data", csvLine(t, c.dir, "base.csv", 5, 10))

	better := csvLine(t, c.dir, "better.csv", 4, 20)
	r := c.ok("run", "--model", model, "--data", better, "--policy", "beats-champion", "--holdout-fraction", "0.3",
		"--holdout-seed", "7", "--approval", "required", "--id", "gated", "--no-wait")
	require.Contains(t, r.stdout, "Started pipeline gated")
	eventually(t, 2*time.Minute, func() bool {
		var l []policyStatus
		c.okJSON(&l, "list", "--model", model, "--stage", workflows.StageAwaitingApproval)
		return len(l) == 1 && l[0].WorkflowID == "gated"
	}, "list --stage awaiting-approval finds the waiting pipeline")
	r = c.ok("status", "gated")
	require.Contains(t, r.stdout, "awaiting-approval")
	require.Contains(t, r.stdout, "starter approve gated")
	require.Contains(t, r.stdout, "beats champion v1")
	require.Contains(t, r.stdout, "champion v1 mse 1")

	r = c.starter(nil, "reject", "gated", "--by", "bob")
	require.Equal(t, 2, r.code, "%s", r)
	require.Contains(t, r.stderr, "--reason is required")
	r = c.starter(nil, "approve", "no-such-pipeline", "--by", "ana")
	require.Equal(t, 2, r.code, "%s", r)
	require.Contains(t, r.stderr, "NotFound")
	r = c.starter([]string{"USER=ana"}, "approve", "gated", "--reason", "offline eval reviewed")
	require.Equal(t, 0, r.code, "%s", r)
	require.Contains(t, r.stdout, "version 2 approved by ana (offline eval reviewed)")
	r = c.starter(nil, "approve", "gated", "--by", "ana")
	require.Equal(t, 2, r.code, "a second decision is refused\n%s", r)
	require.Contains(t, r.stderr, "NotAwaitingApproval")

	r = c.ok("watch", "gated")
	require.Contains(t, r.stdout, "outcome      promoted")
	require.Contains(t, r.stdout, "approval     approved by ana: offline eval reviewed")
	var st policyStatus
	c.okJSON(&st, "status", "gated")
	require.Equal(t, workflows.OutcomePromoted, st.Outcome)
	require.Equal(t, 2, st.Version)
	require.Equal(t, "ana", st.Approval.By)

	// A worse challenger, scored on a separate file: kept-champion is exit 0.
	worse := csvLine(t, c.dir, "worse.csv", 10, 10)
	eval := csvLine(t, c.dir, "eval.csv", 4, 5)
	r = c.ok("run", "--model", model, "--data", worse, "--eval-data", eval, "--policy", "beats-champion", "--id", "worse")
	require.Contains(t, r.stdout, "outcome      kept-champion")
	require.Contains(t, r.stdout, "does not beat champion v2")
	require.Contains(t, r.stdout, "held-out rows")

	var h activities.AliasHistory
	c.okJSON(&h, "history", "--model", model)
	require.Len(t, h.Events, 3)
	require.Equal(t, "ana", h.Events[1].ApprovedBy)
	require.Equal(t, "kept-champion", h.Events[2].Outcome)
	r = c.ok("history", "--model", model)
	require.Contains(t, r.stdout, "approval: ana (offline eval reviewed)")
	require.Contains(t, r.stdout, "kept-champion")

	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"--policy", "sometimes"}, "unknown mode"},
		{[]string{"--policy", "beats-champion"}, "held-out data"},
		{[]string{"--policy", "threshold", "--holdout-fraction", "0.2"}, "needs a threshold"},
		{[]string{"--holdout-fraction", "1.5"}, "fraction"},
		{[]string{"--policy", "beats-champion", "--metric", "accuracy", "--holdout-fraction", "0.2"}, "unknown metric"},
		{[]string{"--policy", "beats-champion", "--holdout-fraction", "0.2", "--alias", "-"}, "needs an alias"},
		{[]string{"--approval", "maybe"}, "unknown approval"},
		{[]string{"--policy", "beats-champion", "--holdout-fraction", "0.01"}, "held out"},
	} {
		r := c.starter(nil, append([]string{"run", "--model", model, "--data", better}, bad.args...)...)
		require.Equal(t, 2, r.code, "%v\n%s", bad.args, r)
		require.Contains(t, r.stderr, bad.want, "%v", bad.args)
	}
}

// A schedule with a beats-champion policy over a 5-day backfill: each run
// trains on the days before its cutoff and is scored, with the champion, on
// the last day before it. Day offsets 2, 4, 4, 10, 4, 4 make the first three
// versions improvements and the last two not (see the table below); only the
// improving ones take the alias, and every run says why.
func TestScheduleBeatsChampionBackfill(t *testing.T) {
	t.Parallel()
	c := newCLIEnv(t)
	c.startWorker()
	// challenger offset (mean of the days trained on) and champion per run:
	//  run  trained  offset  scored on  challenger err  champion (err)  outcome
	//  1    d0       2       d1 = 4     2               none            promoted
	//  2    d0-1     3       d2 = 4     1               v1 (2)          promoted
	//  3    d0-2     3.33    d3 = 10    6.67            v2 (7)          promoted
	//  4    d0-3     5       d4 = 4     1               v3 (0.67)       kept-champion
	//  5    d0-4     4.8     d5 = 4     0.8             v3 (0.67)       kept-champion
	for k, st := range c.beatsChampionBackfill("retrain-policy", "daily-policy") {
		if st.Evidence.ChampionScores != nil {
			better := st.Evidence.ChallengerScores.MSE < st.Evidence.ChampionScores.MSE
			require.Equal(t, st.Outcome == workflows.OutcomePromoted, better, "run %d: promoted iff it beat the champion on the same rows: %+v", k+1, st.Evidence)
		}
	}
	var h activities.AliasHistory
	c.okJSON(&h, "history", "--model", "daily-policy")
	var seen []string
	for _, ev := range h.Events {
		seen = append(seen, fmt.Sprintf("v%d %s", ev.To, ev.Outcome))
	}
	require.Equal(t, []string{"v1 changed", "v2 changed", "v3 changed", "v4 kept-champion", "v5 kept-champion"}, seen)
	st := c.openStore()
	mv, err := st.GetModelVersionByAlias(t.Context(), "daily-policy", "champion")
	require.NoError(t, err)
	require.Equal(t, 3, mv.Version)
}

// beatsChampionBackfill creates schedule id for model with a beats-champion
// policy and a 24 h held-out window (extra: more create flags), backfills
// five days over daily data y = x + day offset (x = 1, 2, 3 each day;
// offsets 2, 4, 4, 10, 4, 4 from 2026-01-01), and checks that the first three
// runs were promoted and the last two kept the champion, each scored on one
// day's three rows. Run k (nominal time 2026-01-0(k+2) 00:00) trains on days
// 0..k-1 and is scored on day k. It returns the runs' statuses in order.
func (c *cliEnv) beatsChampionBackfill(id, model string, extra ...string) []policyStatus {
	t := c.t
	t.Helper()
	var b strings.Builder
	b.WriteString("t,x,y\n")
	for d, o := range []float64{2, 4, 4, 10, 4, 4} { // day 0 (2026-01-01) to day 5
		for i, hour := range []int{6, 12, 18} {
			x := float64(i + 1)
			fmt.Fprintf(&b, "2026-01-%02dT%02d:00:00Z,%g,%g\n", d+1, hour, x, x+o)
		}
	}
	data := filepath.Join(c.dir, "daily.csv")
	require.NoError(t, os.WriteFile(data, []byte(b.String()), 0o644))
	c.ok(append([]string{"schedule", "create", "--id", id, "--model", model, "--data", data, "--every", "24h",
		"--policy", "beats-champion", "--holdout-window", "24h"}, extra...)...)
	c.ok("schedule", "backfill", id, "--start", "2026-01-02T23:00:00Z", "--end", "2026-01-07T01:00:00Z")
	eventually(t, 3*time.Minute, func() bool {
		var d scheduleJSON
		c.okJSON(&d, "schedule", "describe", id)
		return d.NumActions == 5 && len(d.Running) == 0
	}, "five backfilled runs")
	want := []string{"promoted", "promoted", "promoted", "kept-champion", "kept-champion"}
	out := make([]policyStatus, 0, len(want))
	for k := 1; k <= 5; k++ {
		runID := fmt.Sprintf("%s-2026-01-%02dT00:00:00Z", id, k+2)
		var st policyStatus
		c.okJSON(&st, "status", runID)
		require.Equal(t, "Completed", st.Status, "%s", runID)
		require.Equal(t, want[k-1], st.Outcome, "run %d (%s): %s", k, runID, st.Reason)
		require.NotNil(t, st.Evidence, runID)
		require.Equal(t, 3, st.Evidence.ChallengerScores.N, "run %d is scored on one day's three rows", k)
		out = append(out, st)
	}
	return out
}
