package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/workflows"
)

// Exit codes.
const (
	exitOK          = 0
	exitFailed      = 1
	exitUsage       = 2
	exitUnreachable = 3
)

const rootLong = `starter: start and watch flavorflow model lifecycle pipelines

Exit codes: 0 ok, 1 pipeline failed, 2 bad usage or input, 3 server unreachable or no result yet (the pipeline goes on).`

// env is what commands write to and read the environment from.
type env struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	environ        func() []string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := dispatch(ctx, &env{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv, environ: os.Environ}, os.Args[1:])
	stop()
	os.Exit(code)
}

// dispatch runs the command line and returns the exit code.
func dispatch(ctx context.Context, e *env, args []string) int {
	out := &watchWriter{w: e.stdout}
	ce := *e
	ce.stdout = out
	c := &commonFlags{}
	root := newRoot(&ce, c)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err != nil && !c.ran {
		// Refused by the command line parser before any command ran: an
		// unknown command or flag, a bad flag value, a wrong number of
		// arguments.
		var ue usageError
		if !errors.As(err, &ue) {
			err = usageError{err.Error()}
		}
	}
	code := report(e, err)
	if code != exitOK && !out.wrote && c.output == "json" {
		// --output json: a failure the command did not report itself is
		// still a JSON document on stdout (the text stays on stderr).
		var ue usageError
		typ := string(failure.CodeOf(err))
		if errors.As(err, &ue) {
			typ = "Usage"
		}
		_ = printJSON(e.stdout, map[string]any{"error": errorOut{Type: typ, Message: err.Error()}, "exit_code": code})
	}
	return code
}

// newRoot builds the command tree. Flags every command takes (--config,
// --output/--json, --log-level and the settings --address, --namespace,
// --profile, --tracking-uri) are persistent flags of the root.
func newRoot(e *env, c *commonFlags) *cobra.Command {
	root := &cobra.Command{
		Use:           "starter",
		Short:         "start and watch flavorflow model lifecycle pipelines",
		Long:          rootLong,
		SilenceErrors: true, // report prints them, with the exit code
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			c.ran = true
			if cmd.DisableFlagParsing {
				return nil // the command parses its flags itself (predict)
			}
			return c.validate()
		},
		// No command: the help, and exit 2 (as before cobra).
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SetOut(e.stdout)
			_ = cmd.Help()
			return silentUsage{}
		},
	}
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usageError{fmt.Sprintf("%v (see %s --help)", err, cmd.CommandPath())}
	})
	c.register(root.PersistentFlags())
	root.AddCommand(
		runCmd(e, c), predictCmd(e, c), exportCmd(e, c), statusCmd(e, c), watchCmd(e, c), listCmd(e, c),
		aliasCmd(e, c, "promote", promoteUsage, false), aliasCmd(e, c, "rollback", rollbackUsage, true),
		verifyCmd(e, c), configCmd(e, c), scheduleCmd(e, c), devServerCmd(e, c),
		approvalCmd(e, c, approveUsage, "approve the promotion a pipeline is waiting for", workflows.ApproveUpdate),
		approvalCmd(e, c, rejectUsage, "reject the promotion a pipeline is waiting for", workflows.RejectUpdate),
		historyCmd(e, c),
	)
	return root
}

// command makes a cobra command from a usage text: its first line (after
// "starter ") is the usage line, the text up to "Example" the long help,
// the rest the examples.
func command(usage, short string, run func(cmd *cobra.Command, args []string) error) *cobra.Command {
	text := strings.TrimSpace(usage)
	first, rest, _ := strings.Cut(text, "\n")
	use := strings.TrimPrefix(first, "starter ")
	if sub, ok := strings.CutPrefix(use, "schedule "); ok && !strings.HasPrefix(sub, "COMMAND") {
		use = sub // a schedule subcommand: "create ..."
	}
	long, example := rest, ""
	if i := strings.Index(rest, "\nExample"); i >= 0 {
		long = rest[:i]
		example = rest[i:]
		if _, after, ok := strings.Cut(example, ":\n"); ok {
			example = after
		}
	}
	long = strings.TrimSpace(long)
	if long == "" {
		long = short
	}
	return &cobra.Command{Use: use, Short: short, Long: long, Example: strings.TrimRight(example, "\n"), RunE: run}
}

// args checks the number of positional arguments; too many or too few is a
// usage error naming the command.
func args(minArgs, maxArgs int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch n := len(args); {
		case n > maxArgs:
			return usageError{fmt.Sprintf("unexpected arguments %q (see %s --help)", args[maxArgs:], cmd.CommandPath())}
		case n < minArgs:
			return usageError{fmt.Sprintf("%s: missing %s (see %s --help)", cmd.Name(), names, cmd.CommandPath())}
		}
		return nil
	}
}

// watchWriter records whether anything was written.
type watchWriter struct {
	w     io.Writer
	wrote bool
}

func (w *watchWriter) Write(p []byte) (int, error) {
	w.wrote = w.wrote || len(p) > 0
	return w.w.Write(p)
}

// usageError marks bad command-line usage.
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

// silentUsage is exit 2 after the help was printed.
type silentUsage struct{}

func (silentUsage) Error() string { return "usage" }

// pipelineError marks a pipeline that ran and failed (already reported).
type pipelineError struct{ err error }

func (p pipelineError) Error() string { return p.err.Error() }

// pendingError marks a pipeline followed without an outcome: it goes on,
// and the command said so and how to watch it (already reported).
type pendingError struct{ msg string }

func (p pendingError) Error() string { return p.msg }

func report(e *env, err error) int {
	if err == nil {
		return exitOK
	}
	var ue usageError
	var pe pipelineError
	var pending pendingError
	var silent silentUsage
	switch {
	case errors.As(err, &pending):
		return exitUnreachable
	case errors.As(err, &silent):
		return exitUsage
	case errors.As(err, &ue):
		fmt.Fprintln(e.stderr, "starter:", ue.msg)
		return exitUsage
	case errors.As(err, &pe):
		return exitFailed
	}
	fmt.Fprintln(e.stderr, "starter:", err)
	switch code := failure.CodeOf(err); {
	case code == failure.ServerUnavailable:
		return exitUnreachable
	case code != failure.Internal && !failure.Retryable(code):
		return exitUsage
	}
	return exitFailed
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
