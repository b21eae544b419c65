package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/workflows"
)

// Following a pipeline. Losing the connection to Temporal is not the
// pipeline's failure: the pipeline goes on without this command. run and
// watch keep waiting through an outage until --timeout, and then exit 3
// saying the pipeline is still running (or that Temporal is unreachable) and
// how to follow it; only the workflow's own outcome is "Failed" (exit 1).

const (
	// getAttempt bounds one wait for the result. The SDK retries a lost
	// connection only within one call's deadline (65 s for the long poll)
	// and then fails with "context deadline exceeded"; a fresh attempt
	// each minute follows through an outage of any length, and the SDK's
	// retry backoff, a tenth of the deadline, stays short, so the result
	// shows within seconds of Temporal coming back.
	getAttempt = 60 * time.Second
	// queryTimeout bounds one progress query, so a query stuck on an
	// unreachable server never delays the result.
	queryTimeout = 5 * time.Second
	// probeTimeout bounds a look at the pipeline: is Temporal there, and
	// after --timeout, is the pipeline still running.
	probeTimeout = 5 * time.Second
	// idleAfter is how long a step may stay unchanged before follow looks
	// for a task queue no worker polls: longer than a worker takes to pick
	// up a task, far shorter than a user waits before giving up.
	idleAfter = 10 * time.Second
)

// lookForIdleQueues is idleQueues for a followed run, bounded by
// probeTimeout; nil when Temporal does not answer (follow reports that).
func lookForIdleQueues(ctx context.Context, cl client.Client, run client.WorkflowRun) []idleQueue {
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	d, err := cl.DescribeWorkflowExecution(pctx, run.GetID(), run.GetRunID())
	if err != nil {
		return nil
	}
	idle, _ := idleQueues(pctx, cl, d)
	return idle
}

// isOutcome reports whether err from WorkflowRun.Get is the pipeline's own
// end (failed, canceled, terminated, timed out) or another answer that
// waiting longer cannot change (unknown workflow, undecodable result),
// rather than a lost connection.
func isOutcome(err error) bool {
	var (
		we  *temporal.WorkflowExecutionError
		nf  *serviceerror.NotFound
		nnf *serviceerror.NamespaceNotFound
		ia  *serviceerror.InvalidArgument
		pd  *serviceerror.PermissionDenied
	)
	return errors.As(err, &we) || errors.As(err, &nf) || errors.As(err, &nnf) || errors.As(err, &ia) || errors.As(err, &pd) ||
		errors.Is(err, converter.ErrUnableToDecode)
}

