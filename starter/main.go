package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/flavorflow/flavorflow/failure"
)

// Exit codes.
const (
	exitOK          = 0
	exitFailed      = 1
	exitUsage       = 2
	exitUnreachable = 3
)

type command struct {
	summary string
	usage   string
	run     func(ctx context.Context, e *env, args []string) error
}

var commands = map[string]command{
	"run":            {"start a model lifecycle pipeline and follow it", runUsage, cmdRun},
	"predict":        {"load a model by URI and print predictions", predictUsage, cmdPredict},
	"export":         {"copy a model version from the embedded store to an MLflow server", exportUsage, cmdExport},
	"status":         {"show a pipeline's status, step, version and URIs", statusUsage, cmdStatus},
	"watch":          {"follow a running or finished pipeline", watchUsage, cmdWatch},
	"list":           {"list pipelines by model, stage or status", listUsage, cmdList},
	"promote":        {"move an alias forward to a verified version (through Temporal)", promoteUsage, cmdPromote},
	"rollback":       {"move an alias back to an earlier verified version", rollbackUsage, cmdRollback},
	"verify":         {"verify a version registered elsewhere (records its manifest) so it can be promoted", verifyUsage, cmdVerify},
	"config":         {"print the effective settings (flags > env > envconfig profile > temporal-dev.yml)", configUsage, cmdConfig},
	"schedule":       {"scheduled retraining: create, list, describe, pause, unpause, trigger, backfill, delete", scheduleUsage, cmdSchedule},
	"devserver-args": {"print the temporal arguments that start the configured dev server", devServerUsage, cmdDevServerArgs},
}

// env is what commands write to.
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

func dispatch(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printHelp(e.stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(e.stderr, "starter: unknown command %q\n\n", args[0])
		printHelp(e.stderr)
		return exitUsage
	}
	out := &watchWriter{w: e.stdout}
	ce := *e
	ce.stdout = out
	err := cmd.run(ctx, &ce, args[1:])
	code := report(e, err)
	if code != exitOK && !out.wrote && wantsJSON(args) {
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

// watchWriter records whether anything was written.
type watchWriter struct {
	w     io.Writer
	wrote bool
}

func (w *watchWriter) Write(p []byte) (int, error) {
	w.wrote = w.wrote || len(p) > 0
	return w.w.Write(p)
}

// wantsJSON reports whether the command line asks for --output json.
func wantsJSON(args []string) bool {
	for i, a := range args {
		a = strings.TrimLeft(a, "-")
		if a == "output=json" || a == "output" && i+1 < len(args) && args[i+1] == "json" {
			return true
		}
	}
	return false
}

// usageError marks bad command-line usage.
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

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
	switch {
	case errors.As(err, &pending):
		return exitUnreachable
	case errors.Is(err, flag.ErrHelp):
		return exitOK
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

func printHelp(w io.Writer) {
	fmt.Fprintln(w, "starter: start and watch flavorflow model lifecycle pipelines")
	fmt.Fprintln(w, "\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-15s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'starter COMMAND --help' for a command's flags and examples.")
	fmt.Fprintln(w, "Exit codes: 0 ok, 1 pipeline failed, 2 bad usage or input, 3 server unreachable or no result yet (the pipeline goes on).")
}

// newFlags returns a flag set whose usage prints the command's usage text.
func newFlags(e *env, name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, strings.TrimSpace(usage))
		fmt.Fprintln(e.stderr, "\nFlags:")
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags, turning errors into usage errors.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	return nil
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
