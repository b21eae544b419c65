package app

import (
	"context"
	"log/slog"
	"os"

	"github.com/flavorflow/flavorflow/config"
	"github.com/flavorflow/flavorflow/store"
	"github.com/flavorflow/flavorflow/store/localstore"
)

// OpenStore opens the store the tracking URI names: a directory for the
// embedded local store, http(s):// for an MLflow server.
func OpenStore(ctx context.Context, trackingURI string, logger *slog.Logger) (store.Store, error) {
	if config.IsLocalStore(trackingURI) {
		if err := os.MkdirAll(trackingURI, 0o755); err != nil {
			return nil, err
		}
		return localstore.Open(trackingURI)
	}
	return openMLflow(ctx, trackingURI, logger)
}
