package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// BuildCommands builds main packages of this module (e.g. "./worker") into
// dir with $GO (default go).
func BuildCommands(dir string, pkgs ...string) error {
	gobin := os.Getenv("GO")
	if gobin == "" {
		gobin = "go"
	}
	build := exec.Command(gobin, append([]string{"build", "-o", dir + string(os.PathSeparator)}, pkgs...)...)
	build.Dir = RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %v: %v\n%s", pkgs, err, out)
	}
	return nil
}

// RunWithBinaries is for TestMain of packages that run the project's
// commands: it builds pkgs into a temporary directory, stores its path in
// *dir, runs the tests with RunWithMLflow and removes the directory.
//
//	func TestMain(m *testing.M) { os.Exit(testenv.RunWithBinaries(m, &bins, "./worker", "./starter")) }
func RunWithBinaries(m *testing.M, dir *string, pkgs ...string) int {
	d, err := os.MkdirTemp("", "flavorflow-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(d)
	if err := BuildCommands(d, pkgs...); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	*dir = d
	return RunWithMLflow(m)
}
