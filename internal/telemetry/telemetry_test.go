package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/internal/testrig/telemetrytest"
)

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestDisabledIsNoop(t *testing.T) {
	tel, err := Setup(context.Background(), "svc", Options{Getenv: env()})
	require.NoError(t, err)
	require.False(t, tel.Enabled())
	rt := http.DefaultTransport
	require.Same(t, rt.(*http.Transport), tel.WrapTransport(rt).(*http.Transport), "no wrapper when disabled")
	var opts client.Options
	tel.ConfigureClient(&opts)
	require.Empty(t, opts.Interceptors)
	require.Nil(t, opts.MetricsHandler)
	require.Nil(t, tel.WorkerInterceptors())
	require.Nil(t, tel.Metrics)
	tel.Metrics.AddBytes(context.Background(), Upload, 10) // nil-safe
	_, span := tel.Tracer().Start(context.Background(), "x")
	require.False(t, span.SpanContext().IsValid())
	require.NoError(t, tel.Shutdown(context.Background()))
	var nilTel *Telemetry
	require.False(t, nilTel.Enabled())
	nilTel.ConfigureClient(&opts)
}

// The otelhttp transport makes a client span under the caller's span and
// sends its traceparent: what MLflow receives from an activity.
func TestTransportPropagatesTraceparent(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tel, err := Setup(context.Background(), "svc", Options{Getenv: env(), SpanProcessors: []sdktrace.SpanProcessor{rec}})
	require.NoError(t, err)
	defer tel.Shutdown(context.Background())

	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("traceparent")
	}))
	defer srv.Close()

	ctx, parent := tel.Tracer().Start(context.Background(), "activity")
	hc := &http.Client{Transport: tel.WrapTransport(http.DefaultTransport)}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/api/2.0/mlflow/experiments/get", nil)
	resp, err := hc.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	parent.End()

	tp := <-got
	require.Contains(t, tp, parent.SpanContext().TraceID().String(), "traceparent carries the trace ID")
	var client *tracetestSpan
	for _, s := range rec.Ended() {
		if s.Parent().SpanID() == parent.SpanContext().SpanID() {
			client = &tracetestSpan{s.Name(), s.SpanContext().SpanID().String()}
		}
	}
	require.NotNil(t, client, "an HTTP client span under the caller's span")
	require.Contains(t, tp, client.spanID, "traceparent names the client span")
}

type tracetestSpan struct{ name, spanID string }

func TestLogHandlerAddsSpanIDs(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tel, err := Setup(context.Background(), "svc", Options{Getenv: env(), SpanProcessors: []sdktrace.SpanProcessor{rec}})
	require.NoError(t, err)
	defer tel.Shutdown(context.Background())

	var buf bytes.Buffer
	logger := slog.New(LogHandler(slog.NewJSONHandler(&buf, nil))).With("workflow_id", "wf")
	logger.InfoContext(context.Background(), "no span")
	ctx, span := tel.Tracer().Start(context.Background(), "op")
	logger.InfoContext(ctx, "in span")
	LoggerWithSpan(ctx, slog.New(slog.NewJSONHandler(&buf, nil))).Info("bound")
	span.End()

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 3)
	rec0, rec1, rec2 := decode(t, lines[0]), decode(t, lines[1]), decode(t, lines[2])
	require.NotContains(t, rec0, LogTraceID)
	require.Equal(t, "wf", rec1["workflow_id"])
	for _, r := range []map[string]any{rec1, rec2} {
		require.Equal(t, span.SpanContext().TraceID().String(), r[LogTraceID])
		require.Equal(t, span.SpanContext().SpanID().String(), r[LogSpanID])
	}
	require.Same(t, logger, LoggerWithSpan(context.Background(), logger), "no span: the logger as is")
}

func decode(t *testing.T, line string) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(line), &m), line)
	return m
}

