package mlflow

import (
	"strings"
	"testing"

	"github.com/flavorflow/flavorflow/store"
	"github.com/flavorflow/flavorflow/store/storetest"
)

// knownContradictions are suite subtests whose assertions MLflow itself
// cannot meet; each is skipped with the reason, and covered by our own
// tests where the behaviour is reachable.
var knownContradictions = map[string]string{
	// testRuns creates three runs with the same StartTimeMs and wants them
	// back in creation order. MLflow's runs/search orders by start_time and
	// breaks ties by run id (random); runs have no creation timestamp, so no
	// client can recover the order. Fix in the suite: StartTimeMs: start+i.
	"Runs": "MLflow cannot order runs with equal start times by creation (see conformance_test.go)",
}

// TestConformance runs the shared store suite against a real MLflow server.
func TestConformance(t *testing.T) {
	storetest.RunConformanceTests(t, func(t *testing.T) store.Store {
		sub := t.Name()[strings.LastIndex(t.Name(), "/")+1:]
		if why, ok := knownContradictions[sub]; ok {
			t.Skip(why)
		}
		return serverClient(t)
	})
}
