// Package security checks that secrets never leak (workflow history, logs,
// error messages, spans), that wrong credentials are a clear Unauthorized,
// that TLS to an MLflow server works with a private CA and fails clearly
// without it, and that a pickle is never executed.
package security

import (
	"os"
	"testing"

	"github.com/flavorflow/flavorflow/internal/testrig/testenv"
)

// bins holds the worker and starter built for this package.
var bins string

func TestMain(m *testing.M) { os.Exit(testenv.RunWithBinaries(m, &bins, "./worker", "./starter")) }
