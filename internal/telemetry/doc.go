// Package telemetry sets up OpenTelemetry for flavorflow's mains: traces
// through Temporal (the contrib/opentelemetry tracing interceptor) and the
// MLflow HTTP client (otelhttp), Temporal SDK metrics and flavorflow's own
// (bytes moved, step durations, verification failures, retries), and an
// slog handler that stamps trace and span IDs on log records.
//
// Export is chosen by the environment: OTLP over HTTP when
// OTEL_EXPORTER_OTLP_ENDPOINT is set, stdout when FLAVORFLOW_OTEL_STDOUT=1,
// and nothing at all otherwise (no providers, no interceptors, no wrapped
// transport). Exporters batch in the background with short timeouts and no
// retries, so a collector that is down or does not answer costs dropped
// telemetry, never a slower or failed pipeline.
package telemetry
