package mlflow

import (
	"os"
	"testing"

	"github.com/flavorflow/flavorflow/internal/testrig/testenv"
)

// One MLflow server per test binary: a cold start costs ~8 s.
func TestMain(m *testing.M) { os.Exit(testenv.RunWithMLflow(m)) }
