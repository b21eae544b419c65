// Package security checks that secrets never leak (workflow history, logs,
// error messages, spans), that wrong credentials are a clear Unauthorized,
// that TLS to an MLflow server works with a private CA and fails clearly
// without it, and that a pickle is never executed.
package security

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/flavorflow/flavorflow/internal/testenv"
)

// bins holds the worker and starter built for this package.
var bins string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "flavorflow-security-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bins = dir
	build := exec.Command("go", "build", "-o", dir+string(filepath.Separator), "./worker", "./starter")
	build.Dir = testenv.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := testenv.RunWithMLflow(m)
	os.RemoveAll(dir)
	os.Exit(code)
}
