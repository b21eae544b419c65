package tests

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/flavorflow/flavorflow/activities"
	"github.com/flavorflow/flavorflow/internal/app"
	"github.com/flavorflow/flavorflow/internal/telemetry"
	"github.com/flavorflow/flavorflow/internal/testrig/faultstore"
	"github.com/flavorflow/flavorflow/internal/testrig/telemetrytest"
	"github.com/flavorflow/flavorflow/internal/testrig/testenv"
	"github.com/flavorflow/flavorflow/workflows"
)

// lifecycleActivities are the activity types of one pipeline with an alias.
var lifecycleActivities = []string{"Train", "SaveModel", "LogModel", "RegisterModel", "ReadAlias", "LoadAndVerify", "PromoteAlias"}

// tracedPipeline is a dev-server client and worker set up the way the
// starter and worker mains do it.
type tracedPipeline struct {
	client client.Client
	queue  string
	tel    *telemetry.Telemetry
}

func newTracedPipeline(t *testing.T, tp *testenv.Temporal, tel *telemetry.Telemetry, queue string, acts *activities.Activities) *tracedPipeline {
	t.Helper()
	opts := client.Options{HostPort: tp.HostPort}
	tel.ConfigureClient(&opts)
	c, err := client.Dial(opts)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	acts.Metrics = tel.Metrics
	w := worker.New(c, queue, worker.Options{Interceptors: tel.WorkerInterceptors()})
	workflows.Register(w)
	w.RegisterActivity(acts)
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)
	return &tracedPipeline{client: c, queue: queue, tel: tel}
}

// run is what `starter run` does: a root span, then the workflow.
func (p *tracedPipeline) run(ctx context.Context, t *testing.T, id, model string) (trace.SpanContext, client.WorkflowRun, workflows.LifecycleResult) {
	t.Helper()
	ctx, root := p.tel.Tracer().Start(ctx, "starter run")
	defer root.End()
	run, err := p.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: p.queue}, workflows.WorkflowName, tutorialRequest(model))
	require.NoError(t, err)
	var res workflows.LifecycleResult
	require.NoError(t, run.Get(ctx, &res))
	return root.SpanContext(), run, res
}

// headerProxy is a loopback reverse proxy in front of the MLflow server
// that records the traceparent of every request.
type headerProxy struct {
	*httptest.Server
	mu      sync.Mutex
	headers []string // "METHOD path traceparent"
}

func newHeaderProxy(t *testing.T, target string) *headerProxy {
	t.Helper()
	u, err := url.Parse(target)
	require.NoError(t, err)
	rp := httputil.NewSingleHostReverseProxy(u)
	p := &headerProxy{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.headers = append(p.headers, r.Method+" "+r.URL.Path+" "+r.Header.Get("traceparent"))
		p.mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *headerProxy) seen() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.headers...)
}

