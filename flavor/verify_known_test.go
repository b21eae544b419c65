package flavor

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/fakemodel"
)

// verifyDir trusts hashes computed while downloading, but only for files
// that still have the recorded size; everything else is hashed.
func TestVerifyDirKnownHashes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "m")
	saved, err := SaveModel(context.Background(), dir, fakemodel.FakeModel{Offset: 3, WeightsSize: 4096}, SaveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]ManifestEntry{}
	for _, e := range saved.Manifest.Files {
		known[e.Path] = e
	}
	if _, _, err := verifyDir(dir, known); err != nil {
		t.Fatalf("known hashes: %v", err)
	}
	// A recorded hash that disagrees with the manifest is a mismatch.
	bad := known[WeightsFile]
	bad.SHA256 = sha256Hex([]byte("other"))
	known[WeightsFile] = bad
	if _, _, err := verifyDir(dir, known); !failure.Has(err, failure.ChecksumMismatch) {
		t.Fatalf("wrong recorded hash: err = %v", err)
	}
	// A file whose size changed since it was recorded is hashed again.
	if err := os.WriteFile(filepath.Join(dir, WeightsFile), []byte("short"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, e := range saved.Manifest.Files {
		if e.Path == WeightsFile {
			known[WeightsFile] = e
		}
	}
	if _, _, err := verifyDir(dir, known); !failure.Has(err, failure.ChecksumMismatch) {
		t.Fatalf("changed file: err = %v", err)
	}
}
