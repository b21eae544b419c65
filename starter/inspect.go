package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/policy"
	"github.com/flavorflow/flavorflow/workflows"
)

const statusUsage = `
starter status WORKFLOW_ID [--output json]

One look at a pipeline: its status, current step, the registered version and
its URIs, with links to the Temporal UI (and the MLflow UI when the store is
an MLflow server). Exit code 0 for a running or completed pipeline, 1 for a
failed, canceled, terminated or timed-out one, 2 for an unknown ID.

Examples:
  starter status lifecycle-iris-1a2b3c4d
  starter status retrain-iris-2026-01-02T00:00:00Z --output json
`

const watchUsage = `
starter watch WORKFLOW_ID [--timeout 30m]

Follows a pipeline started elsewhere (starter run --no-wait, a schedule):
prints each step as it starts and the result when it ends. A finished
pipeline prints its result at once. A lost connection to Temporal is
retried until --timeout. Exit codes as for run (3: no result yet, the
pipeline goes on).

Example:
  starter watch lifecycle-iris-1a2b3c4d
`

const listUsage = `
starter list [--model NAME] [--stage STAGE] [--status STATUS] [--query QUERY] [--limit N]

Lists pipelines from Temporal visibility, newest first. --stage is a step
(training, saving, logging, registering, verifying, evaluating,
awaiting-approval, promoting) or an end (promoted, kept-champion, rejected,
registered, failed); --status is Running, Completed, Failed, Canceled, Terminated or
TimedOut; --query adds a raw list filter (AND-ed).

Examples:
  starter list --model iris
  starter list --stage failed --limit 5
  starter list --stage awaiting-approval
  starter list --query 'TemporalScheduledById = "retrain-iris"' --output json
`

// statusOut is the status of one pipeline.
type statusOut struct {
	WorkflowID  string    `json:"workflow_id"`
	RunID       string    `json:"run_id"`
	Type        string    `json:"workflow_type"`
	Status      string    `json:"status"`
	Model       string    `json:"model,omitempty"`
	Step        string    `json:"step,omitempty"`
	Version     int       `json:"version,omitempty"`
	Offset      float64   `json:"offset,omitempty"`
	ModelURI    string    `json:"model_uri,omitempty"`
	AliasURI    string    `json:"alias_uri,omitempty"`
	BytesMoved  int64     `json:"bytes_moved,omitempty"`
	Started     time.Time `json:"start_time"`
	Closed      time.Time `json:"close_time,omitzero"`
	MLflowURL   string    `json:"mlflow_ui_url,omitempty"`
	TemporalURL string    `json:"temporal_ui_url,omitempty"`
	Error       *errorOut `json:"error,omitempty"`
	// The promotion policy's findings (pipelines with a policy).
	Outcome          string              `json:"outcome,omitempty"`
	Reason           string              `json:"reason,omitempty"`
	Evidence         *policy.Evidence    `json:"evidence,omitempty"`
	AwaitingApproval bool                `json:"awaiting_approval,omitempty"`
	ApprovalDeadline time.Time           `json:"approval_deadline,omitzero"`
	Approval         *workflows.Approval `json:"approval,omitempty"`
	// Idle: queues a running pipeline's tasks wait on that no worker polls.
	Idle []idleQueue `json:"idle_task_queues,omitempty"`
}

// statusName is "Running", "Completed", ... from the enum.
func statusName(s enumspb.WorkflowExecutionStatus) string {
	name := strings.TrimPrefix(s.String(), "WORKFLOW_EXECUTION_STATUS_")
	if name == "TIMED_OUT" {
		return "TimedOut"
	}
	if name == "CONTINUED_AS_NEW" {
		return "ContinuedAsNew"
	}
	return strings.ToUpper(name[:1]) + strings.ToLower(name[1:])
}

