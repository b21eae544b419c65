package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/policy"
	"github.com/flavorflow/flavorflow/workflows"
)

const approveUsage = `
starter approve WORKFLOW_ID [--by NAME] [--reason TEXT]

Approves the promotion a pipeline is waiting for (a pipeline started with
--approval required, Stage awaiting-approval: see 'starter list --stage
awaiting-approval' and 'starter status ID' for its evidence). The pipeline
then promotes its version through the alias's keeper, which records who
approved it and why in the alias history. --by defaults to $USER.

Refused with exit 2: an unknown workflow ID (NotFound), a pipeline that is not
waiting for a decision, was already decided, or whose wait ran out
(NotAwaitingApproval).

Example:
  starter approve lifecycle-iris-1a2b3c4d --reason "offline eval reviewed"
`

const rejectUsage = `
starter reject WORKFLOW_ID --reason TEXT [--by NAME]

Rejects the promotion a pipeline is waiting for: the champion stays, and the
pipeline completes with outcome rejected and the reason, which also goes into
the alias history. A reason is required. --by defaults to $USER.

Refused with exit 2 as for approve.

Example:
  starter reject lifecycle-iris-1a2b3c4d --reason "holiday traffic; retry next week"
`

const historyUsage = `
starter history --model NAME [--alias ALIAS]

Prints the alias's history from its keeper workflow: every promotion and
rollback (who, from which version to which, when) and every decision not to
promote (kept-champion, rejected) with its reason, evidence and approver.
--alias defaults to pipeline.alias from the config.

Example:
  starter history --model iris --alias champion --output json
`

// approvalOut is what approve and reject print.
type approvalOut struct {
	WorkflowID  string             `json:"workflow_id"`
	Approval    workflows.Approval `json:"approval"`
	TemporalURL string             `json:"temporal_ui_url,omitempty"`
}

func approvalCmd(e *env, c *commonFlags, usage, short, update string) *cobra.Command {
	var by, reason string
	cmd := command(usage, short, func(cmd *cobra.Command, args []string) error {
		return decideApproval(cmd.Context(), e, c, args[0], update, by, reason)
	})
	cmd.Args = args(1, 1, "WORKFLOW_ID")
	cmd.Flags().StringVar(&by, "by", "", "who decides (default: $USER)")
	cmd.Flags().StringVar(&reason, "reason", "", "why (required to reject)")
	return cmd
}

