package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/workflows"
)

const scheduleUsage = `
starter schedule COMMAND [flags]

Scheduled retraining on Temporal Schedules. Every scheduled run is a
ModelLifecycle pipeline with workflow ID <schedule id>-<nominal time, RFC 3339>
that trains only on samples timestamped at or before that nominal time, so
a backfill retrains on past data windows and re-running it changes nothing.

Commands:
  create     create a schedule (upsert: an existing ID is updated)
  list       list schedules
  describe   show a schedule's spec, state, recent and next runs
  pause      pause a schedule
  unpause    unpause a schedule
  trigger    run the action now
  backfill   run the actions a time range would have run
  delete     delete a schedule (running pipelines go on)

Examples:
  starter schedule create --model iris --data /data/iris.csv --cron "0 3 * * *"
  starter schedule backfill retrain-iris --start 2026-01-01T00:00:00Z --end 2026-01-08T00:00:00Z
  starter schedule list

Run 'starter schedule COMMAND --help' for flags and examples.
`

const scheduleCreateUsage = `
starter schedule create --model NAME (--data FILE | --pairs "t,x,y;...") (--cron EXPR | --every DURATION) [flags]

Creates a Temporal Schedule whose action is the ModelLifecycle pipeline.
--data is read by the worker on every run (by absolute path), so appended
samples are seen; rows may carry a timestamp (CSV t,x,y, JSON {"t","x","y"},
RFC 3339 or unix seconds) and each run trains on rows with t <= its nominal time.

Examples:
  starter schedule create --model iris --data /data/iris.csv --cron "0 3 * * *" --jitter 10m
  starter schedule create --id retrain-iris --model iris --data ./iris.csv --every 24h --overlap buffer-one --pause-on-failure
  starter schedule create --model iris --pairs "1,4;2,5" --every 1h --paused --output json
`

const scheduleBackfillUsage = `
starter schedule backfill SCHEDULE_ID --start TIME --end TIME [--overlap buffer-all]

Runs every action the schedule's spec would have started between --start and
--end (RFC 3339), each with that nominal time as its training cutoff. The
workflow IDs are the same every time, so backfilling a range again makes no
new model versions.

Example:
  starter schedule backfill retrain-iris --start 2026-01-01T00:00:00Z --end 2026-01-03T23:59:59Z
`

// scheduleUsages are the --help texts of the subcommands.
var scheduleUsages = map[string]string{
	"create":   scheduleCreateUsage,
	"list":     "starter schedule list [--output json]\n\nExample:\n  starter schedule list",
	"describe": "starter schedule describe SCHEDULE_ID [--output json]\n\nExample:\n  starter schedule describe retrain-iris",
	"pause":    "starter schedule pause SCHEDULE_ID [--note TEXT]\n\nExample:\n  starter schedule pause retrain-iris --note \"bad data upstream\"",
	"unpause":  "starter schedule unpause SCHEDULE_ID [--note TEXT]\n\nExample:\n  starter schedule unpause retrain-iris",
	"trigger":  "starter schedule trigger SCHEDULE_ID [--overlap POLICY]\n\nExample:\n  starter schedule trigger retrain-iris --overlap allow-all",
	"backfill": scheduleBackfillUsage,
	"delete":   "starter schedule delete SCHEDULE_ID\n\nExample:\n  starter schedule delete retrain-iris",
}

// scheduleShorts are the one-line summaries of the subcommands.
var scheduleShorts = map[string]string{
	"create": "create a schedule (upsert: an existing ID is updated)", "list": "list schedules",
	"describe": "show a schedule's spec, state, recent and next runs", "pause": "pause a schedule", "unpause": "unpause a schedule",
	"trigger": "run the action now", "backfill": "run the actions a time range would have run", "delete": "delete a schedule (running pipelines go on)",
}

