package app

import (
	"context"
	"log/slog"
	"net/http"
	"os"

	"github.com/flavorflow/flavorflow/config"
	"github.com/flavorflow/flavorflow/store"
	"github.com/flavorflow/flavorflow/store/localstore"
)

// OpenStore opens the store the tracking URI names: a directory for the
// embedded local store, http(s):// for an MLflow server.
// Options (WithTransport) apply to the MLflow client only.
func OpenStore(ctx context.Context, trackingURI string, logger *slog.Logger, opts ...StoreOption) (store.Store, error) {
	if config.IsLocalStore(trackingURI) {
		if err := os.MkdirAll(trackingURI, 0o755); err != nil {
			return nil, err
		}
		return localstore.Open(trackingURI)
	}
	o := storeOptions{mlflow: config.Defaults().MLflow}
	for _, opt := range opts {
		opt(&o)
	}
	return openMLflow(ctx, trackingURI, logger, o)
}

// StoreOption configures OpenStore.
type StoreOption func(*storeOptions)

type storeOptions struct {
	wrapTransport func(http.RoundTripper) http.RoundTripper
	tuning        config.Worker
	mlflow        config.MLflow
}

// WithMLflow applies the mlflow section (credentials, TLS, retries) to the
// MLflow client; without it the client has MLflow's defaults and no
// credentials.
func WithMLflow(m config.MLflow) StoreOption {
	return func(o *storeOptions) { o.mlflow = m }
}

// WithTuning applies the worker's upload and HTTP tuning (upload
// parallelism, multipart part size and threshold, HTTP pool size) to the
// MLflow client; zero values keep the client's defaults.
func WithTuning(w config.Worker) StoreOption {
	return func(o *storeOptions) { o.tuning = w }
}

// WithTransport wraps the MLflow client's HTTP transport (telemetry's
// otelhttp wrapper); nil leaves it as is.
func WithTransport(wrap func(http.RoundTripper) http.RoundTripper) StoreOption {
	return func(o *storeOptions) { o.wrapTransport = wrap }
}
