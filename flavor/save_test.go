package flavor

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/fakemodel"
)

var fixedOpts = SaveOptions{
	ModelUUID: "0123456789abcdef0123456789abcdef",
	Created:   time.Date(2026, 11, 25, 12, 0, 0, 123456789, time.UTC),
	Metadata:  map[string]any{"model_name": "demo"},
}

func saveT(t *testing.T, m fakemodel.FakeModel, opts SaveOptions) (string, Saved) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "model")
	saved, err := SaveModel(context.Background(), dir, m, opts)
	if err != nil {
		t.Fatal(err)
	}
	return dir, saved
}

func readMLmodel(t *testing.T, dir string) *MLmodel {
	t.Helper()
	m, err := readLocalMLmodel(dir)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSaveModelLayout(t *testing.T) {
	dir, saved := saveT(t, fakemodel.New(3), fixedOpts)
	var paths []string
	var beforeMLmodel, total int64
	for _, e := range saved.Manifest.Files {
		paths = append(paths, e.Path)
		if e.Path != MLmodelFile {
			beforeMLmodel += e.Size
		}
		total += e.Size
	}
	want := "MLmodel code/flavorflow_fakemodel.py conda.yaml input_example.json model.json python_env.yaml requirements.txt serving_input_example.json"
	if got := strings.Join(paths, " "); got != want {
		t.Errorf("files %q, want %q", got, want)
	}
	man, sha, err := VerifyDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if sha != saved.ManifestSHA256 || len(man.Files) != len(saved.Manifest.Files) {
		t.Errorf("VerifyDir sha %s, SaveModel %s", sha, saved.ManifestSHA256)
	}
	mi, _ := os.Stat(filepath.Join(dir, ManifestFile))
	if saved.Size != total+mi.Size() {
		t.Errorf("Saved.Size %d, files total %d", saved.Size, total+mi.Size())
	}
	ml := readMLmodel(t, dir)
	if ml.ModelSizeBytes == nil || *ml.ModelSizeBytes != beforeMLmodel {
		t.Errorf("model_size_bytes %v, want %d (files before MLmodel)", ml.ModelSizeBytes, beforeMLmodel)
	}
	if ml.UTCTimeCreated != "2026-11-25 12:00:00.123456" || ml.ModelUUID != fixedOpts.ModelUUID || ml.MLflowVersion != MLflowVersion {
		t.Errorf("MLmodel header: %+v", ml)
	}
	if ml.ModelID != "" || ml.RunID != "" || ml.ArtifactPath != "" || ml.Metadata["model_name"] != "demo" {
		t.Errorf("MLmodel ids/metadata: %+v", ml)
	}
	fm, err := ml.FlavorConfig(FlavorName)
	if err != nil {
		t.Fatal(err)
	}
	if fm["offset"] != 3.0 || fm["data"] != DataFile || fm["weights"] != nil || fm["format_version"] != 1 || fm["weights_size"] != 0 {
		t.Errorf("fakemodel flavor: %v", fm)
	}
	py, err := ml.FlavorConfig("python_function")
	if err != nil {
		t.Fatal(err)
	}
	if py["loader_module"] != PyfuncModule || py["code"] != CodeDir || py["data"] != DataFile || py["python_version"] != PythonVersion {
		t.Errorf("python_function flavor: %v", py)
	}
	shim, _ := os.ReadFile(filepath.Join(dir, CodeDir, PyfuncModule+".py"))
	if !bytes.Contains(shim, []byte("def _load_pyfunc(path)")) {
		t.Error("shim not written")
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
}

func TestSaveModelDeterministic(t *testing.T) {
	m := fakemodel.FakeModel{Offset: -1.25, WeightsSize: 100_003, WeightsSeed: 7}
	d1, s1 := saveT(t, m, fixedOpts)
	d2, s2 := saveT(t, m, fixedOpts)
	if s1.ManifestSHA256 != s2.ManifestSHA256 {
		t.Fatalf("manifest hash differs: %s vs %s", s1.ManifestSHA256, s2.ManifestSHA256)
	}
	for _, e := range append(s1.Manifest.Files, ManifestEntry{Path: ManifestFile}) {
		a, _ := os.ReadFile(filepath.Join(d1, e.Path))
		b, _ := os.ReadFile(filepath.Join(d2, e.Path))
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between equal saves", e.Path)
		}
	}
	// A different model must not collide.
	_, s3 := saveT(t, fakemodel.FakeModel{Offset: -1.5, WeightsSize: 100_003, WeightsSeed: 7}, fixedOpts)
	if s3.ManifestSHA256 == s1.ManifestSHA256 {
		t.Error("different offsets gave the same manifest hash")
	}
	// Without a fixed uuid/time the MLmodel changes, so the hash does.
	_, s4 := saveT(t, m, SaveOptions{})
	if s4.ManifestSHA256 == s1.ManifestSHA256 {
		t.Error("random model_uuid gave the same manifest hash")
	}
}

func TestSaveModelWeights(t *testing.T) {
	m := fakemodel.FakeModel{Offset: 1, WeightsSize: 1<<20 + 3, WeightsSeed: 42}
	dir, _ := saveT(t, m, fixedOpts)
	got, err := os.ReadFile(filepath.Join(dir, WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := io.ReadAll(m.WeightsReader())
	if !bytes.Equal(got, want) {
		t.Error("weights.bin is not the WeightsReader stream")
	}
	fm, _ := readMLmodel(t, dir).FlavorConfig(FlavorName)
	if fm["weights"] != WeightsFile || fm["weights_size"] != 1<<20+3 {
		t.Errorf("flavor weights: %v", fm)
	}
}

func TestSaveModelRefuses(t *testing.T) {
	ctx := context.Background()
	nonEmpty := t.TempDir()
	os.WriteFile(filepath.Join(nonEmpty, "x"), []byte("x"), 0o644)
	file := filepath.Join(t.TempDir(), "f")
	os.WriteFile(file, nil, 0o644)
	tests := []struct {
		name string
		dir  string
		m    fakemodel.FakeModel
		code failure.Code
		msg  string
	}{
		{"non-empty target", nonEmpty, fakemodel.New(1), failure.TargetNotEmpty, "Path '" + nonEmpty + "' already exists and is not empty"},
		{"target is a file", file, fakemodel.New(1), failure.TargetNotEmpty, "already exists"},
		{"NaN offset", filepath.Join(t.TempDir(), "m"), fakemodel.FakeModel{Offset: nan()}, failure.InvalidModel, "not a finite number"},
		{"negative weights", filepath.Join(t.TempDir(), "m"), fakemodel.FakeModel{WeightsSize: -1}, failure.InvalidModel, "weights size"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := SaveModel(ctx, tc.dir, tc.m, SaveOptions{})
			if failure.CodeOf(err) != tc.code || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err %v, want %s containing %q", err, tc.code, tc.msg)
			}
		})
	}
	if b, _ := os.ReadFile(filepath.Join(nonEmpty, "x")); string(b) != "x" {
		t.Error("refused save touched the existing file")
	}
}

func TestSaveModelCanceledCleansUp(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	dir := filepath.Join(t.TempDir(), "m")
	// Cancel while the weights stream: the save must stop and leave nothing.
	m := fakemodel.FakeModel{Offset: 1, WeightsSize: 64 << 20}
	go func() {
		for {
			if _, err := os.Stat(filepath.Join(dir, DataFile)); err == nil {
				cancel()
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	_, err := SaveModel(ctx, dir, m, SaveOptions{})
	if err == nil {
		t.Fatal("canceled save succeeded")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Errorf("canceled save left %d entries", len(entries))
	}
	// The directory is reusable.
	if _, err := SaveModel(context.Background(), dir, fakemodel.New(2), SaveOptions{}); err != nil {
		t.Errorf("save after cleanup: %v", err)
	}
}