func scheduleCmd(e *env, c *commonFlags) *cobra.Command {
	cmd := command(scheduleUsage, "scheduled retraining: create, list, describe, pause, unpause, trigger, backfill, delete",
		func(cmd *cobra.Command, args []string) error {
			// Reached only without a known subcommand.
			switch {
			case len(args) == 0:
				fmt.Fprintln(e.stdout, strings.TrimSpace(scheduleUsage))
				return usageError{"schedule: missing command"}
			case args[0] == "help": // "starter schedule help", as before cobra
				return cmd.Help()
			}
			return usageError{fmt.Sprintf("schedule: unknown command %q (see starter schedule --help)", args[0])}
		})
	cmd.Args = cobra.ArbitraryArgs
	cmd.AddCommand(scheduleCreateCmd(e, c), scheduleListCmd(e, c),
		scheduleSub(e, c, "describe", nil, func(ctx context.Context, s *session, h client.ScheduleHandle) error {
			return describeSchedule(ctx, e, c, s, h.GetID(), "")
		}),
		pauseCmd(e, c, true), pauseCmd(e, c, false), scheduleTriggerCmd(e, c), scheduleBackfillCmd(e, c),
		scheduleSub(e, c, "delete", nil, func(ctx context.Context, s *session, h client.ScheduleHandle) error {
			if err := h.Delete(ctx); err != nil {
				return temporalError(err, "delete schedule %s", h.GetID())
			}
			if c.output == "json" {
				return printJSON(e.stdout, scheduleOut{ScheduleID: h.GetID(), Action: "deleted"})
			}
			fmt.Fprintf(e.stdout, "Deleted schedule %s (running pipelines go on)\n", h.GetID())
			return nil
		}))
	return cmd
}

var overlapPolicies = map[string]enumspb.ScheduleOverlapPolicy{
	"skip":            enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
	"buffer-one":      enumspb.SCHEDULE_OVERLAP_POLICY_BUFFER_ONE,
	"buffer-all":      enumspb.SCHEDULE_OVERLAP_POLICY_BUFFER_ALL,
	"cancel-other":    enumspb.SCHEDULE_OVERLAP_POLICY_CANCEL_OTHER,
	"terminate-other": enumspb.SCHEDULE_OVERLAP_POLICY_TERMINATE_OTHER,
	"allow-all":       enumspb.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL,
}

func overlapPolicy(s string) (enumspb.ScheduleOverlapPolicy, error) {
	if p, ok := overlapPolicies[s]; ok {
		return p, nil
	}
	return 0, usageError{fmt.Sprintf("--overlap %q: want skip, buffer-one, buffer-all, cancel-other, terminate-other or allow-all", s)}
}

func overlapName(p enumspb.ScheduleOverlapPolicy) string {
	for k, v := range overlapPolicies {
		if v == p {
			return k
		}
	}
	return "skip"
}

type scheduleOut struct {
	ScheduleID  string     `json:"schedule_id"`
	Model       string     `json:"model,omitempty"`
	Spec        string     `json:"spec,omitempty"`
	Overlap     string     `json:"overlap,omitempty"`
	Paused      bool       `json:"paused"`
	Note        string     `json:"note,omitempty"`
	NumActions  int        `json:"num_actions"`
	Running     []string   `json:"running,omitempty"`
	Recent      []runOut   `json:"recent,omitempty"`
	Next        []string   `json:"next,omitempty"`
	TemporalURL string     `json:"temporal_ui_url,omitempty"`
	Action      string     `json:"action,omitempty"`
	Backfill    *[2]string `json:"backfill,omitempty"`
}

type runOut struct {
	WorkflowID  string `json:"workflow_id"`
	Scheduled   string `json:"scheduled_time"` // nominal time plus jitter; the ID carries the nominal time
	Actual      string `json:"actual_time"`
	TemporalURL string `json:"temporal_ui_url,omitempty"`
}

