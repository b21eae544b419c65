package testenv

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestRepoRootHoldsGoMod: RepoRoot counts the directories between this file
// and the module root, so moving the package must move the count with it.
func TestRepoRootHoldsGoMod(t *testing.T) {
	if _, err := os.Stat(filepath.Join(RepoRoot(), "go.mod")); err != nil {
		t.Fatalf("RepoRoot() = %s holds no go.mod: %v", RepoRoot(), err)
	}
}

// A server that dies before it is ready fails its start with an error, and
// stopping it afterwards returns: the readiness poll and Stop both wait
// for the same exit (Exit), so neither can take it from the other.
func TestS3ThatDiesAtStartDoesNotHang(t *testing.T) {
	dir := t.TempDir()
	s := &S3{URL: "http://127.0.0.1:" + strconv.Itoa(FreePort(t)), Bucket: "b", Dir: dir,
		LogPath: filepath.Join(dir, "weed.log"), bin: "/bin/false"}
	errc := make(chan error, 1)
	go func() { errc <- s.start() }()
	select {
	case err := <-errc:
		if err == nil || !strings.Contains(err.Error(), "exited before becoming ready") {
			t.Fatalf("start of a server that exits at once: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("start of a server that exits at once hung")
	}
	s.Stop() // a second stop returns too
}
