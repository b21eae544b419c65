package flavor

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/fakemodel"
)

// copyDir copies a directory tree of plain files.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if info.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestLoadLocalSaved(t *testing.T) {
	m := fakemodel.FakeModel{Offset: 3, WeightsSize: 4099, WeightsSeed: 1}
	dir, saved := saveT(t, m, fixedOpts)
	for _, uri := range []string{dir, "file://" + dir} {
		l, err := LoadModel(context.Background(), nil, uri, filepath.Join(t.TempDir(), "unused"))
		if err != nil {
			t.Fatalf("%s: %v", uri, err)
		}
		if !l.Model.Equal(m) || l.Model.Predict(4) != 7 || l.Flavor != FlavorName || l.Dir != dir {
			t.Errorf("%s: loaded %+v", uri, l)
		}
		if l.ManifestSHA256 != saved.ManifestSHA256 {
			t.Errorf("manifest sha %s, saved %s", l.ManifestSHA256, saved.ManifestSHA256)
		}
	}
}

// TestLoadTutorialModel reads the directory written by the tutorial's own
// Python flavor (tests/python/make_tutorial_model.py), pickle and all.
func TestLoadTutorialModel(t *testing.T) {
	dir := filepath.Join("..", "tests", "testdata", "tutorial_model")
	l, err := LoadModel(context.Background(), nil, dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if l.Flavor != TutorialFlavor || l.Model.Offset != 3 || l.Model.Predict(4) != 7 || l.ManifestSHA256 != "" {
		t.Errorf("loaded %+v", l)
	}
	cfg, _ := l.MLmodel.FlavorConfig(TutorialFlavor)
	if cfg["foo"] != 123 || cfg["bar"] != "abc" {
		t.Errorf("my_flavor config %v", cfg)
	}
}

func TestLoadBadInput(t *testing.T) {
	tutorial := filepath.Join("..", "tests", "testdata", "tutorial_model")
	writeMLmodel := func(doc string) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, MLmodelFile), []byte(doc), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	tests := []struct {
		name   string
		start  string // "saved" or "tutorial"
		break_ func(t *testing.T, dir string)
		code   failure.Code
		msg    string
	}{
		{"MLmodel missing", "tutorial", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, MLmodelFile)) },
			failure.InvalidMLmodel, "no MLmodel file in"},
		{"not YAML", "tutorial", writeMLmodel("flavors: [\n"), failure.InvalidMLmodel, "not valid YAML"},
		{"top-level list", "tutorial", writeMLmodel("- 1\n"), failure.InvalidMLmodel, "top level is a list"},
		{"flavors not a mapping", "tutorial", writeMLmodel("flavors: 3\n"), failure.InvalidMLmodel, "flavors is a integer"},
		{"offset a string", "tutorial", writeMLmodel("flavors:\n  my_flavor:\n    offset: three\n"),
			failure.InvalidMLmodel, "flavors.my_flavor.offset is a string"},
		{"offset NaN", "tutorial", writeMLmodel("flavors:\n  my_flavor:\n    offset: .nan\n"),
			failure.InvalidMLmodel, "flavors.my_flavor.offset is NaN"},
		{"missing flavor", "tutorial", writeMLmodel("flavors:\n  sklearn: {}\n"),
			failure.FlavorNotFound, `Model does not have the "fakemodel" flavor`},
		{"symlink without manifest", "tutorial", func(t *testing.T, dir string) {
			os.Symlink("/etc/passwd", filepath.Join(dir, "x"))
		}, failure.InvalidPath, `"x" is a symlink`},
		{"MLmodel symlink", "tutorial", func(t *testing.T, dir string) {
			p := filepath.Join(dir, MLmodelFile)
			os.Rename(p, p+"2")
			os.Symlink(p+"2", p)
		}, failure.InvalidPath, "not a regular file"},
		{"manifest mismatch", "saved", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, DataFile), []byte(`{"format_version": 1, "offset": 4}`), 0o644)
		}, failure.ChecksumMismatch, `"model.json"`},
		{"flavor offset disagrees with model.json", "saved", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, DataFile), []byte(`{"format_version": 1, "offset": 4}`), 0o644)
			os.Remove(filepath.Join(dir, ManifestFile))
		}, failure.InvalidMLmodel, "offset is 3 but model.json says 4"},
		{"data escapes", "saved", func(t *testing.T, dir string) {
			writeMLmodel("flavors:\n  fakemodel:\n    data: ../model.json\n")(t, dir)
			os.Remove(filepath.Join(dir, ManifestFile))
		}, failure.InvalidMLmodel, "flavors.fakemodel.data"},
		{"pickle only, no flavor offset", "tutorial", writeMLmodel("flavors:\n  my_flavor:\n    foo: 123\n"),
			failure.InvalidMLmodel, "flavors.my_flavor.offset is missing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "m")
			if tc.start == "saved" {
				if _, err := SaveModel(context.Background(), dir, fakemodel.New(3), fixedOpts); err != nil {
					t.Fatal(err)
				}
			} else {
				copyDir(t, tutorial, dir)
			}
			tc.break_(t, dir)
			_, err := LoadModel(context.Background(), nil, dir, "")
			if failure.CodeOf(err) != tc.code || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err %v; want %s containing %q", err, tc.code, tc.msg)
			}
		})
	}
}

func TestLoadURIErrors(t *testing.T) {
	ctx := context.Background()
	for uri, code := range map[string]failure.Code{
		"":                                 failure.InvalidURI,
		"s3://bucket/x":                    failure.InvalidURI,
		"models:/m/1":                      failure.InvalidArgument, // needs a store
		filepath.Join(t.TempDir(), "nope"): failure.NotFound,
	} {
		_, err := LoadModel(ctx, nil, uri, t.TempDir())
		if failure.CodeOf(err) != code {
			t.Errorf("%q: err %v, want %s", uri, err, code)
		}
	}
}