func scheduleCreateCmd(e *env, c *commonFlags) *cobra.Command {
	var f scheduleFlags
	cmd := command(scheduleCreateUsage, scheduleShorts["create"], func(cmd *cobra.Command, _ []string) error {
		return scheduleCreate(cmd.Context(), e, c, f)
	})
	cmd.Args = args(0, 0, "")
	fs := cmd.Flags()
	f.p.register(fs)
	fs.StringVar(&f.id, "id", "", "schedule ID (default: retrain-<model>, non-ASCII bytes of the name as ~XX)")
	fs.StringVar(&f.cron, "cron", "", `cron expression, e.g. "0 3 * * *" or "@daily" (UTC)`)
	fs.DurationVar(&f.every, "every", 0, "interval, e.g. 24h")
	fs.DurationVar(&f.jitter, "jitter", 0, "random delay of up to this much for each run")
	fs.StringVar(&f.overlap, "overlap", "skip", "when a run is still going: skip, buffer-one, buffer-all, cancel-other, terminate-other, allow-all")
	fs.DurationVar(&f.catchup, "catchup-window", time.Hour, "how late a missed run may still start (after an outage)")
	fs.BoolVar(&f.pauseOnFailure, "pause-on-failure", false, "pause the schedule when a run fails")
	fs.BoolVar(&f.paused, "paused", false, "create it paused")
	fs.StringVar(&f.note, "note", "", "note shown with the schedule")
	return cmd
}

type scheduleFlags struct {
	p                       pipelineFlags
	id, cron, overlap, note string
	every, jitter, catchup  time.Duration
	pauseOnFailure, paused  bool
}

func scheduleCreate(ctx context.Context, e *env, c *commonFlags, f scheduleFlags) error {
	p := &f.p
	id, cron, every, jitter, overlap, catchup := &f.id, &f.cron, &f.every, &f.jitter, &f.overlap, &f.catchup
	pauseOnFailure, paused, note := &f.pauseOnFailure, &f.paused, &f.note
	cfg, err := c.load(e)
	if err != nil {
		return err
	}
	req, err := p.request(cfg, true)
	if err != nil {
		return err
	}
	policy, err := overlapPolicy(*overlap)
	if err != nil {
		return err
	}
	spec := client.ScheduleSpec{Jitter: *jitter, TimeZoneName: "UTC"}
	switch {
	case (*cron == "") == (*every == 0):
		return usageError{"give exactly one of --cron EXPR or --every DURATION"}
	case *cron != "":
		spec.CronExpressions = []string{*cron}
	case *every < time.Second:
		return usageError{fmt.Sprintf("--every %s: want at least 1s", *every)}
	default:
		spec.Intervals = []client.ScheduleIntervalSpec{{Every: *every}}
	}
	if *catchup < 10*time.Second {
		return usageError{fmt.Sprintf("--catchup-window %s: want at least 10s", *catchup)}
	}
	if *id == "" {
		*id = workflows.ScheduleID(req.ModelName)
	}
	if err := checkID("--id", *id); err != nil {
		return err
	}
	s, err := c.connect(ctx, e, cfg)
	if err != nil {
		return err
	}
	defer s.Close()
	action := &client.ScheduleWorkflowAction{
		ID:                    *id, // the server appends -<nominal time>
		Workflow:              workflows.WorkflowName,
		Args:                  []any{req},
		TaskQueue:             cfg.Temporal.TaskQueue,
		TypedSearchAttributes: temporal.NewSearchAttributes(workflows.ModelNameKey.ValueSet(req.ModelName)),
		Memo:                  map[string]any{workflows.MemoModelName: req.ModelName},
		StaticSummary:         fmt.Sprintf("Scheduled retraining of %s", req.ModelName),
	}
	opts := client.ScheduleOptions{
		ID: *id, Spec: spec, Action: action, Overlap: policy, CatchupWindow: *catchup,
		PauseOnFailure: *pauseOnFailure, Paused: *paused, Note: *note,
	}
	sc := s.cl.ScheduleClient()
	_, err = sc.Create(ctx, opts)
	verb := "Created"
	if err != nil && isAlreadyRunning(err) {
		verb = "Updated"
		err = sc.GetHandle(ctx, *id).Update(ctx, client.ScheduleUpdateOptions{
			DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
				sch := in.Description.Schedule
				sch.Spec, sch.Action = &spec, action
				sch.Policy = &client.SchedulePolicies{Overlap: policy, CatchupWindow: *catchup, PauseOnFailure: *pauseOnFailure}
				return &client.ScheduleUpdate{Schedule: &sch}, nil
			},
		})
	}
	if err != nil {
		return temporalError(err, "create schedule %s", *id)
	}
	return describeSchedule(ctx, e, c, s, *id, verb)
}

