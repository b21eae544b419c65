package telemetry

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutmetric"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"go.temporal.io/sdk/client"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
	"go.temporal.io/sdk/interceptor"
)

// Environment variables Setup reads (through Options.Getenv).
const (
	EnvOTLPEndpoint = "OTEL_EXPORTER_OTLP_ENDPOINT" // base URL, e.g. http://collector:4318
	EnvStdout       = "FLAVORFLOW_OTEL_STDOUT"      // "1": spans and metrics as JSON lines
)

// ScopeName names flavorflow's tracer and meter.
const ScopeName = "github.com/flavorflow/flavorflow"

// Defaults for the exporters: short, so an unreachable collector costs at
// most ExportTimeout per batch in a background goroutine, and at most that
// at Shutdown.
const (
	DefaultExportTimeout  = 2 * time.Second
	DefaultBatchTimeout   = 1 * time.Second
	DefaultMetricInterval = 15 * time.Second
)

// Options configure Setup. The zero value reads the process environment.
type Options struct {
	// Getenv reads EnvOTLPEndpoint and EnvStdout (default os.Getenv).
	Getenv func(string) string
	// OTLPEndpoint overrides OTEL_EXPORTER_OTLP_ENDPOINT (base URL; the
	// exporters add /v1/traces and /v1/metrics).
	OTLPEndpoint string
	// Stdout exports to StdoutWriter as well (FLAVORFLOW_OTEL_STDOUT=1).
	Stdout bool
	// StdoutWriter receives stdout export (default os.Stdout; the starter
	// uses stderr so its own output stays parseable).
	StdoutWriter io.Writer
	// ExportTimeout bounds one export (default DefaultExportTimeout).
	ExportTimeout time.Duration
	// MetricInterval is the metric export period (default DefaultMetricInterval).
	MetricInterval time.Duration
	// Logger receives export errors, at most one a minute (default
	// slog.Default()).
	Logger *slog.Logger
	// SpanProcessors and MetricReaders are added as given (tests record
	// spans with tracetest.NewSpanRecorder and metrics with a ManualReader);
	// any of them enables telemetry.
	SpanProcessors []sdktrace.SpanProcessor
	MetricReaders  []sdkmetric.Reader
}

// Telemetry holds the providers and what the mains plug into Temporal and
// the HTTP client. A disabled Telemetry (no exporter configured) is valid:
// every method is then a no-op. Methods are nil-safe.
type Telemetry struct {
	// TracerProvider and MeterProvider are nil when disabled.
	TracerProvider *sdktrace.TracerProvider
	MeterProvider  *sdkmetric.MeterProvider
	// Interceptor is the Temporal tracing interceptor (nil when disabled).
	Interceptor interceptor.Interceptor
	// MetricsHandler reports Temporal SDK metrics (nil when disabled).
	MetricsHandler client.MetricsHandler
	// Metrics records flavorflow's own metrics (nil when disabled; its
	// methods are nil-safe).
	Metrics *Metrics
}

// Setup builds the telemetry for serviceName from opts and the environment.
// It sets the global text-map propagator (W3C TraceContext + Baggage, which
// otelhttp uses to send traceparent to MLflow) and, when enabled, the global
// tracer and meter providers.
func Setup(ctx context.Context, serviceName string, opts Options) (*Telemetry, error) {
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	opts = opts.withDefaults()
	if opts.OTLPEndpoint == "" && !opts.Stdout && len(opts.SpanProcessors) == 0 && len(opts.MetricReaders) == 0 {
		return &Telemetry{}, nil
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(attribute.String("service.name", serviceName)))
	if err != nil {
		return nil, err
	}
	tpOpts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	mpOpts := []sdkmetric.Option{sdkmetric.WithResource(res)}
	batch := func(exp sdktrace.SpanExporter) sdktrace.TracerProviderOption {
		// Non-blocking queue: spans beyond it are dropped, never waited for.
		return sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(DefaultBatchTimeout), sdktrace.WithExportTimeout(opts.ExportTimeout))
	}
	periodic := func(exp sdkmetric.Exporter) sdkmetric.Option {
		return sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp, sdkmetric.WithInterval(opts.MetricInterval), sdkmetric.WithTimeout(opts.ExportTimeout)))
	}
	if ep := strings.TrimRight(opts.OTLPEndpoint, "/"); ep != "" {
		texp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(ep+"/v1/traces"),
			otlptracehttp.WithTimeout(opts.ExportTimeout), otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: false}))
		if err != nil {
			return nil, err
		}
		mexp, err := otlpmetrichttp.New(ctx, otlpmetrichttp.WithEndpointURL(ep+"/v1/metrics"),
			otlpmetrichttp.WithTimeout(opts.ExportTimeout), otlpmetrichttp.WithRetry(otlpmetrichttp.RetryConfig{Enabled: false}))
		if err != nil {
			return nil, err
		}
		tpOpts, mpOpts = append(tpOpts, batch(texp)), append(mpOpts, periodic(mexp))
	}
	if opts.Stdout {
		texp, err := stdouttrace.New(stdouttrace.WithWriter(opts.StdoutWriter))
		if err != nil {
			return nil, err
		}
		mexp, err := stdoutmetric.New(stdoutmetric.WithWriter(opts.StdoutWriter))
		if err != nil {
			return nil, err
		}
		tpOpts, mpOpts = append(tpOpts, batch(texp)), append(mpOpts, periodic(mexp))
	}
	for _, sp := range opts.SpanProcessors {
		tpOpts = append(tpOpts, sdktrace.WithSpanProcessor(sp))
	}
	for _, r := range opts.MetricReaders {
		mpOpts = append(mpOpts, sdkmetric.WithReader(r))
	}
	t := &Telemetry{TracerProvider: sdktrace.NewTracerProvider(tpOpts...), MeterProvider: sdkmetric.NewMeterProvider(mpOpts...)}
	otel.SetErrorHandler(&exportErrors{logger: opts.Logger, interval: time.Minute})
	otel.SetTracerProvider(t.TracerProvider)
	otel.SetMeterProvider(t.MeterProvider)
	t.Interceptor, err = temporalotel.NewTracingInterceptor(temporalotel.TracerOptions{
		Tracer: t.TracerProvider.Tracer("temporal-sdk-go"),
		// The starter polls the progress query every 250 ms: a span each is noise.
		DisableQueryTracing: true,
	})
	if err != nil {
		return nil, err
	}
	t.MetricsHandler = temporalotel.NewMetricsHandler(temporalotel.MetricsHandlerOptions{
		Meter: t.MeterProvider.Meter("temporal-sdk-go"), UseMonotonicCounters: true,
	})
	if t.Metrics, err = newMetrics(t.MeterProvider.Meter(ScopeName)); err != nil {
		return nil, err
	}
	return t, nil
}

