package flavor

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/fakemodel"
)

func nan() float64 { return math.NaN() }

// rewriteManifest replaces the manifest of dir with edit(m).
func rewriteManifest(t *testing.T, dir string, edit func(*Manifest)) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseManifest(data)
	if err != nil {
		t.Fatal(err)
	}
	edit(&m)
	out, err := encodeManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ManifestFile), out, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyDirBadInput(t *testing.T) {
	zeroSHA := strings.Repeat("0", 64)
	tests := []struct {
		name   string
		break_ func(t *testing.T, dir string)
		code   failure.Code
		msg    string
	}{
		{"missing file", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, DataFile)) },
			failure.ChecksumMismatch, `"model.json" listed in the manifest is missing`},
		{"extra file", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, CodeDir, "evil.py"), []byte("import os"), 0o644)
		}, failure.ChecksumMismatch, `"code/evil.py" is not in the manifest`},
		{"changed byte", func(t *testing.T, dir string) {
			p := filepath.Join(dir, RequirementsFile)
			b, _ := os.ReadFile(p)
			b[0] ^= 1
			os.WriteFile(p, b, 0o644)
		}, failure.ChecksumMismatch, `"requirements.txt" has sha256`},
		{"changed size", func(t *testing.T, dir string) {
			f, _ := os.OpenFile(filepath.Join(dir, DataFile), os.O_APPEND|os.O_WRONLY, 0)
			f.WriteString(" ")
			f.Close()
		}, failure.ChecksumMismatch, `"model.json" is`},
		{"dotdot path", func(t *testing.T, dir string) {
			rewriteManifest(t, dir, func(m *Manifest) { m.Files = append(m.Files, ManifestEntry{"../x", 1, zeroSHA}) })
		}, failure.InvalidManifest, `unsafe path "../x"`},
		{"absolute path", func(t *testing.T, dir string) {
			rewriteManifest(t, dir, func(m *Manifest) { m.Files = append(m.Files, ManifestEntry{"/etc/passwd", 1, zeroSHA}) })
		}, failure.InvalidManifest, `unsafe path "/etc/passwd"`},
		{"non-canonical path", func(t *testing.T, dir string) {
			rewriteManifest(t, dir, func(m *Manifest) { m.Files[0].Path = "code/" })
		}, failure.InvalidManifest, `canonical`},
		{"duplicate", func(t *testing.T, dir string) {
			rewriteManifest(t, dir, func(m *Manifest) { m.Files = append(m.Files, m.Files[0]) })
		}, failure.InvalidManifest, `twice`},
		{"bad sha", func(t *testing.T, dir string) {
			rewriteManifest(t, dir, func(m *Manifest) { m.Files[0].SHA256 = "XYZ" })
		}, failure.InvalidManifest, `malformed sha256`},
		{"lists itself", func(t *testing.T, dir string) {
			rewriteManifest(t, dir, func(m *Manifest) { m.Files = append(m.Files, ManifestEntry{ManifestFile, 1, zeroSHA}) })
		}, failure.InvalidManifest, `lists itself`},
		{"not json", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, ManifestFile), []byte("{nope"), 0o644)
		}, failure.InvalidManifest, `not a valid manifest`},
		{"unknown field", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, ManifestFile), []byte(`{"version":1,"files":[],"x":1}`), 0o644)
		}, failure.InvalidManifest, `not a valid manifest`},
		{"wrong version", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, ManifestFile), []byte(`{"version":2,"files":[]}`), 0o644)
		}, failure.InvalidManifest, `version 2`},
		{"no manifest", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, ManifestFile)) },
			failure.InvalidManifest, `no flavorflow-manifest.json`},
		{"symlink in dir", func(t *testing.T, dir string) {
			os.Symlink("/etc/passwd", filepath.Join(dir, "passwd"))
		}, failure.InvalidPath, `"passwd" is a symlink`},
		{"symlinked file replaces a listed one", func(t *testing.T, dir string) {
			p := filepath.Join(dir, DataFile)
			os.Rename(p, p+".real")
			os.Symlink(p+".real", p)
		}, failure.InvalidPath, `is a symlink`},
		{"manifest is a symlink", func(t *testing.T, dir string) {
			p := filepath.Join(dir, ManifestFile)
			os.Rename(p, filepath.Join(dir, "..", "m.json"))
			os.Symlink(filepath.Join(dir, "..", "m.json"), p)
		}, failure.InvalidPath, `not a regular file`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, _ := saveT(t, fakemodel.New(3), fixedOpts)
			if _, _, err := VerifyDir(dir); err != nil {
				t.Fatalf("fresh save does not verify: %v", err)
			}
			tc.break_(t, dir)
			_, _, err := VerifyDir(dir)
			if failure.CodeOf(err) != tc.code || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err %v; want %s containing %q", err, tc.code, tc.msg)
			}
		})
	}
}

func TestVerifyDirMissingDir(t *testing.T) {
	_, _, err := VerifyDir(filepath.Join(t.TempDir(), "nope"))
	if failure.CodeOf(err) != failure.NotFound {
		t.Fatalf("err %v, want NotFound", err)
	}
}

func TestManifestEncodingStable(t *testing.T) {
	m := Manifest{Files: []ManifestEntry{{"b", 2, strings.Repeat("b", 64)}, {"a/c", 1, strings.Repeat("a", 64)}}}
	a, _ := encodeManifest(m)
	m.Files[0], m.Files[1] = m.Files[1], m.Files[0]
	b, _ := encodeManifest(m)
	if string(a) != string(b) {
		t.Fatal("encoding depends on entry order")
	}
	want := "{\n  \"version\": 1,\n  \"files\": [\n    {\n      \"path\": \"a/c\",\n      \"size\": 1,\n      \"sha256\": \"" + strings.Repeat("a", 64) + "\"\n    },\n"
	if !strings.HasPrefix(string(a), want) || !strings.HasSuffix(string(a), "}\n") {
		t.Errorf("unexpected encoding:\n%s", a)
	}
	back, err := ParseManifest(a)
	if err != nil || len(back.Files) != 2 || back.Files[0].Path != "a/c" {
		t.Errorf("parse back: %v %v", back, err)
	}
}
