// Package badinput feeds bad input to every entry point — the starter CLI,
// the workflow with real activities, the local store, the MLflow REST client
// against a crafted server and against a real one — and checks that each is
// refused with a clear, stable, non-retryable error and that nothing was
// left half-made in the store.
package badinput

import (
	"os"
	"testing"

	"github.com/flavorflow/flavorflow/internal/testrig/testenv"
)

// bins holds the starter built for the CLI rows.
var bins string

func TestMain(m *testing.M) { os.Exit(testenv.RunWithBinaries(m, &bins, "./starter")) }