// One trace from the starter's span through the workflow, every activity
// and the MLflow REST calls, with traceparent reaching the MLflow server;
// flavorflow's and Temporal's metrics recorded; logs stamped with the trace.
func TestTraceFromStarterToMLflow(t *testing.T) {
	t.Parallel() // own dev server; distinct model names on the shared MLflow
	tp := testenv.StartTemporal(t, testenv.TemporalOptions{})
	ml := testenv.SharedMLflow(t, testenv.MLflowOptions{})
	proxy := newHeaderProxy(t, ml.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	rec := tracetest.NewSpanRecorder()
	reader := sdkmetric.NewManualReader()
	tel, err := telemetry.Setup(ctx, "flavorflow-test", telemetry.Options{Getenv: noEnv,
		SpanProcessors: []sdktrace.SpanProcessor{rec}, MetricReaders: []sdkmetric.Reader{reader}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })

	var logs telemetrytest.SyncBuffer
	logger := slog.New(telemetry.LogHandler(slog.NewJSONHandler(&logs, nil)))
	st, err := app.OpenStore(ctx, proxy.URL, logger, app.WithTransport(tel.WrapTransport))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	// One lost answer on SetAlias: PromoteAlias runs a second attempt.
	faults := faultstore.New(st)
	faults.FailAfterCommit("SetAlias", 1)
	p := newTracedPipeline(t, tp, tel, "otel", &activities.Activities{
		Store: faults, Experiment: experiment, WorkDir: filepath.Join(t.TempDir(), "work"), UploadParallelism: 2, Logger: logger,
	})

	root, _, res := p.run(ctx, t, "otel-trace", "otel-model")
	require.Equal(t, 1, res.Version)
	traceID := root.TraceID()

	// The workflow span ends with the workflow task that completes it.
	var spans []sdktrace.ReadOnlySpan
	require.Eventually(t, func() bool {
		spans = rec.Ended()
		return findSpan(spans, "RunWorkflow:"+workflows.WorkflowName) != nil
	}, 10*time.Second, 50*time.Millisecond)

	byID := map[trace.SpanID]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		byID[s.SpanContext().SpanID()] = s
		if isTemporalSpan(s.Name()) {
			require.Equal(t, traceID, s.SpanContext().TraceID(), "span %s is not in the starter's trace", s.Name())
		}
	}
	parentName := func(s sdktrace.ReadOnlySpan) string {
		if s.Parent().SpanID() == root.SpanID() {
			return "starter run"
		}
		if p, ok := byID[s.Parent().SpanID()]; ok {
			return p.Name()
		}
		return "?"
	}
	start := findSpan(spans, "StartWorkflow:"+workflows.WorkflowName)
	require.NotNil(t, start)
	require.Equal(t, "starter run", parentName(start))
	require.Equal(t, start.Name(), parentName(findSpan(spans, "RunWorkflow:"+workflows.WorkflowName)))
	for _, a := range lifecycleActivities {
		s := findSpan(spans, "StartActivity:"+a)
		require.NotNil(t, s, "no StartActivity span for %s", a)
		require.Equal(t, "RunWorkflow:"+workflows.WorkflowName, parentName(s))
		r := findSpan(spans, "RunActivity:"+a)
		require.NotNil(t, r, "no RunActivity span for %s", a)
		require.Equal(t, s.Name(), parentName(r))
	}
	require.Equal(t, 2, countSpans(spans, "RunActivity:PromoteAlias"), "the retried attempt has its own span")

	// MLflow HTTP client spans under activity spans, in the same trace.
	httpUnder := map[string]int{}
	clientSpans := map[string]bool{}
	for _, s := range spans {
		if s.SpanKind() == trace.SpanKindClient && !isTemporalSpan(s.Name()) {
			require.Equal(t, traceID, s.SpanContext().TraceID())
			httpUnder[parentName(s)]++
			clientSpans[s.SpanContext().SpanID().String()] = true
		}
	}
	t.Logf("HTTP client spans by parent: %v", httpUnder)
	for _, a := range []string{"LogModel", "RegisterModel", "LoadAndVerify", "PromoteAlias"} {
		require.Positive(t, httpUnder["RunActivity:"+a], "no MLflow HTTP span under %s", a)
	}

	// The MLflow server received traceparent on every request, each naming
	// the trace and a recorded HTTP client span.
	seen := proxy.seen()
	require.NotEmpty(t, seen)
	for _, h := range seen {
		f := strings.Fields(h)
		require.Len(t, f, 3, "request without traceparent: %s", h)
		tpv := strings.Split(f[2], "-") // version-traceid-spanid-flags
		require.Len(t, tpv, 4, h)
		require.Equal(t, traceID.String(), tpv[1], h)
		require.True(t, clientSpans[tpv[2]], "traceparent of %s names no recorded client span", h)
	}

	// Metrics: bytes both ways, every step timed, the retry counted, and
	// Temporal's own SDK metrics.
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(ctx, &rm))
	m := telemetrytest.Flatten(rm)
	require.Positive(t, m[telemetry.MetricBytes]["direction=upload"])
	require.Positive(t, m[telemetry.MetricBytes]["direction=download"])
	for _, a := range lifecycleActivities {
		require.Positive(t, m[telemetry.MetricStepDuration]["outcome=ok,step="+a], "step %s not timed: %v", a, m[telemetry.MetricStepDuration])
	}
	require.Equal(t, int64(1), m[telemetry.MetricStepDuration]["outcome=error,step=PromoteAlias"])
	require.Equal(t, map[string]int64{"step=PromoteAlias": 1}, m[telemetry.MetricRetries])
	require.Empty(t, m[telemetry.MetricVerificationFailures])
	temporalMetrics := 0
	for name := range m {
		if strings.HasPrefix(name, "temporal_") {
			temporalMetrics++
		}
	}
	require.Positive(t, temporalMetrics, "no Temporal SDK metrics in %v", keys(m))

	// Activity logs carry the trace.
	found := false
	for line := range strings.SplitSeq(strings.TrimSpace(logs.String()), "\n") {
		var r map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &r), line)
		if r["msg"] == "logged model" {
			found = true
			require.Equal(t, traceID.String(), r[telemetry.LogTraceID], line)
			require.NotEmpty(t, r[telemetry.LogSpanID], line)
			require.Equal(t, "otel-trace", r["workflow_id"], line)
		}
	}
	require.True(t, found, "no 'logged model' record in\n%s", logs.String())
}

