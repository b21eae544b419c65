package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/temporal"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/store"
	"github.com/flavorflow/flavorflow/workflows"
)

const promoteUsage = `
starter promote --model NAME --alias ALIAS --version N

Moves ALIAS to version N through Temporal: every change of one alias goes
through its keeper workflow (ID alias-MODEL@ALIAS), which applies them one at
a time and keeps their history. The version must exist and have passed
verification, and aliases move forward only. A version that does not exist (NotFound), failed or skipped
verification (VerificationFailed) or is older than the alias (AliasConflict;
use rollback) is exit 2 and the alias does not move.

Examples:
  starter promote --model iris --alias champion --version 4
  starter promote --model iris --alias canary --version 5 --output json
`

const rollbackUsage = `
starter rollback --model NAME --alias ALIAS --version N

Moves ALIAS back to an earlier verified version N (the forward-only rule is
waived: an operator's decision). Same checks and exit codes as promote.

Example:
  starter rollback --model iris --alias champion --version 3
`

type aliasOut struct {
	WorkflowID  string    `json:"workflow_id"`
	Model       string    `json:"model"`
	Alias       string    `json:"alias"`
	Version     int       `json:"version"`
	Previous    int       `json:"previous_version"`
	Changed     bool      `json:"changed"`
	Rollback    bool      `json:"rollback,omitempty"`
	AliasURI    string    `json:"alias_uri,omitempty"`
	MLflowURL   string    `json:"mlflow_ui_url,omitempty"`
	TemporalURL string    `json:"temporal_ui_url"`
	Error       *errorOut `json:"error,omitempty"`
}

// aliasCmd is promote (rollback false) or rollback.
func aliasCmd(e *env, c *commonFlags, name, usage string, rollback bool) *cobra.Command {
	short := "move an alias forward to a verified version (through Temporal)"
	if rollback {
		short = "move an alias back to an earlier verified version"
	}
	var f aliasFlags
	cmd := command(usage, short, func(cmd *cobra.Command, _ []string) error {
		return aliasChange(cmd.Context(), e, c, cmd, name, rollback, f)
	})
	cmd.Args = args(0, 0, "")
	fs := cmd.Flags()
	fs.StringVar(&f.model, "model", "", "registered model name (required)")
	fs.StringVar(&f.alias, "alias", "", "alias to move (required)")
	fs.IntVar(&f.version, "version", 0, "version to point the alias at (required)")
	fs.DurationVar(&f.timeout, "timeout", 5*time.Minute, "how long to wait")
	return cmd
}

type aliasFlags struct {
	model, alias string
	version      int
	timeout      time.Duration
}

func aliasChange(ctx context.Context, e *env, c *commonFlags, cmd *cobra.Command, name string, rollback bool, f aliasFlags) error {
	model, alias, version, timeout := &f.model, &f.alias, &f.version, &f.timeout
	if err := requireFlags(cmd, "model", "alias", "version"); err != nil {
		return err
	}
	cfg, err := c.load(e)
	if err != nil {
		return err
	}
	if err := store.ValidateModelName(*model); err != nil {
		return err
	}
	if err := store.ValidateAlias(*alias); err != nil {
		return err
	}
	if *version < 1 {
		return usageError{fmt.Sprintf("--version %d: versions start at 1", *version)}
	}
	s, err := c.connect(ctx, e, cfg)
	if err != nil {
		return err
	}
	defer s.Close()
	req := workflows.AliasChangeRequest{ModelName: *model, Alias: *alias, Version: *version, Rollback: rollback, Requester: "starter " + name}
	// Every command is a new change (the alias may have moved since the
	// last one), so the update ID is unique per invocation.
	updateID := fmt.Sprintf("%s-%s", name, rand.Text())
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	res, id, runID, err := workflows.ChangeAlias(ctx, s.cl, cfg.Temporal.TaskQueue, updateID, req)
	out := aliasOut{WorkflowID: id, Model: *model, Alias: *alias, Version: *version, Rollback: rollback,
		TemporalURL: s.workflowURL(id, runID)}
	if err != nil {
		var app *temporal.ApplicationError
		if !errors.As(err, &app) && ctx.Err() == nil {
			return temporalError(err, "%s through %s on %s", name, id, s.opts.HostPort)
		}
		out.Error = errorOf(err)
		if c.output == "json" {
			_ = printJSON(e.stdout, out)
		}
		if ctx.Err() != nil {
			// No answer is not a refusal: the change may be queued in the
			// keeper, and it is applied when its turn comes.
			return failure.New(failure.ServerUnavailable, "%s %s@%s to version %d: no answer within --timeout %s (%s); the change may still be applied by %s\n  Temporal UI  %s",
				name, *model, *alias, *version, *timeout, out.Error.Message, id, out.TemporalURL)
		}
		return failure.New(failure.Code(out.Error.Type), "%s %s@%s to version %d: %s\n  Temporal UI  %s", name, *model, *alias, *version, out.Error.Message, out.TemporalURL)
	}
	out.Previous, out.Changed, out.AliasURI = res.Previous, res.Changed, res.AliasURI
	out.MLflowURL = mlflowURL(cfg.Store.TrackingURI, *model, *version)
	if c.output == "json" {
		return printJSON(e.stdout, out)
	}
	w := e.stdout
	switch {
	case !res.Changed:
		fmt.Fprintf(w, "Alias %s of %s already points at version %d\n", *alias, *model, *version)
	case res.Previous == 0:
		fmt.Fprintf(w, "Alias %s of %s now points at version %d (was unset)\n", *alias, *model, *version)
	default:
		fmt.Fprintf(w, "Alias %s of %s now points at version %d (was version %d)\n", *alias, *model, *version, res.Previous)
	}
	fmt.Fprintf(w, "  alias URI    %s\n", res.AliasURI)
	if out.MLflowURL != "" {
		fmt.Fprintf(w, "  MLflow UI    %s\n", out.MLflowURL)
	}
	fmt.Fprintf(w, "  Temporal UI  %s\n", out.TemporalURL)
	return nil
}

// requireFlags is a usage error naming the first required flag not given.
func requireFlags(cmd *cobra.Command, names ...string) error {
	for _, n := range names {
		if !cmd.Flags().Changed(n) {
			return usageError{fmt.Sprintf("--%s is required (see %s --help)", n, cmd.CommandPath())}
		}
	}
	return nil
}
