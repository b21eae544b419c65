package localstore_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/flavorflow/flavorflow/failure"
)

// FuzzLocalStorePath puts, opens and lists fuzzed paths below a fuzzed root
// in a store whose artifact tree holds symlinks to a directory outside it,
// and checks that nothing outside <dir>/artifacts is ever created, changed or
// read, and that no call panics.
func FuzzLocalStorePath(f *testing.F) {
	for _, seed := range []struct{ root, p string }{
		{"0/r/artifacts", "model/MLmodel"},
		{"0/r/artifacts", "../../../../outside/secret"},
		{"0/r/artifacts", "link/secret"},
		{"0/r/artifacts", "link/new"},
		{"0/r/artifacts", "filelink"},
		{"0/r/artifacts", "/etc/passwd"},
		{"../..", "outside/secret"},
		{"0/r/artifacts/link", "secret"},
		{"", "a"},
		{"0/r/artifacts", ".tmp-x"},
	} {
		f.Add(seed.root, seed.p, []byte("data"))
	}
	base := f.TempDir()
	outside := filepath.Join(base, "outside")
	dir := filepath.Join(base, "store")
	s := open(f, dir)
	plantEscape(f, dir, outside, "link", "filelink")
	ctx := context.Background()

	f.Fuzz(func(t *testing.T, rootPath, p string, data []byte) {
		root := "mlflow-artifacts:/" + rootPath
		putErr := s.PutArtifact(ctx, root, p, src(data))
		if rc, err := s.OpenArtifact(ctx, root, p); err == nil {
			got, _ := io.ReadAll(rc)
			rc.Close()
			if bytes.Equal(got, []byte("secret")) && !bytes.Equal(data, []byte("secret")) {
				t.Fatalf("OpenArtifact(%q, %q) read the file outside the root", root, p)
			}
			if putErr == nil && !bytes.Equal(got, data) {
				t.Fatalf("OpenArtifact(%q, %q) after a successful put read %q, want %q", root, p, got, data)
			}
		} else if putErr == nil {
			t.Fatalf("put %q %q succeeded but open failed: %v", root, p, err)
		}
		if list, err := s.ListArtifacts(ctx, root, p); err == nil {
			for _, fi := range list {
				if fi.Path == "" || filepath.IsAbs(fi.Path) {
					t.Fatalf("ListArtifacts(%q, %q) returned path %q", root, p, fi.Path)
				}
			}
		} else if c := failure.CodeOf(err); c == failure.Internal {
			t.Fatalf("ListArtifacts(%q, %q): unexpected internal error %v", root, p, err)
		}
		checkOutsideUntouched(t, base, outside)
	})
}

// checkOutsideUntouched fails unless base holds only "outside" and "store",
// and outside holds only the unchanged secret.
func checkOutsideUntouched(t *testing.T, base, outside string) {
	t.Helper()
	names := func(d string) []string {
		es, err := os.ReadDir(d)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range es {
			out = append(out, e.Name())
		}
		return out
	}
	if got := names(base); !slices.Equal(got, []string{"outside", "store"}) {
		t.Fatalf("files appeared beside the store: %v", got)
	}
	if got := names(outside); !slices.Equal(got, []string{"secret"}) {
		t.Fatalf("files appeared outside the root: %v", got)
	}
	if b, err := os.ReadFile(filepath.Join(outside, "secret")); err != nil || string(b) != "secret" {
		t.Fatalf("the file outside the root changed: %q, %v", b, err)
	}
	var stray []string
	filepath.WalkDir(filepath.Join(base, "store"), func(p string, d os.DirEntry, err error) error {
		if err == nil && p != filepath.Join(base, "store") && filepath.Dir(p) == filepath.Join(base, "store") {
			if n := d.Name(); n != "artifacts" && !slices.Contains([]string{"flavorflow.db", "flavorflow.db-wal", "flavorflow.db-shm"}, n) {
				stray = append(stray, n)
			}
		}
		return nil
	})
	if len(stray) > 0 {
		t.Fatalf("files appeared in the store directory outside artifacts/: %v", stray)
	}
}
