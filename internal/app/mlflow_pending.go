package app

import (
	"context"
	"log/slog"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/store"
)

// TEMPORARY until the mlflow package lands.
func openMLflow(ctx context.Context, uri string, logger *slog.Logger) (store.Store, error) {
	return nil, failure.New(failure.NotImplemented, "MLflow server %s: REST client not built yet", uri)
}
