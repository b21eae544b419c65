package flavor

// TEMPORARY: replaced by the real implementation (mlmodel.go, save.go, log.go,
// load.go, manifest.go). Delete this file when they land.

import (
	"context"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/store"
)

// LogModel uploads the saved model in dir as an MLflow 3 logged model.
func LogModel(ctx context.Context, st store.Store, dir string, opts LogOptions) (Logged, error) {
	return Logged{}, failure.New(failure.Internal, "not implemented")
}