// A collector that refuses connections or accepts and never answers must
// not slow a pipeline down: with a 10 s export timeout each still runs
// within 5 s of one without telemetry, and the flush at exit is bounded.
func TestDeadCollectorDoesNotSlowPipeline(t *testing.T) {
	t.Parallel() // own dev server; distinct model names on the shared MLflow
	tp := testenv.StartTemporal(t, testenv.TemporalOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	timed := func(name, endpoint string) time.Duration {
		tel, err := telemetry.Setup(ctx, "flavorflow-test", telemetry.Options{Getenv: func(k string) string {
			if k == telemetry.EnvOTLPEndpoint {
				return endpoint
			}
			return ""
		}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			// Far above the allowed slack: a pipeline that waited for even one
			// export would miss the bound below, however loaded the machine.
			ExportTimeout: 10 * time.Second})
		require.NoError(t, err)
		require.Equal(t, endpoint != "", tel.Enabled())
		r := newRig(t)
		p := newTracedPipeline(t, tp, tel, "dead-"+name, r.acts)
		begin := time.Now()
		_, _, res := p.run(ctx, t, "dead-collector-"+name, "dead-"+name)
		took := time.Since(begin)
		require.Equal(t, 1, res.Version)
		begin = time.Now()
		telemetry.ShutdownWithin(tel, 5*time.Second, nil)
		require.Less(t, time.Since(begin), 5*time.Second+500*time.Millisecond, "%s: shutdown must be bounded", name)
		t.Logf("%s: pipeline %s", name, took.Round(time.Millisecond))
		return took
	}
	base := timed("off", "")
	for name, ep := range map[string]string{"closed": telemetrytest.ClosedEndpoint(t), "silent": telemetrytest.SilentEndpoint(t)} {
		took := timed(name, ep)
		require.Less(t, took, base+5*time.Second, "%s collector slowed the pipeline: %s vs %s", name, took, base)
	}
}

func noEnv(string) string { return "" }

func isTemporalSpan(name string) bool {
	for _, p := range []string{"StartWorkflow:", "RunWorkflow:", "StartActivity:", "RunActivity:"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

func findSpan(spans []sdktrace.ReadOnlySpan, name string) sdktrace.ReadOnlySpan {
	for _, s := range spans {
		if s.Name() == name {
			return s
		}
	}
	return nil
}

func countSpans(spans []sdktrace.ReadOnlySpan, name string) int {
	n := 0
	for _, s := range spans {
		if s.Name() == name {
			n++
		}
	}
	return n
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