func (o Options) withDefaults() Options {
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.OTLPEndpoint == "" {
		o.OTLPEndpoint = o.Getenv(EnvOTLPEndpoint)
	}
	if o.Getenv(EnvStdout) == "1" {
		o.Stdout = true
	}
	if o.StdoutWriter == nil {
		o.StdoutWriter = os.Stdout
	}
	if o.ExportTimeout <= 0 {
		o.ExportTimeout = DefaultExportTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MetricInterval <= 0 {
		o.MetricInterval = DefaultMetricInterval
	}
	return o
}

// Enabled reports whether anything is exported.
func (t *Telemetry) Enabled() bool { return t != nil && t.TracerProvider != nil }

// Tracer returns flavorflow's tracer (a no-op one when disabled).
func (t *Telemetry) Tracer() trace.Tracer {
	if !t.Enabled() {
		return noop.NewTracerProvider().Tracer(ScopeName)
	}
	return t.TracerProvider.Tracer(ScopeName)
}

// WrapTransport wraps rt with otelhttp: a client span per request, child of
// the span in the request's context, and a traceparent header. Disabled, it
// returns rt unchanged.
func (t *Telemetry) WrapTransport(rt http.RoundTripper) http.RoundTripper {
	if !t.Enabled() {
		return rt
	}
	if rt == nil {
		rt = http.DefaultTransport
	}
	return otelhttp.NewTransport(rt,
		otelhttp.WithTracerProvider(t.TracerProvider),
		otelhttp.WithMeterProvider(t.MeterProvider),
		otelhttp.WithPropagators(otel.GetTextMapPropagator()))
}

// ConfigureClient adds the tracing interceptor and the metrics handler to
// Temporal client options; workers built from the client inherit both.
func (t *Telemetry) ConfigureClient(opts *client.Options) {
	if !t.Enabled() {
		return
	}
	opts.Interceptors = append(opts.Interceptors, t.Interceptor)
	opts.MetricsHandler = t.MetricsHandler
}

// WorkerInterceptors are the worker interceptors recording step durations,
// retries and verification failures for every activity.
func (t *Telemetry) WorkerInterceptors() []interceptor.WorkerInterceptor {
	if !t.Enabled() {
		return nil
	}
	return []interceptor.WorkerInterceptor{&activityMetrics{m: t.Metrics}}
}

// Shutdown flushes and stops the providers. It returns within ctx's
// deadline or ExportTimeout-ish bounds, whatever the collector does; export
// errors are returned for logging, never fatal.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	if !t.Enabled() {
		return nil
	}
	return errors.Join(t.TracerProvider.Shutdown(ctx), t.MeterProvider.Shutdown(ctx))
}

// ShutdownWithin shuts t down within d, logging (not returning) an export
// failure: for a main's defer.
func ShutdownWithin(t *Telemetry, d time.Duration, logger *slog.Logger) {
	if !t.Enabled() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := t.Shutdown(ctx); err != nil && logger != nil {
		logger.Warn("telemetry export at shutdown failed; dropped", "error", err)
	}
}