// fromInfo fills what visibility knows: type, status, times, search
// attributes and memo.
func fromInfo(s *session, info *workflowpb.WorkflowExecutionInfo) statusOut {
	o := statusOut{WorkflowID: info.GetExecution().GetWorkflowId(), RunID: info.GetExecution().GetRunId(), Type: info.GetType().GetName(),
		Status: statusName(info.GetStatus()), Started: info.GetStartTime().AsTime()}
	if info.GetCloseTime() != nil {
		o.Closed = info.GetCloseTime().AsTime()
	}
	dc := converter.GetDefaultDataConverter()
	sa := info.GetSearchAttributes().GetIndexedFields()
	var version int64
	_ = dc.FromPayload(sa[workflows.ModelNameKey.GetName()], &o.Model)
	_ = dc.FromPayload(sa[workflows.StageKey.GetName()], &o.Step)
	if dc.FromPayload(sa[workflows.ModelVersionKey.GetName()], &version) == nil {
		o.Version = int(version)
	}
	memo := info.GetMemo().GetFields()
	_ = dc.FromPayload(memo[workflows.MemoModelURI], &o.ModelURI)
	if o.Model == "" {
		_ = dc.FromPayload(memo[workflows.MemoModelName], &o.Model)
	}
	o.TemporalURL = s.workflowURL(o.WorkflowID, o.RunID)
	o.MLflowURL = mlflowURL(s.cfg.Store.TrackingURI, o.Model, o.Version)
	return o
}

// describe returns the status of a workflow, with the result or error of a
// closed one and the progress of a running one.
func describe(ctx context.Context, s *session, id string) (statusOut, error) {
	d, err := s.cl.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		return statusOut{}, temporalError(err, "workflow %s", id)
	}
	o := fromInfo(s, d.GetWorkflowExecutionInfo())
	if o.Status == "Running" {
		// Best effort: the status stands without it.
		o.Idle, _ = idleQueues(ctx, s.cl, d)
	}
	run := s.cl.GetWorkflow(ctx, id, o.RunID)
	switch {
	case o.Type == workflows.WorkflowName && o.Status == "Running":
		if v, err := s.cl.QueryWorkflow(ctx, id, o.RunID, workflows.ProgressQuery); err == nil {
			var p workflows.Progress
			if v.Get(&p) == nil {
				o.Step, o.BytesMoved = p.Step, p.BytesMoved
				if p.Version > 0 {
					o.Version, o.ModelURI = p.Version, p.ModelURI
				}
				o.Evidence, o.AwaitingApproval, o.ApprovalDeadline, o.Approval = p.Evidence, p.AwaitingApproval, p.ApprovalDeadline, p.Approval
				if p.Decision != nil {
					o.Reason = p.Decision.Reason
				}
			}
		}
	case o.Type == workflows.WorkflowName && o.Status == "Completed":
		var res workflows.LifecycleResult
		if err := run.Get(ctx, &res); err == nil {
			o.Step, o.Version, o.Offset, o.ModelURI, o.AliasURI, o.BytesMoved = "done", res.Version, res.Offset, res.ModelURI, res.AliasURI, res.BytesMoved
			o.Outcome, o.Reason, o.Evidence, o.Approval = res.Outcome, res.Reason, res.Evidence, res.Approval
			if res.UIURL != "" {
				o.MLflowURL = res.UIURL
			}
		}
	case o.Type == workflows.AliasChangeName && o.Status == "Completed":
		var res workflows.AliasChangeResult
		if err := run.Get(ctx, &res); err == nil {
			o.Step, o.Version, o.AliasURI = "done", res.Version, res.AliasURI
		}
	case o.Status != "Running":
		if err := run.Get(ctx, nil); err != nil {
			o.Error = errorOf(err)
		}
	}
	return o, nil
}

// errorOf is a workflow error as its flavorflow type and message.
func errorOf(err error) *errorOut {
	out := &errorOut{Type: workflows.ErrorType(err), Message: rootMessage(err)}
	var canceled *temporal.CanceledError
	if out.Type == "" && errors.As(err, &canceled) {
		// Not a failure of the pipeline's own: an operator stopped it.
		return &errorOut{Type: string(failure.Canceled), Message: "cancelled (what the pipeline created was compensated)"}
	}
	if out.Type == "" {
		out.Type = string(failure.CodeOf(err))
	}
	out.Message = strings.TrimPrefix(out.Message, out.Type+": ") // the type is printed once
	return out
}

