package flavor

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/fakemodel"
	"github.com/flavorflow/flavorflow/vocab"
)

// FuzzParseMLmodel: any input either parses or fails with InvalidMLmodel,
// never panics, and whatever parses can be written and parsed again.
func FuzzParseMLmodel(f *testing.F) {
	for _, p := range []string{"testdata/mlflow-3.4.0.MLmodel", "../tests/testdata/tutorial_model/MLmodel"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("a: &a [1]\nb: *a\nflavors: {}\n"))
	f.Add([]byte("- x\n"))
	f.Add([]byte("flavors: {f: {offset: .nan}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseMLmodel(bytes.NewReader(data))
		if err != nil {
			if failure.CodeOf(err) != failure.InvalidMLmodel {
				t.Fatalf("error with code %s: %v", failure.CodeOf(err), err)
			}
			return
		}
		out, err := m.Marshal()
		if err != nil {
			return // e.g. a value type the writer refuses; never a panic
		}
		m2, err := ParseMLmodel(bytes.NewReader(out))
		if err != nil {
			t.Fatalf("our own output does not parse: %v\n%s", err, out)
		}
		out2, err := m2.Marshal()
		if err != nil || !bytes.Equal(out, out2) {
			t.Fatalf("write/parse/write is not stable (%v):\n%s\n---\n%s", err, out, out2)
		}
	})
}

// FuzzManifest: ParseManifest never panics and never accepts a path that
// could leave the model directory; VerifyDir on a real directory with the
// fuzzed manifest never panics and only succeeds for a manifest that lists
// exactly the files there.
func FuzzManifest(f *testing.F) {
	dir := f.TempDir()
	saved, err := SaveModel(context.Background(), filepath.Join(dir, "seed"), fakemodel.New(1), fixedOpts)
	if err != nil {
		f.Fatal(err)
	}
	good, _ := os.ReadFile(filepath.Join(saved.Dir, ManifestFile))
	f.Add(good)
	f.Add([]byte(`{"version":1,"files":[{"path":"../x","size":1,"sha256":"` + strings.Repeat("0", 64) + `"}]}`))
	f.Add([]byte(`{"version":1,"files":[{"path":"/etc/passwd","size":1,"sha256":"` + strings.Repeat("0", 64) + `"}]}`))
	f.Add([]byte(`{"version":1,"files":[{"path":"a\\b","size":1,"sha256":"` + strings.Repeat("0", 64) + `"}]}`))
	f.Add([]byte(`{"version":1,"files":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseManifest(data)
		if err != nil {
			if c := failure.CodeOf(err); c != failure.InvalidManifest {
				t.Fatalf("error with code %s: %v", c, err)
			}
			return
		}
		for _, e := range m.Files {
			if clean, err := vocab.CleanRelPath(e.Path, false); err != nil || clean != e.Path || e.Path == ManifestFile {
				t.Fatalf("accepted unsafe or non-canonical path %q", e.Path)
			}
		}
		d := filepath.Join(t.TempDir(), "m")
		copyDir(t, saved.Dir, d)
		if err := os.WriteFile(filepath.Join(d, ManifestFile), data, 0o644); err != nil {
			t.Fatal(err)
		}
		got, _, err := VerifyDir(d)
		if err != nil {
			return
		}
		if len(got.Files) != len(saved.Manifest.Files) {
			t.Fatalf("VerifyDir accepted a manifest listing %d files for a directory of %d", len(got.Files), len(saved.Manifest.Files))
		}
		for i, e := range got.Files {
			if e != saved.Manifest.Files[i] {
				t.Fatalf("VerifyDir accepted entry %+v, the file is %+v", e, saved.Manifest.Files[i])
			}
		}
	})
}
