// Package badinput feeds bad input to every entry point — the starter CLI,
// the workflow with real activities, the local store, the MLflow REST client
// against a crafted server and against a real one — and checks that each is
// refused with a clear, stable, non-retryable error and that nothing was
// left half-made in the store.
package badinput

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/flavorflow/flavorflow/internal/testenv"
)

// starterBin is the starter binary built for the CLI rows.
var starterBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "flavorflow-badinput-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	starterBin = filepath.Join(dir, "starter")
	build := exec.Command("go", "build", "-o", starterBin, "./starter")
	build.Dir = testenv.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build starter: %v\n%s", err, out)
		os.Exit(1)
	}
	code := testenv.RunWithMLflow(m)
	os.RemoveAll(dir)
	os.Exit(code)
}