func TestStdoutExport(t *testing.T) {
	var buf telemetrytest.SyncBuffer
	tel, err := Setup(context.Background(), "svc", Options{Getenv: env(EnvStdout, "1"), StdoutWriter: &buf})
	require.NoError(t, err)
	require.True(t, tel.Enabled())
	_, span := tel.Tracer().Start(context.Background(), "starter run")
	span.End()
	tel.Metrics.AddBytes(context.Background(), Upload, 42)
	require.NoError(t, tel.Shutdown(context.Background()))
	out := buf.String()
	require.Contains(t, out, `"Name":"starter run"`)
	require.Contains(t, out, MetricBytes)
	require.Contains(t, out, `"Value":"svc"`, "service.name is on the resource")
}

// A collector that refuses connections or never answers costs neither the
// caller's time nor an error: spans and metrics are recorded at memory
// speed and Shutdown returns within the export timeout.
func TestUnreachableCollectorDoesNotSlowDown(t *testing.T) {
	for name, endpoint := range map[string]func(testing.TB) string{"closed port": telemetrytest.ClosedEndpoint, "silent listener": telemetrytest.SilentEndpoint} {
		t.Run(name, func(t *testing.T) {
			const timeout = 300 * time.Millisecond
			tel, err := Setup(context.Background(), "svc", Options{Getenv: env(EnvOTLPEndpoint, endpoint(t)), ExportTimeout: timeout, MetricInterval: 50 * time.Millisecond})
			require.NoError(t, err)
			start := time.Now()
			for i := range 5000 {
				ctx, span := tel.Tracer().Start(context.Background(), "step")
				tel.Metrics.AddBytes(ctx, Download, int64(i))
				span.End()
			}
			require.Less(t, time.Since(start), 2*time.Second, "recording must not wait for the collector")
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			start = time.Now()
			_ = tel.Shutdown(ctx) // the export error is expected and only logged by mains
			require.Less(t, time.Since(start), 4*timeout+time.Second, "shutdown is bounded by the export timeout")
		})
	}
}

func TestStepMetrics(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	tel, err := Setup(context.Background(), "svc", Options{Getenv: env(), MetricReaders: []sdkmetric.Reader{reader}})
	require.NoError(t, err)
	defer tel.Shutdown(context.Background())
	ctx := context.Background()
	m := tel.Metrics
	m.step(ctx, "Train", 1, time.Second, nil)
	m.step(ctx, "LoadAndVerify", 2, time.Second, temporal.NewApplicationError("predicts 8", string(failure.VerificationFailed)))
	m.step(ctx, "LogModel", 3, time.Second, failure.New(failure.ChecksumMismatch, "bad"))
	m.step(ctx, "PromoteAlias", 1, time.Second, errors.New("other"))
	m.AddBytes(ctx, Upload, 100)
	m.AddBytes(ctx, Download, 40)
	m.AddBytes(ctx, Download, 2)

	got := collect(t, reader)
	require.Equal(t, map[string]int64{"direction=upload": 100, "direction=download": 42}, got[MetricBytes])
	require.Equal(t, map[string]int64{"step=LoadAndVerify": 1, "step=LogModel": 1}, got[MetricRetries])
	require.Equal(t, map[string]int64{"reason=VerificationFailed,step=LoadAndVerify": 1, "reason=ChecksumMismatch,step=LogModel": 1}, got[MetricVerificationFailures])
	require.Equal(t, map[string]int64{"outcome=ok,step=Train": 1, "outcome=error,step=LoadAndVerify": 1, "outcome=error,step=LogModel": 1, "outcome=error,step=PromoteAlias": 1}, got[MetricStepDuration])
}

// collect flattens sums (value) and histograms (count) by attribute set.
func collect(t *testing.T, r sdkmetric.Reader) map[string]map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, r.Collect(context.Background(), &rm))
	return telemetrytest.Flatten(rm)
}

func TestExportErrorsAreRateLimited(t *testing.T) {
	var buf telemetrytest.SyncBuffer
	h := &exportErrors{logger: slog.New(slog.NewTextHandler(&buf, nil)), interval: time.Hour}
	for range 100 {
		h.Handle(errors.New("connection refused"))
	}
	require.Equal(t, 1, strings.Count(buf.String(), "telemetry export failed"))
	h.last = time.Now().Add(-2 * time.Hour)
	h.Handle(errors.New("connection refused"))
	require.Contains(t, buf.String(), "errors_since_last_report=99")
}
