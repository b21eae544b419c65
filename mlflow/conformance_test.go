package mlflow

import (
	"testing"

	"github.com/flavorflow/flavorflow/store"
	"github.com/flavorflow/flavorflow/store/storetest"
)

// TestConformance runs the shared store suite against a real MLflow server.
func TestConformance(t *testing.T) {
	storetest.RunConformanceTests(t, func(t *testing.T) store.Store {
		return serverClient(t)
	})
}