func statusCmd(e *env, c *commonFlags) *cobra.Command {
	cmd := command(statusUsage, "show a pipeline's status, step, version and URIs", func(cmd *cobra.Command, args []string) error {
		return status(cmd.Context(), e, c, args[0])
	})
	cmd.Args = args(1, 1, "WORKFLOW_ID")
	return cmd
}

func status(ctx context.Context, e *env, c *commonFlags, id string) error {
	s, err := c.open(ctx, e)
	if err != nil {
		return err
	}
	defer s.Close()
	o, err := describe(ctx, s, id)
	if err != nil {
		return err
	}
	if c.output == "json" {
		err = printJSON(e.stdout, o)
	} else {
		printStatus(e, o)
	}
	if err == nil && o.Status != "Running" && o.Status != "Completed" {
		return pipelineError{fmt.Errorf("pipeline %s is %s", o.WorkflowID, o.Status)}
	}
	return err
}

func printStatus(e *env, o statusOut) {
	w := e.stdout
	fmt.Fprintf(w, "%s %s: %s\n", o.Type, o.WorkflowID, o.Status)
	row := func(k, v string) {
		if v != "" && v != "0" {
			fmt.Fprintf(w, "  %-12s %s\n", k, v)
		}
	}
	row("model", o.Model)
	row("step", o.Step)
	row("version", strconv.Itoa(o.Version))
	if o.Offset != 0 {
		row("offset", strconv.FormatFloat(o.Offset, 'g', -1, 64))
	}
	row("model URI", o.ModelURI)
	row("alias URI", o.AliasURI)
	if o.AwaitingApproval {
		row("approval", fmt.Sprintf("awaiting, until %s: starter approve %s | starter reject %s --reason ...",
			o.ApprovalDeadline.UTC().Format(time.RFC3339), o.WorkflowID, o.WorkflowID))
	}
	printDecision(w, o.Outcome, o.Reason, o.Evidence, o.Approval)
	row("bytes moved", humanBytes(o.BytesMoved))
	row("started", o.Started.UTC().Format(time.RFC3339))
	if !o.Closed.IsZero() {
		row("took", o.Closed.Sub(o.Started).Round(100*time.Millisecond).String())
	}
	if o.Error != nil {
		row("error", o.Error.Type+": "+o.Error.Message)
	}
	for _, q := range o.Idle {
		row("waiting", q.Hint())
	}
	row("MLflow UI", o.MLflowURL)
	row("Temporal UI", o.TemporalURL)
}

func watchCmd(e *env, c *commonFlags) *cobra.Command {
	var timeout time.Duration
	cmd := command(watchUsage, "follow a running or finished pipeline", func(cmd *cobra.Command, args []string) error {
		return watch(cmd.Context(), e, c, args[0], timeout)
	})
	cmd.Args = args(1, 1, "WORKFLOW_ID")
	cmd.Flags().DurationVar(&timeout, "timeout", 30*time.Minute, "how long to wait for the result")
	return cmd
}

func watch(ctx context.Context, e *env, c *commonFlags, id string, timeout time.Duration) error {
	s, err := c.open(ctx, e)
	if err != nil {
		return err
	}
	defer s.Close()
	d, err := s.cl.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		return temporalError(err, "workflow %s", id)
	}
	if t := d.GetWorkflowExecutionInfo().GetType().GetName(); t != workflows.WorkflowName {
		return usageError{fmt.Sprintf("workflow %s is a %s, not a %s pipeline (use starter status)", id, t, workflows.WorkflowName)}
	}
	runID := d.GetWorkflowExecutionInfo().GetExecution().GetRunId()
	run := s.cl.GetWorkflow(ctx, id, runID)
	out := runResult{WorkflowID: id, RunID: runID, Status: "Running", TemporalURL: s.workflowURL(id, runID)}
	// On stderr in both formats: stdout stays one JSON document, and a
	// script (or a test) can tell the watch has found its pipeline.
	fmt.Fprintf(e.stderr, "watching %s (run %s)\n  %s\n", id, runID, out.TemporalURL)
	waitCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return finish(waitCtx, e, c.output, s.cl, run, out, timeout)
}

