package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// TestRepoRootHoldsGoMod: RepoRoot counts the directories between this file
// and the module root, so moving the package must move the count with it.
func TestRepoRootHoldsGoMod(t *testing.T) {
	if _, err := os.Stat(filepath.Join(RepoRoot(), "go.mod")); err != nil {
		t.Fatalf("RepoRoot() = %s holds no go.mod: %v", RepoRoot(), err)
	}
}
