package activities

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/flavor"
	"github.com/flavorflow/flavorflow/internal/telemetry"
	"github.com/flavorflow/flavorflow/store"
)

// Activities carries the dependencies of every activity.
type Activities struct {
	Store store.Store
	// Experiment is the MLflow experiment runs and logged models go to.
	Experiment string
	// WorkDir holds model directories between activities.
	WorkDir string
	// UploadParallelism bounds concurrent file uploads (default 4).
	UploadParallelism int
	// HeartbeatEvery is how often long activities heartbeat (default 2 s).
	HeartbeatEvery time.Duration
	// StopGrace is how long an upload or download keeps going after its
	// worker starts stopping. Then it is cancelled and the activity fails
	// retryably while the worker can still say so, and the server retries
	// it at once elsewhere (resuming). Set it below the worker's stop
	// timeout; zero waits for that timeout, after which the failure is never
	// reported and the server only notices at the heartbeat timeout.
	StopGrace time.Duration
	Logger    *slog.Logger
	// Metrics records bytes moved (nil: not recorded).
	Metrics *telemetry.Metrics
	// Temporal is the client PromoteAlias reaches the alias keeper workflow
	// with (nil: the change is applied directly, unserialized; only for
	// in-process test environments, which have no server).
	Temporal client.Client
	// Flavors are the flavors and trainers this worker runs, built by its
	// main (nil: flavor.Builtin(), fakemodel and the tutorial's reader).
	Flavors *flavor.Registry
}

// registry returns the worker's flavors and trainers.
func (a *Activities) registry() *flavor.Registry {
	if a.Flavors == nil {
		return flavor.Builtin()
	}
	return a.Flavors
}

func (a *Activities) logger(ctx context.Context) *slog.Logger {
	l := a.Logger
	if l == nil {
		l = slog.Default()
	}
	if activity.IsActivity(ctx) {
		info := activity.GetInfo(ctx)
		l = l.With("workflow_id", info.WorkflowExecution.ID, "run_id", info.WorkflowExecution.RunID,
			"activity", info.ActivityType.Name, "attempt", info.Attempt)
	}
	return telemetry.LoggerWithSpan(ctx, l)
}

// workflowKey returns the workflow ID (the idempotency key) and run ID.
func workflowKey(ctx context.Context) (id, runID string) {
	if !activity.IsActivity(ctx) {
		return "local", "local"
	}
	info := activity.GetInfo(ctx)
	return info.WorkflowExecution.ID, info.WorkflowExecution.RunID
}

// workDir returns WorkDir/<sanitized workflow id>/<name>.
func (a *Activities) workDir(ctx context.Context, name string) string {
	id, _ := workflowKey(ctx)
	return filepath.Join(a.WorkDir, sanitize(id), name)
}

// sanitize turns a workflow ID into one safe path segment.
func sanitize(id string) string {
	var b strings.Builder
	for _, r := range id {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	s := b.String()
	if s == "" || s == "." || s == ".." {
		s = "_" + s
	}
	// A file name holds 255 bytes, and an ID up to 1,000 characters (one
	// for the longest model name, escaped by workflows.IDPart, is ~790);
	// and replacing characters by '_' can give two IDs one directory. Such
	// IDs keep a readable prefix and get a hash of the whole ID.
	if s != id || len(s) > maxDirSegment {
		sum := sha256.Sum256([]byte(id))
		s = s[:min(len(s), maxDirSegment-17)] + "-" + hex.EncodeToString(sum[:8])
	}
	return s
}

// maxDirSegment bounds a work directory's name, well under NAME_MAX.
const maxDirSegment = 128

func (a *Activities) heartbeatEvery() time.Duration {
	if a.HeartbeatEvery > 0 {
		return a.HeartbeatEvery
	}
	return 2 * time.Second
}

// keepAlive heartbeats every interval until the returned stop is called, so
// Temporal notices a dead worker within the heartbeat timeout even while a
// step makes no measurable progress.
func (a *Activities) keepAlive(ctx context.Context, progress func() any) (stop func()) {
	if !activity.IsActivity(ctx) {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(a.heartbeatEvery())
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				activity.RecordHeartbeat(ctx, progress())
			}
		}
	}()
	return func() { close(done) }
}

// errWorkerStopping is the cause of a context cancelled by untilStop.
var errWorkerStopping = errors.New("worker stopping")

// untilStop returns ctx cancelled StopGrace after the worker starts
// stopping, and handBack, which turns an error caused by that into a
// retryable Internal failure (so the activity is handed back, not lost).
func (a *Activities) untilStop(ctx context.Context) (context.Context, func(error) error, context.CancelFunc) {
	sub, cancel := context.WithCancelCause(ctx)
	handBack := func(err error) error {
		if err != nil && errors.Is(context.Cause(sub), errWorkerStopping) {
			return failure.Wrap(failure.Internal, err, "the worker is stopping; the activity is handed back to be retried")
		}
		return err
	}
	if a.StopGrace <= 0 || !activity.IsActivity(ctx) {
		return sub, handBack, func() { cancel(nil) }
	}
	go func() {
		select {
		case <-activity.GetWorkerStopChannel(ctx):
		case <-sub.Done():
			return
		}
		t := time.NewTimer(a.StopGrace)
		defer t.Stop()
		select {
		case <-t.C:
			cancel(errWorkerStopping)
		case <-sub.Done():
		}
	}()
	return sub, handBack, func() { cancel(nil) }
}

// run is the body of every activity method: it calls f, heartbeating with
// progress while it runs when progress is not "" (a step that makes no
// measurable progress must still tell a dead worker from a slow one), and
// returns f's error as toTemporal types it, so the failure code and its
// retryability reach Temporal the same way from every activity.
func run[I, O any](ctx context.Context, a *Activities, progress string, f func(context.Context, I) (O, error), in I) (O, error) {
	if progress != "" {
		stop := a.keepAlive(ctx, func() any { return progress })
		defer stop()
	}
	out, err := f(ctx, in)
	return out, toTemporal(err)
}

// toTemporal converts an error to an ApplicationError typed by its failure
// code and non-retryable when the code is.
func toTemporal(err error) error {
	if err == nil {
		return nil
	}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	code := failure.CodeOf(err)
	return temporal.NewApplicationErrorWithOptions(err.Error(), string(code), temporal.ApplicationErrorOptions{
		NonRetryable: !failure.Retryable(code),
	})
}

func removeAll(dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return failure.Wrap(failure.Internal, err, "remove %s", dir)
	}
	return nil
}