func isAlreadyRunning(err error) bool {
	return err != nil && (err == temporal.ErrScheduleAlreadyRunning || failure.CodeOf(temporalError(err, "")) == failure.AlreadyExists)
}

func scheduleListCmd(e *env, c *commonFlags) *cobra.Command {
	cmd := command(scheduleUsages["list"], scheduleShorts["list"], func(cmd *cobra.Command, _ []string) error {
		return scheduleList(cmd.Context(), e, c)
	})
	cmd.Args = args(0, 0, "")
	return cmd
}

func scheduleList(ctx context.Context, e *env, c *commonFlags) error {
	s, err := c.open(ctx, e)
	if err != nil {
		return err
	}
	defer s.Close()
	it, err := s.cl.ScheduleClient().List(ctx, client.ScheduleListOptions{PageSize: 100})
	if err != nil {
		return temporalError(err, "list schedules")
	}
	out := []scheduleOut{}
	for it.HasNext() {
		ent, err := it.Next()
		if err != nil {
			return temporalError(err, "list schedules")
		}
		o := scheduleOut{ScheduleID: ent.ID, Spec: specString(ent.Spec), Paused: ent.Paused, Note: ent.Note, TemporalURL: s.scheduleURL(ent.ID)}
		for _, t := range ent.NextActionTimes {
			o.Next = append(o.Next, t.UTC().Format(time.RFC3339))
		}
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ScheduleID < out[j].ScheduleID })
	if c.output == "json" {
		return printJSON(e.stdout, out)
	}
	if len(out) == 0 {
		fmt.Fprintln(e.stdout, "No schedules.")
		return nil
	}
	fmt.Fprintf(e.stdout, "%-28s %-8s %-32s %s\n", "SCHEDULE ID", "STATE", "SPEC", "NEXT RUN")
	for _, o := range out {
		next := "-"
		if len(o.Next) > 0 {
			next = o.Next[0]
		}
		fmt.Fprintf(e.stdout, "%-28s %-8s %-32s %s\n", o.ScheduleID, state(o.Paused), o.Spec, next)
	}
	return nil
}

func state(paused bool) string {
	if paused {
		return "paused"
	}
	return "active"
}

// specString renders a spec the way it was given.
func specString(sp *client.ScheduleSpec) string {
	if sp == nil {
		return ""
	}
	var parts []string
	parts = append(parts, sp.CronExpressions...)
	for _, iv := range sp.Intervals {
		parts = append(parts, "every "+iv.Every.String())
	}
	for _, cal := range sp.Calendars {
		parts = append(parts, calendarString(cal))
	}
	if sp.Jitter > 0 {
		parts = append(parts, "jitter "+sp.Jitter.String())
	}
	return strings.Join(parts, ", ")
}

func calendarString(cal client.ScheduleCalendarSpec) string {
	r := func(rs []client.ScheduleRange, lo, hi int) string {
		if len(rs) == 0 || len(rs) == 1 && rs[0].Start == lo && rs[0].End == hi && rs[0].Step <= 1 {
			return "*"
		}
		var ss []string
		for _, x := range rs {
			switch {
			case x.End > x.Start && x.Step > 1:
				ss = append(ss, fmt.Sprintf("%d-%d/%d", x.Start, x.End, x.Step))
			case x.End > x.Start:
				ss = append(ss, fmt.Sprintf("%d-%d", x.Start, x.End))
			default:
				ss = append(ss, fmt.Sprint(x.Start))
			}
		}
		return strings.Join(ss, ",")
	}
	return strings.Join([]string{r(cal.Minute, 0, 59), r(cal.Hour, 0, 23), r(cal.DayOfMonth, 1, 31), r(cal.Month, 1, 12), r(cal.DayOfWeek, 0, 6)}, " ")
}