// decideApproval sends the approve or reject update and prints the
// recorded decision. The pipeline's validator refuses what it cannot take
// (not waiting, already decided, a rejection without a reason) before
// anything is recorded; those refusals are exit 2.
func decideApproval(ctx context.Context, e *env, c *commonFlags, id, update, by, reason string) error {
	if by == "" {
		by = e.getenv("USER")
	}
	if strings.TrimSpace(by) == "" {
		return usageError{"--by is required (and $USER is not set)"}
	}
	if update == workflows.RejectUpdate && strings.TrimSpace(reason) == "" {
		return usageError{"--reason is required to reject"}
	}
	s, err := c.open(ctx, e)
	if err != nil {
		return err
	}
	defer s.Close()
	// The workflow must exist and be a pipeline; an update to an unknown ID
	// would otherwise wait for nothing.
	o, err := describe(ctx, s, id)
	if err != nil {
		return err
	}
	if o.Type != workflows.WorkflowName {
		return failure.New(failure.InvalidArgument, "%s is a %s workflow, not a pipeline", id, o.Type)
	}
	if o.Status != "Running" {
		return failure.New(failure.NotAwaitingApproval, "pipeline %s is %s, not awaiting approval", id, strings.ToLower(o.Status))
	}
	uctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	h, err := s.cl.UpdateWorkflow(uctx, client.UpdateWorkflowOptions{
		WorkflowID: id, UpdateName: update, Args: []any{workflows.ApprovalRequest{By: by, Reason: reason}},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	var a workflows.Approval
	if err == nil {
		err = h.Get(uctx, &a)
	}
	if err != nil {
		if t := workflows.ErrorType(err); t != "" {
			return failure.New(failure.Code(t), "%s", rootMessage(err))
		}
		// The pipeline may have finished between the describe above and the
		// update (another operator's decision, the wait running out): the
		// server then aborts the update. That is the pipeline no longer
		// waiting, not a lost pipeline.
		if now, derr := describe(ctx, s, id); derr == nil && now.Status != "Running" {
			return failure.New(failure.NotAwaitingApproval, "pipeline %s %s before this decision arrived (outcome %s), not awaiting approval",
				id, strings.ToLower(now.Status), orNone(now.Outcome))
		}
		return temporalError(err, "%s pipeline %s", update, id)
	}
	out := approvalOut{WorkflowID: id, Approval: a, TemporalURL: s.workflowURL(id, o.RunID)}
	if c.output == "json" {
		return printJSON(e.stdout, out)
	}
	fmt.Fprintf(e.stdout, "Pipeline %s: version %d %s by %s", id, a.Version, a.Decision, a.By)
	if a.Reason != "" {
		fmt.Fprintf(e.stdout, " (%s)", a.Reason)
	}
	fmt.Fprintf(e.stdout, "\n  follow it    starter watch %s\n  Temporal UI  %s\n", id, out.TemporalURL)
	return nil
}

func historyCmd(e *env, c *commonFlags) *cobra.Command {
	var model, alias string
	cmd := command(historyUsage, "print an alias's history: promotions, rollbacks and decisions not to promote", func(cmd *cobra.Command, _ []string) error {
		return aliasHistory(cmd.Context(), e, c, model, alias)
	})
	cmd.Args = args(0, 0, "")
	cmd.Flags().StringVar(&model, "model", "", "registered model name (required)")
	cmd.Flags().StringVar(&alias, "alias", "", "alias (default: pipeline.alias from the config)")
	return cmd
}

func aliasHistory(ctx context.Context, e *env, c *commonFlags, model, alias string) error {
	if model == "" {
		return usageError{"--model is required"}
	}
	s, err := c.open(ctx, e)
	if err != nil {
		return err
	}
	defer s.Close()
	if alias == "" {
		alias = s.cfg.Pipeline.Alias
	}
	id := workflows.AliasKeeperID(s.cfg.Temporal.TaskQueue, model, alias)
	v, err := s.cl.QueryWorkflow(ctx, id, "", workflows.AliasHistoryQuery)
	if err != nil {
		return temporalError(err, "alias %s of %s (keeper %s): nothing has changed it through flavorflow", alias, model, id)
	}
	var h workflows.AliasHistory
	if err := v.Get(&h); err != nil {
		return err
	}
	if c.output == "json" {
		return printJSON(e.stdout, h)
	}
	w := e.stdout
	fmt.Fprintf(w, "Alias %s of %s: %d events (keeper %s)\n", alias, model, len(h.Events), id)
	for _, ev := range h.Events {
		fmt.Fprintf(w, "%4d  %s  %-13s v%d", ev.Seq, ev.At.UTC().Format(time.RFC3339), ev.Outcome, ev.To)
		switch {
		case (ev.Outcome == "changed" || ev.Outcome == "unchanged") && ev.From == 0:
			fmt.Fprint(w, " (was unset)")
		case ev.Outcome == "changed" || ev.Outcome == "unchanged":
			fmt.Fprintf(w, " (was v%d)", ev.From)
		}
		fmt.Fprintf(w, "  by %s\n", ev.Requester)
		if ev.Reason != "" {
			fmt.Fprintf(w, "      why: %s\n", ev.Reason)
		}
		if ev.ApprovedBy != "" {
			fmt.Fprintf(w, "      approval: %s", ev.ApprovedBy)
			if ev.ApprovalReason != "" {
				fmt.Fprintf(w, " (%s)", ev.ApprovalReason)
			}
			fmt.Fprintln(w)
		}
		if ev.Error != "" {
			fmt.Fprintf(w, "      error: %s\n", ev.Error)
		}
	}
	return nil
}

// printDecision prints a pipeline's outcome, the policy's evidence and the
// operator's approval, as status and run show them.
func printDecision(w io.Writer, outcome, reason string, ev *policy.Evidence, a *workflows.Approval) {
	if outcome != "" {
		fmt.Fprintf(w, "  %-12s %s\n", "outcome", outcome)
	}
	if reason != "" {
		fmt.Fprintf(w, "  %-12s %s\n", "why", reason)
	}
	if ev != nil {
		fmt.Fprintf(w, "  %-12s v%d %s", "evaluation", ev.Challenger, scores(ev.ChallengerScores))
		if ev.ChampionScores != nil {
			fmt.Fprintf(w, " | champion v%d %s", ev.Champion, scores(*ev.ChampionScores))
		}
		fmt.Fprintf(w, " (%d held-out rows: %s)\n", ev.ChallengerScores.N, ev.HeldOut)
	}
	if a != nil {
		fmt.Fprintf(w, "  %-12s %s by %s", "approval", a.Decision, a.By)
		if a.Reason != "" {
			fmt.Fprintf(w, ": %s", a.Reason)
		}
		fmt.Fprintln(w)
	}
}

func scores(s policy.Scores) string {
	return fmt.Sprintf("mse %.4g mae %.4g r2 %.4g", s.MSE, s.MAE, s.R2)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