func listCmd(e *env, c *commonFlags) *cobra.Command {
	var f listFlags
	cmd := command(listUsage, "list pipelines by model, stage or status", func(cmd *cobra.Command, _ []string) error {
		return list(cmd.Context(), e, c, f)
	})
	cmd.Args = args(0, 0, "")
	fs := cmd.Flags()
	fs.StringVar(&f.model, "model", "", "only pipelines of this registered model")
	fs.StringVar(&f.stage, "stage", "", "only pipelines at this stage (e.g. promoted, failed)")
	fs.StringVar(&f.status, "status", "", "only pipelines in this execution status (Running, Completed, Failed, ...)")
	fs.StringVar(&f.raw, "query", "", "extra Temporal list filter, AND-ed with the others")
	fs.IntVar(&f.limit, "limit", 20, "at most this many pipelines")
	return cmd
}

type listFlags struct {
	model, stage, status, raw string
	limit                     int
}

func list(ctx context.Context, e *env, c *commonFlags, f listFlags) error {
	cfg, err := c.load(e)
	if err != nil {
		return err
	}
	if f.limit < 1 {
		return usageError{"--limit must be at least 1"}
	}
	query, exact := listQuery(f.model, f.stage, f.status, f.raw)
	s, err := c.connect(ctx, e, cfg)
	if err != nil {
		return err
	}
	defer s.Close()
	out := []statusOut{}
	var token []byte
	for len(out) < f.limit {
		resp, err := s.cl.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query, PageSize: int32(f.limit), NextPageToken: token})
		if err != nil {
			return temporalError(err, "list %q", query)
		}
		for _, info := range resp.GetExecutions() {
			if o := fromInfo(s, info); len(out) < f.limit && (!exact || o.Model == f.model) {
				out = append(out, o)
			}
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			break
		}
	}
	if c.output == "json" {
		return printJSON(e.stdout, out)
	}
	if len(out) == 0 {
		fmt.Fprintf(e.stdout, "No pipelines match %s\n", query)
		return nil
	}
	fmt.Fprintf(e.stdout, "%-44s %-10s %-16s %-17s %-7s %s\n", "WORKFLOW ID", "STATUS", "MODEL", "STAGE", "VERSION", "STARTED")
	for _, o := range out {
		v := "-"
		if o.Version > 0 {
			v = strconv.Itoa(o.Version)
		}
		fmt.Fprintf(e.stdout, "%-44s %-10s %-16s %-17s %-7s %s\n", o.WorkflowID, o.Status, o.Model, o.Step, v, o.Started.UTC().Format(time.RFC3339))
	}
	return nil
}

// listQuery builds the visibility query for list. exact says the results
// must still be filtered by model name: a Keyword value holding '"' matches
// no equality on the dev server's SQLite visibility (Temporal 1.32, however
// it is quoted), so such a name is looked up by the prefix before its first
// '"' and compared afterwards.
func listQuery(model, stage, status, raw string) (query string, exact bool) {
	q := []string{"WorkflowType = " + queryString(workflows.WorkflowName)}
	if model != "" {
		key := workflows.ModelNameKey.GetName()
		prefix, _, quoted := strings.Cut(model, `"`)
		switch {
		case !quoted:
			q = append(q, key+" = "+queryString(model))
		case prefix != "":
			q = append(q, key+" STARTS_WITH "+queryString(prefix))
		}
		exact = quoted
	}
	if stage != "" {
		q = append(q, workflows.StageKey.GetName()+" = "+queryString(stage))
	}
	if status != "" {
		q = append(q, "ExecutionStatus = "+queryString(status))
	}
	if raw != "" {
		q = append(q, "("+raw+")")
	}
	return strings.Join(q, " AND "), exact
}

// queryString quotes s as a string literal of Temporal's list filter: in
// double quotes, with backslash and double quote escaped by a backslash and
// everything else (spaces, ', Unicode) as it is: the filter's syntax, not
// Go's (%q writes \u and \x escapes for some runes).
func queryString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		if r == '"' || r == '\\' {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	b.WriteByte('"')
	return b.String()
}