// pauseCmd is pause or unpause, with a note saying why.
func pauseCmd(e *env, c *commonFlags, pause bool) *cobra.Command {
	name, verb := "unpause", "Unpaused"
	if pause {
		name, verb = "pause", "Paused"
	}
	var note string
	return scheduleSub(e, c, name, func(fs *pflag.FlagSet) { fs.StringVar(&note, "note", name+"d with starter", "why") },
		func(ctx context.Context, s *session, h client.ScheduleHandle) error {
			var err error
			if pause {
				err = h.Pause(ctx, client.SchedulePauseOptions{Note: note})
			} else {
				err = h.Unpause(ctx, client.ScheduleUnpauseOptions{Note: note})
			}
			if err != nil {
				return temporalError(err, "%s schedule %s", name, h.GetID())
			}
			return describeSchedule(ctx, e, c, s, h.GetID(), verb)
		})
}

func scheduleTriggerCmd(e *env, c *commonFlags) *cobra.Command {
	var overlap string
	return scheduleSub(e, c, "trigger", func(fs *pflag.FlagSet) {
		fs.StringVar(&overlap, "overlap", "", "overlap policy for this run (default: the schedule's)")
	}, func(ctx context.Context, s *session, h client.ScheduleHandle) error {
		var policy enumspb.ScheduleOverlapPolicy
		if overlap != "" {
			var err error
			if policy, err = overlapPolicy(overlap); err != nil {
				return err
			}
		}
		if err := h.Trigger(ctx, client.ScheduleTriggerOptions{Overlap: policy}); err != nil {
			return temporalError(err, "trigger schedule %s", h.GetID())
		}
		return describeSchedule(ctx, e, c, s, h.GetID(), "Triggered")
	})
}

func scheduleBackfillCmd(e *env, c *commonFlags) *cobra.Command {
	var start, end, overlap string
	return scheduleSub(e, c, "backfill", func(fs *pflag.FlagSet) {
		fs.StringVar(&start, "start", "", "start of the range, RFC 3339 (required)")
		fs.StringVar(&end, "end", "", "end of the range, RFC 3339 (required)")
		fs.StringVar(&overlap, "overlap", "buffer-all", "overlap policy for the backfilled runs (buffer-all runs them one after another)")
	}, func(ctx context.Context, s *session, h client.ScheduleHandle) error {
		from, err := time.Parse(time.RFC3339, start)
		if err != nil {
			return usageError{fmt.Sprintf("--start %q is not RFC 3339", start)}
		}
		to, err := time.Parse(time.RFC3339, end)
		if err != nil {
			return usageError{fmt.Sprintf("--end %q is not RFC 3339", end)}
		}
		if !to.After(from) {
			return usageError{"--end must be after --start"}
		}
		policy, err := overlapPolicy(overlap)
		if err != nil {
			return err
		}
		if err := h.Backfill(ctx, client.ScheduleBackfillOptions{Backfill: []client.ScheduleBackfill{{Start: from, End: to, Overlap: policy}}}); err != nil {
			return temporalError(err, "backfill schedule %s", h.GetID())
		}
		if c.output == "json" {
			return printJSON(e.stdout, scheduleOut{ScheduleID: h.GetID(), Action: "backfilled", TemporalURL: s.scheduleURL(h.GetID()),
				Backfill: &[2]string{from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339)}})
		}
		fmt.Fprintf(e.stdout, "Backfilling schedule %s from %s to %s (overlap %s)\n  Temporal UI  %s\n", h.GetID(),
			from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339), overlap, s.scheduleURL(h.GetID()))
		return nil
	})
}

