package tests

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/flavorflow/flavorflow/vocab"
	"github.com/stretchr/testify/require"
)

type scheduleJSON struct {
	ScheduleID  string   `json:"schedule_id"`
	Model       string   `json:"model"`
	Spec        string   `json:"spec"`
	Overlap     string   `json:"overlap"`
	Paused      bool     `json:"paused"`
	NumActions  int      `json:"num_actions"`
	Running     []string `json:"running"`
	TemporalURL string   `json:"temporal_ui_url"`
}

// Scheduled retraining end to end: a schedule over timestamped data, a
// three-day backfill makes three versions trained on three cutoffs, and the
// same backfill again makes none.
func TestScheduleBackfillTrainsOnCutoffsOnce(t *testing.T) {
	t.Parallel()
	c := newCLIEnv(t)
	c.startWorker()
	// Day N's rows have y = x + (2N-1): the offset learned from rows up to a
	// cutoff is the mean over the days it includes.
	data := filepath.Join(c.dir, "daily.csv")
	require.NoError(t, os.WriteFile(data, []byte("t,x,y\n"+
		"2026-01-01T12:00:00Z,1,2\n"+
		"2026-01-02T12:00:00Z,1,4\n"+
		"1767441600,1,6\n"), 0o644)) // 2026-01-03T12:00:00Z

	var created scheduleJSON
	c.okJSON(&created, "schedule", "create", "--id", "retrain-daily", "--model", "daily", "--data", data, "--every", "24h", "--pause-on-failure")
	require.Equal(t, "daily", created.Model)
	require.Equal(t, "every 24h0m0s", created.Spec)
	require.Equal(t, "skip", created.Overlap)
	require.Equal(t, cliUI+"/namespaces/default/schedules/retrain-daily", created.TemporalURL)

	list := c.ok("schedule", "list")
	require.Contains(t, list.stdout, "retrain-daily")
	require.Contains(t, list.stdout, "every 24h0m0s")

	backfill := func() {
		r := c.ok("schedule", "backfill", "retrain-daily", "--start", "2026-01-01T23:00:00Z", "--end", "2026-01-04T01:00:00Z")
		require.Contains(t, r.stdout, "Backfilling schedule retrain-daily")
	}
	describe := func() scheduleJSON {
		var d scheduleJSON
		c.okJSON(&d, "schedule", "describe", "retrain-daily")
		return d
	}
	backfill()
	eventually(t, time.Minute, func() bool { d := describe(); return d.NumActions == 3 && len(d.Running) == 0 }, "three backfilled runs")

	st := c.openStore()
	ctx := context.Background()
	versions, err := st.SearchModelVersions(ctx, "daily", "", "")
	require.NoError(t, err)
	require.Len(t, versions, 3)
	got := map[string]string{} // workflow ID -> cutoff tag
	var offsets []float64
	for _, mv := range versions {
		run, err := st.GetRun(ctx, mv.RunID)
		require.NoError(t, err)
		got[mv.Tags[vocab.TagWorkflowID]] = run.Tags[vocab.TagCutoff]
		var s statusJSON
		c.okJSON(&s, "status", mv.Tags[vocab.TagWorkflowID])
		require.Equal(t, mv.Version, s.Version)
		offsets = append(offsets, s.Offset)
	}
	require.Equal(t, map[string]string{
		"retrain-daily-2026-01-02T00:00:00Z": "2026-01-02T00:00:00Z",
		"retrain-daily-2026-01-03T00:00:00Z": "2026-01-03T00:00:00Z",
		"retrain-daily-2026-01-04T00:00:00Z": "2026-01-04T00:00:00Z",
	}, got)
	sort.Float64s(offsets)
	require.Equal(t, []float64{1, 2, 3}, offsets, "each cutoff sees one more day of data")

	// The same backfill again starts the same workflow IDs. On the dev server
	// Temporal runs a completed ID again (the scheduler's starts allow
	// duplicates), so there are three more runs; each finds its version by
	// workflow ID and makes nothing new.
	backfill()
	eventually(t, time.Minute, func() bool { d := describe(); return d.NumActions == 6 && len(d.Running) == 0 }, "second backfill ran")
	again, err := st.SearchModelVersions(ctx, "daily", "", "")
	require.NoError(t, err)
	require.Len(t, again, 3, "a repeated backfill must not make new versions")
	// Every re-run completes: it finds its version, and the older windows'
	// promotions count as done (their versions were promoted before and have
	// been superseded), so a repeated backfill never pauses a schedule that
	// has --pause-on-failure.
	for _, mv := range versions {
		r := c.starter(nil, "status", mv.Tags[vocab.TagWorkflowID], "--output", "json")
		var s statusJSON
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &s), "%s", r)
		require.Equal(t, mv.Version, s.Version, "the re-run found the same version\n%s", r)
		require.Equal(t, "Completed", s.Status, "%s", r)
	}

	// trigger: "retrain now" runs with now as the cutoff, so on all the data.
	r := c.ok("schedule", "trigger", "retrain-daily")
	require.Contains(t, r.stdout, "Triggered schedule retrain-daily")
	eventually(t, time.Minute, func() bool { d := describe(); return d.NumActions == 7 && len(d.Running) == 0 }, "triggered run")
	latest, err := st.GetModelVersionByAlias(ctx, "daily", "champion")
	require.NoError(t, err)
	require.Equal(t, 4, latest.Version)

	// pause / unpause / delete, and unknown IDs.
	r = c.ok("schedule", "pause", "retrain-daily", "--note", "maintenance")
	require.Contains(t, r.stdout, "paused (maintenance)")
	require.True(t, describe().Paused)
	c.ok("schedule", "unpause", "retrain-daily")
	require.False(t, describe().Paused)
	r = c.ok("schedule", "delete", "retrain-daily")
	require.Contains(t, r.stdout, "Deleted schedule retrain-daily")
	for _, sub := range []string{"describe", "pause", "unpause", "trigger", "delete"} {
		r := c.starter(nil, "schedule", sub, "retrain-daily")
		require.Equal(t, 2, r.code, "%s of a deleted schedule\n%s", sub, r)
		require.Contains(t, r.stderr, "NotFound")
		require.Contains(t, r.stderr, "retrain-daily")
	}
}

// Bad schedule input is exit 2 with a clear message, before or at the server.
func TestScheduleCreateRejectsBadInput(t *testing.T) {
	t.Parallel()
	c := newCLIEnv(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--cron", "61 * * * *"}, "InvalidArgument"},
		{[]string{"--cron", "not a cron"}, "InvalidArgument"},
		{[]string{"--cron", "@daily", "--every", "1h"}, "exactly one of --cron"},
		{[]string{}, "exactly one of --cron"},
		{[]string{"--every", "1h", "--overlap", "sometimes"}, `--overlap "sometimes"`},
	} {
		args := append([]string{"schedule", "create", "--id", "bad", "--model", "m", "--pairs", "1,2"}, tc.args...)
		r := c.starter(nil, args...)
		require.Equal(t, 2, r.code, "%v\n%s", tc.args, r)
		require.Contains(t, r.stderr, tc.want, "%v\n%s", tc.args, r)
	}
	r := c.starter(nil, "schedule", "describe", "nope")
	require.Equal(t, 2, r.code, "%s", r)
	require.Contains(t, r.stderr, "schedule nope")
}