// waitResult waits for run's outcome until ctx ends, asking again after a
// lost connection. When an attempt ends without an outcome it looks whether
// Temporal answers (a minute of waiting on a healthy server is no news) and
// calls lost with the error when it does not. Any command that waits for a
// workflow can use it (T is its result type).
func waitResult[T any](ctx context.Context, cl client.Client, run client.WorkflowRun, attempt time.Duration, lost func(error)) (T, error) {
	backoff := 200 * time.Millisecond
	for {
		var r T
		start := time.Now()
		actx, cancel := context.WithTimeout(ctx, attempt)
		err := run.Get(actx, &r)
		cancel()
		switch {
		case err == nil, isOutcome(err):
			return r, err
		case ctx.Err() != nil:
			return r, ctx.Err()
		}
		pctx, cancel := context.WithTimeout(ctx, probeTimeout)
		_, perr := cl.DescribeWorkflowExecution(pctx, run.GetID(), run.GetRunID())
		cancel()
		switch {
		case perr == nil:
		case isOutcome(perr):
			return r, perr
		case ctx.Err() != nil:
			return r, ctx.Err()
		default:
			lost(perr)
		}
		// An attempt that failed at once (connection refused before the
		// SDK's retries) waits before the next; a long one does not.
		if time.Since(start) > min(time.Second, attempt/2) {
			backoff = 200 * time.Millisecond
			continue
		}
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// follow waits for the result, printing each step change from the progress
// query and, once per outage, that the connection to Temporal was lost.
func follow(ctx context.Context, e *env, cl client.Client, run client.WorkflowRun, show bool) (workflows.LifecycleResult, error) {
	type outcome struct {
		res workflows.LifecycleResult
		err error
	}
	done := make(chan outcome, 1)
	lostc := make(chan error, 1)
	go func() {
		r, err := waitResult[workflows.LifecycleResult](ctx, cl, run, getAttempt, func(err error) {
			select {
			case lostc <- err:
			default:
			}
		})
		done <- outcome{r, err}
	}()
	start := time.Now()
	shown := map[string]bool{}
	offline := false
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	// A step that does not change for idleAfter may wait on a queue no
	// worker polls; look then, and every idleAfter while it lasts.
	nextIdleLook := start.Add(idleAfter)
	hinted := map[string]bool{}
	for {
		select {
		case o := <-done:
			if show && o.err == nil {
				fmt.Fprintf(e.stderr, "  %-17s %6.1fs\n", "done", time.Since(start).Seconds())
			}
			return o.res, o.err
		case err := <-lostc:
			if show && !offline {
				fmt.Fprintf(e.stderr, "  %-17s %6.1fs  lost the connection to Temporal (%v); still following\n", "waiting", time.Since(start).Seconds(), err)
			}
			offline = true
		case <-tick.C:
			if time.Now().After(nextIdleLook) {
				// Also without show: a --json run waiting forever on a
				// missing worker says why on stderr, not on stdout.
				for _, q := range lookForIdleQueues(ctx, cl, run) {
					if !hinted[q.Queue] {
						hinted[q.Queue] = true
						fmt.Fprintf(e.stderr, "  %-17s %6.1fs  %s\n", "waiting", time.Since(start).Seconds(), q.Hint())
					}
				}
				nextIdleLook = time.Now().Add(idleAfter)
			}
			if !show {
				continue
			}
			qctx, cancel := context.WithTimeout(ctx, queryTimeout)
			v, err := cl.QueryWorkflow(qctx, run.GetID(), run.GetRunID(), workflows.ProgressQuery)
			cancel()
			if err != nil {
				continue
			}
			if offline {
				fmt.Fprintf(e.stderr, "  %-17s %6.1fs  connected to Temporal again\n", "waiting", time.Since(start).Seconds())
				offline = false
			}
			var p workflows.Progress
			if v.Get(&p) != nil {
				continue
			}
			// Steps that began and ended between two queries are listed too.
			for _, step := range append(p.StepsDone, p.Step) {
				if !shown[step] && step != "done" {
					shown[step] = true
					nextIdleLook = time.Now().Add(idleAfter)
					moved := ""
					if step == p.Step {
						moved = humanBytes(p.BytesMoved)
					}
					if step == workflows.StageAwaitingApproval && p.AwaitingApproval {
						id := run.GetID()
						moved = fmt.Sprintf("until %s: starter approve %s | starter reject %s --reason ...", p.ApprovalDeadline.UTC().Format(time.RFC3339), id, id)
					}
					fmt.Fprintf(e.stderr, "  %-17s %6.1fs  %s\n", step, time.Since(start).Seconds(), moved)
				}
			}
		}
	}
}

// finish follows run to its end and reports it as run does: the result
// (exit 0), the pipeline's failure (exit 1), or, when no outcome came
// within the timeout, that it goes on and how to watch it (exit 3).
func finish(ctx context.Context, e *env, output string, cl client.Client, run client.WorkflowRun, out runResult, timeout time.Duration) error {
	result, err := follow(ctx, e, cl, run, output == "text")
	if err != nil && !isOutcome(err) {
		// No outcome in time: look once more, with a fresh deadline (the
		// pipeline may have ended just now, or Temporal be back).
		pctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
		defer cancel()
		d, derr := cl.DescribeWorkflowExecution(pctx, run.GetID(), run.GetRunID())
		if derr == nil && statusName(d.GetWorkflowExecutionInfo().GetStatus()) != "Running" {
			var r workflows.LifecycleResult
			if gerr := run.Get(pctx, &r); gerr == nil || isOutcome(gerr) {
				result, err = r, gerr
			}
		}
		if err != nil && !isOutcome(err) {
			return stillRunning(ctx, e, output, out, timeout, derr)
		}
	}
	var nf *serviceerror.NotFound
	switch {
	case errors.As(err, &nf):
		return temporalError(err, "workflow %s", out.WorkflowID)
	case err != nil:
		out.Status, out.Error = "Failed", errorOf(err)
		_ = emitRun(e, output, out)
		return pipelineError{err}
	}
	out.Status, out.Result = "Completed", &result
	return emitRun(e, output, out)
}

// stillRunning reports a pipeline without an outcome yet: running when
// Temporal answered the last look (unreachable is nil), unknown when it did
// not. Either way the pipeline goes on and `starter watch ID` follows it.
func stillRunning(ctx context.Context, e *env, output string, out runResult, timeout time.Duration, unreachable error) error {
	why := fmt.Sprintf("no result within --timeout %s", timeout)
	if errors.Is(ctx.Err(), context.Canceled) {
		why = "interrupted"
	}
	out.Hint = "starter watch " + out.WorkflowID
	var msg string
	if unreachable == nil {
		out.Status = "Running"
		msg = fmt.Sprintf("Pipeline %s is still running (%s); it goes on: follow it with `%s`", out.WorkflowID, why, out.Hint)
	} else {
		out.Status = "Unknown"
		cause := temporalError(unreachable, "Temporal unreachable")
		out.Error = &errorOut{Type: string(failure.ServerUnavailable), Message: cause.Error()}
		msg = fmt.Sprintf("Pipeline %s: %s and Temporal is unreachable (%v); the pipeline goes on without this command: follow it with `%s` once Temporal is back",
			out.WorkflowID, why, unreachable, out.Hint)
	}
	if output == "json" {
		_ = printJSON(e.stdout, out)
	} else {
		fmt.Fprintf(e.stderr, "%s\n  Temporal UI  %s\n", msg, out.TemporalURL)
	}
	return pendingError{msg}
}