// scheduleSub is a subcommand "NAME SCHEDULE_ID [flags]": it connects and
// checks the schedule exists (an unknown ID is NotFound, exit 2) before
// running fn.
func scheduleSub(e *env, c *commonFlags, name string, flags func(*pflag.FlagSet),
	fn func(context.Context, *session, client.ScheduleHandle) error) *cobra.Command {
	cmd := command(scheduleUsages[name], scheduleShorts[name], func(cmd *cobra.Command, args []string) error {
		ctx := cmd.Context()
		s, err := c.open(ctx, e)
		if err != nil {
			return err
		}
		defer s.Close()
		h := s.cl.ScheduleClient().GetHandle(ctx, args[0])
		if _, err := h.Describe(ctx); err != nil {
			return temporalError(err, "schedule %s", args[0])
		}
		return fn(ctx, s, h)
	})
	cmd.Args = args(1, 1, "SCHEDULE_ID")
	if flags != nil {
		flags(cmd.Flags())
	}
	return cmd
}

func describeSchedule(ctx context.Context, e *env, c *commonFlags, s *session, id, verb string) error {
	d, err := s.cl.ScheduleClient().GetHandle(ctx, id).Describe(ctx)
	if err != nil {
		return temporalError(err, "schedule %s", id)
	}
	o := scheduleOut{ScheduleID: id, Spec: specString(d.Schedule.Spec), NumActions: d.Info.NumActions, TemporalURL: s.scheduleURL(id),
		Action: strings.ToLower(verb)}
	if d.Schedule.State != nil {
		o.Paused, o.Note = d.Schedule.State.Paused, d.Schedule.State.Note
	}
	if d.Schedule.Policy != nil {
		o.Overlap = overlapName(d.Schedule.Policy.Overlap)
	}
	if act, ok := d.Schedule.Action.(*client.ScheduleWorkflowAction); ok {
		var req workflows.LifecycleRequest
		if len(act.Args) > 0 {
			if p, ok := act.Args[0].(*commonpb.Payload); ok && converter.GetDefaultDataConverter().FromPayload(p, &req) == nil {
				o.Model = req.ModelName
			}
		}
	}
	for _, r := range d.Info.RunningWorkflows {
		o.Running = append(o.Running, r.WorkflowID)
	}
	for _, r := range d.Info.RecentActions {
		ro := runOut{Scheduled: r.ScheduleTime.UTC().Format(time.RFC3339), Actual: r.ActualTime.UTC().Format(time.RFC3339)}
		if r.StartWorkflowResult != nil {
			ro.WorkflowID = r.StartWorkflowResult.WorkflowID
			ro.TemporalURL = s.workflowURL(r.StartWorkflowResult.WorkflowID, r.StartWorkflowResult.FirstExecutionRunID)
		}
		o.Recent = append(o.Recent, ro)
	}
	for _, t := range d.Info.NextActionTimes {
		o.Next = append(o.Next, t.UTC().Format(time.RFC3339))
	}
	if c.output == "json" {
		return printJSON(e.stdout, o)
	}
	w := e.stdout
	if verb != "" {
		fmt.Fprintf(w, "%s schedule %s\n", verb, id)
	} else {
		fmt.Fprintf(w, "Schedule %s\n", id)
	}
	fmt.Fprintf(w, "  model        %s\n  spec         %s\n  overlap      %s\n  state        %s", o.Model, o.Spec, o.Overlap, state(o.Paused))
	if o.Note != "" {
		fmt.Fprintf(w, " (%s)", o.Note)
	}
	fmt.Fprintf(w, "\n  actions      %d\n", o.NumActions)
	for _, r := range o.Running {
		fmt.Fprintf(w, "  running      %s\n", r)
	}
	for _, r := range o.Recent {
		fmt.Fprintf(w, "  recent       %s (started %s)\n", r.WorkflowID, r.Actual)
	}
	if len(o.Next) > 0 {
		fmt.Fprintf(w, "  next run     %s\n", o.Next[0])
	}
	fmt.Fprintf(w, "  Temporal UI  %s\n", o.TemporalURL)
	return nil
}
