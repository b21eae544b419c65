package telemetry

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"

	"github.com/flavorflow/flavorflow/failure"
)

// flavorflow's own instruments.
const (
	MetricBytes                = "flavorflow.bytes"                 // counter, By; attribute direction=upload|download
	MetricStepDuration         = "flavorflow.step.duration"         // histogram, s; attributes step, outcome=ok|error
	MetricVerificationFailures = "flavorflow.verification.failures" // counter; attributes step, reason (failure type)
	MetricRetries              = "flavorflow.activity.retries"      // counter: attempts after the first; attribute step
)

// Directions for AddBytes.
const (
	Upload   = "upload"
	Download = "download"
)

// Metrics records flavorflow's metrics. A nil *Metrics records nothing.
type Metrics struct {
	bytes        metric.Int64Counter
	stepDuration metric.Float64Histogram
	verifyFailed metric.Int64Counter
	retries      metric.Int64Counter
}

func newMetrics(m metric.Meter) (*Metrics, error) {
	var x Metrics
	var errs [4]error
	x.bytes, errs[0] = m.Int64Counter(MetricBytes, metric.WithUnit("By"),
		metric.WithDescription("Model bytes moved between the worker and the store"))
	x.stepDuration, errs[1] = m.Float64Histogram(MetricStepDuration, metric.WithUnit("s"),
		metric.WithDescription("Duration of one pipeline step (activity attempt)"))
	x.verifyFailed, errs[2] = m.Int64Counter(MetricVerificationFailures,
		metric.WithDescription("Steps failed by a checksum or prediction mismatch"))
	x.retries, errs[3] = m.Int64Counter(MetricRetries,
		metric.WithDescription("Activity attempts after the first"))
	if err := errors.Join(errs[:]...); err != nil {
		return nil, err
	}
	return &x, nil
}

// AddBytes counts n bytes moved in direction (Upload or Download).
func (m *Metrics) AddBytes(ctx context.Context, direction string, n int64) {
	if m == nil || n <= 0 {
		return
	}
	m.bytes.Add(ctx, n, metric.WithAttributes(attribute.String("direction", direction)))
}

// step records one finished activity attempt.
func (m *Metrics) step(ctx context.Context, step string, attempt int32, took time.Duration, err error) {
	if m == nil {
		return
	}
	stepAttr := attribute.String("step", step)
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	m.stepDuration.Record(ctx, took.Seconds(), metric.WithAttributes(stepAttr, attribute.String("outcome", outcome)))
	if attempt > 1 {
		m.retries.Add(ctx, 1, metric.WithAttributes(stepAttr))
	}
	if reason := verificationFailure(err); reason != "" {
		m.verifyFailed.Add(ctx, 1, metric.WithAttributes(stepAttr, attribute.String("reason", reason)))
	}
}

// verificationFailure is the failure type when err is a checksum or
// prediction mismatch, "" otherwise. Activities return ApplicationErrors
// typed by failure code.
func verificationFailure(err error) string {
	if err == nil {
		return ""
	}
	code := failure.CodeOf(err)
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		code = failure.Code(app.Type())
	}
	if code == failure.ChecksumMismatch || code == failure.VerificationFailed {
		return string(code)
	}
	return ""
}

// activityMetrics times every activity attempt.
type activityMetrics struct {
	interceptor.WorkerInterceptorBase
	m *Metrics
}

func (w *activityMetrics) InterceptActivity(ctx context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	i := &activityInbound{m: w.m}
	i.Next = next
	return i
}

type activityInbound struct {
	interceptor.ActivityInboundInterceptorBase
	m *Metrics
}

func (i *activityInbound) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	info := activity.GetInfo(ctx)
	start := time.Now()
	res, err := i.Next.ExecuteActivity(ctx, in)
	i.m.step(ctx, info.ActivityType.Name, info.Attempt, time.Since(start), err)
	return res, err
}
