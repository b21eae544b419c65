package tests

import (
	"os"
	"testing"

	"github.com/flavorflow/flavorflow/internal/testrig/testenv"
)

// One MLflow server for the package's tests (testenv.SharedMLflow); they use
// distinct model names.
func TestMain(m *testing.M) { os.Exit(testenv.RunWithMLflow(m)) }
