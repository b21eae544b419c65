// Package flavortest is the conformance suite for flavor.Flavor, as
// store/storetest is for stores: it runs over every flavor of a registry
// (the one the worker's main builds), so a flavor added there is checked
// without anyone listing it. For each flavor it trains a model with the
// registry's trainer of that flavor (or, for a load-only flavor, starts
// from a fixture directory), and checks save → manifest → load → predict,
// that saves are reproducible (a retried step re-saves the same bytes),
// that a model carried as JSON re-saves the same bytes (flavor.Decoder),
// and that every kind of damage to the saved directory — a flipped byte in
// any file, a missing file, an extra file, a missing or garbled manifest —
// is refused with ChecksumMismatch or InvalidManifest, never loaded.
package flavortest

import (
	"context"
	"encoding/json"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/flavor"
	"github.com/flavorflow/flavorflow/rows"
)

// Options configure Run.
type Options struct {
	// Data is the table a flavor's trainers fit, by trainer name; the
	// default is x = 0..7, y = x + 3, which fakemodel and linear fit
	// exactly.
	Data map[string]rows.Table
	// Fixtures are model directories of load-only flavors (no trainer in
	// the registry), by flavor name. A load-only flavor without one fails
	// the suite: it would otherwise go unchecked.
	Fixtures map[string]string
}

// DefaultData is the table trainers fit unless Options.Data says otherwise.
func DefaultData() rows.Table {
	t := rows.Table{Columns: []string{"x", "y"}}
	for i := range 8 {
		t.Rows = append(t.Rows, []float64{float64(i), float64(i) + 3})
	}
	return t
}

// saveOpts make saves reproducible, as a pipeline's are (docs §1).
var saveOpts = flavor.SaveOptions{
	ModelUUID: "3f2504e0-4f89-51d3-9a0c-0305e82c3301",
	Created:   time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
}

// Run checks every flavor of reg.
func Run(t *testing.T, reg *flavor.Registry, opts Options) {
	names := reg.FlavorNames()
	if len(names) == 0 {
		t.Fatal("the registry has no flavors")
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			fl, err := reg.Flavor(name)
			if err != nil {
				t.Fatal(err)
			}
			trainers := trainersOf(reg, name)
			if len(trainers) == 0 {
				fixture, ok := opts.Fixtures[name]
				if !ok {
					t.Fatalf("flavor %s has no trainer in the registry and no fixture (Options.Fixtures): nothing checks it", name)
				}
				dir := fixtureDir(t, fixture)
				checkLoadAndDamage(t, reg, name, dir, nil)
				return
			}
			for _, tr := range trainers {
				t.Run(tr.Name, func(t *testing.T) {
					data, ok := opts.Data[tr.Name]
					if !ok {
						data = DefaultData()
					}
					runTrained(t, reg, fl, tr, data)
				})
			}
		})
	}
}

func trainersOf(reg *flavor.Registry, name string) []flavor.Trainer {
	var out []flavor.Trainer
	for _, tn := range reg.TrainerNames() {
		if tr, err := reg.Trainer(tn); err == nil && tr.Flavor == name {
			out = append(out, tr)
		}
	}
	return out
}

func runTrained(t *testing.T, reg *flavor.Registry, fl flavor.Flavor, tr flavor.Trainer, data rows.Table) {
	ctx := context.Background()
	model, metrics, err := tr.Fit(ctx, data)
	if err != nil {
		t.Fatalf("fit: %v", err)
	}
	for k, v := range metrics {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Errorf("metric %s = %v cannot be recorded", k, v)
		}
	}
	dir := filepath.Join(t.TempDir(), "model")
	saved, err := flavor.Save(ctx, dir, fl, model, saveOpts)
	if err != nil {
		t.Fatalf("save: %v", err)
	}

	// The manifest lists every file but itself, and its hash is the one
	// Save reports.
	m, sha, err := flavor.VerifyDir(dir)
	if err != nil || sha != saved.ManifestSHA256 {
		t.Fatalf("VerifyDir: %s %v, Save said %s", sha, err, saved.ManifestSHA256)
	}
	if got, want := listFiles(t, dir), manifestPaths(m, true); !slices.Equal(got, want) {
		t.Errorf("files %v, manifest lists %v (+ itself)", got, want)
	}
	ml := readMLmodel(t, dir)
	if _, ok := ml.Flavors[fl.Name()]; !ok {
		t.Errorf("MLmodel has flavors %v, not %s", keys(ml.Flavors), fl.Name())
	}
	if _, ok := ml.Flavors["python_function"]; ok != (fl.Pyfunc() != nil) {
		t.Errorf("python_function in MLmodel: %v; the flavor ships a pyfunc loader: %v", ok, fl.Pyfunc() != nil)
	}

	// Saves are reproducible: a retry on another worker re-saves the same
	// bytes, and a model carried between steps as JSON too.
	again, err := flavor.Save(ctx, filepath.Join(t.TempDir(), "again"), fl, model, saveOpts)
	if err != nil || again.ManifestSHA256 != saved.ManifestSHA256 {
		t.Errorf("a second save: %s %v, the first %s", again.ManifestSHA256, err, saved.ManifestSHA256)
	}
	if dec, ok := fl.(flavor.Decoder); ok {
		js, err := json.Marshal(model)
		if err != nil {
			t.Fatalf("the trained model does not marshal to JSON: %v", err)
		}
		back, err := dec.DecodeModel(js)
		if err != nil {
			t.Fatalf("DecodeModel of the trained model's JSON: %v", err)
		}
		fromJSON, err := flavor.Save(ctx, filepath.Join(t.TempDir(), "json"), fl, back, saveOpts)
		if err != nil || fromJSON.ManifestSHA256 != saved.ManifestSHA256 {
			t.Errorf("a save of the model decoded from its JSON: %s %v, want %s", fromJSON.ManifestSHA256, err, saved.ManifestSHA256)
		}
		if _, err := dec.DecodeModel([]byte(`{"not": "a model"`)); failure.CodeOf(err) != failure.InvalidModel {
			t.Errorf("DecodeModel of broken JSON: %v, want InvalidModel", err)
		}
	}
	if _, err := flavor.Save(ctx, filepath.Join(t.TempDir(), "wrong"), fl, struct{}{}, saveOpts); failure.CodeOf(err) != failure.InvalidModel {
		t.Errorf("save of a value that is no model of the flavor: %v, want InvalidModel", err)
	}

	checkLoadAndDamage(t, reg, fl.Name(), dir, &data)
}

// checkLoadAndDamage loads dir through the registry, predicts, and then
// loads damaged copies of it.
func checkLoadAndDamage(t *testing.T, reg *flavor.Registry, name, dir string, data *rows.Table) {
	ctx := context.Background()
	loaded, err := flavor.Load(ctx, reg, nil, dir, "")
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if loaded.Flavor != name {
		t.Errorf("loaded by flavor %s, want %s", loaded.Flavor, name)
	}
	_, sha, err := flavor.VerifyDir(dir)
	if err != nil || loaded.ManifestSHA256 != sha {
		t.Errorf("loaded with manifest %q, the directory's is %q (%v)", loaded.ManifestSHA256, sha, err)
	}
	in := inputTable(loaded.Predictor.Inputs(), data)
	got, err := loaded.Predictor.Predict(ctx, in)
	if err != nil {
		t.Fatalf("predict: %v", err)
	}
	if len(got) != in.Len() {
		t.Fatalf("%d predictions for %d rows", len(got), in.Len())
	}
	for i, v := range got {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Errorf("prediction %d is %v", i, v)
		}
	}
	if data != nil {
		// The default data is fitted exactly by a least-squares model;
		// other tables only need predictions a load can reproduce.
		if y := data.Index("y"); y >= 0 && slices.Equal(data.Columns, DefaultData().Columns) {
			for i, row := range data.Rows {
				if math.Abs(got[i]-row[y]) > 1e-9*math.Max(1, math.Abs(row[y])) {
					t.Errorf("row %d: predicted %v, want %v", i, got[i], row[y])
				}
			}
		}
	}
	if _, err := loaded.Predictor.Predict(ctx, rows.Table{Columns: []string{"nope"}, Rows: [][]float64{{1}}}); err == nil {
		t.Errorf("predict on a table without the inputs %v succeeded", loaded.Predictor.Inputs())
	}

	m, _, err := flavor.VerifyDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	damage := func(what string, want failure.Code, edit func(t *testing.T, d string)) {
		t.Run(what, func(t *testing.T) {
			d := copyDir(t, dir)
			edit(t, d)
			_, err := flavor.Load(ctx, reg, nil, d, "")
			if failure.CodeOf(err) != want {
				t.Fatalf("load of a directory with %s: %v, want %s", what, err, want)
			}
			if failure.Retryable(want) {
				t.Fatalf("%s is retryable", want)
			}
		})
	}
	for _, f := range m.Files {
		damage("flipped byte in "+f.Path, failure.ChecksumMismatch, func(t *testing.T, d string) { flipByte(t, filepath.Join(d, f.Path)) })
		// A directory without MLmodel is no model at all (InvalidMLmodel,
		// found before the manifest is read); any other missing file is
		// damage.
		missing := failure.ChecksumMismatch
		if f.Path == flavor.MLmodelFile {
			missing = failure.InvalidMLmodel
		}
		damage("missing "+f.Path, missing, func(t *testing.T, d string) {
			if err := os.Remove(filepath.Join(d, filepath.FromSlash(f.Path))); err != nil {
				t.Fatal(err)
			}
		})
		damage("truncated "+f.Path, failure.ChecksumMismatch, func(t *testing.T, d string) {
			if err := os.Truncate(filepath.Join(d, filepath.FromSlash(f.Path)), f.Size/2); err != nil {
				t.Fatal(err)
			}
		})
	}
	damage("extra file", failure.ChecksumMismatch, func(t *testing.T, d string) { writeFile(t, filepath.Join(d, "extra.py"), "import os\n") })
	damage("extra file in a subdirectory", failure.ChecksumMismatch, func(t *testing.T, d string) {
		writeFile(t, filepath.Join(d, "code", "sitecustomize.py"), "import os\n")
	})
	damage("garbled manifest", failure.InvalidManifest, func(t *testing.T, d string) {
		writeFile(t, filepath.Join(d, flavor.ManifestFile), "<html>")
	})
	// Without its manifest a local directory loads like any Python-written
	// model; VerifyDir, which every pipeline step that trusts a directory
	// runs, refuses it.
	t.Run("missing manifest", func(t *testing.T) {
		d := copyDir(t, dir)
		if err := os.Remove(filepath.Join(d, flavor.ManifestFile)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := flavor.VerifyDir(d); failure.CodeOf(err) != failure.InvalidManifest {
			t.Fatalf("VerifyDir without a manifest: %v, want InvalidManifest", err)
		}
	})
}

// inputTable is a table of the predictor's input columns: the data's
// columns when it has them, else rows 0..3 of every input.
func inputTable(inputs []string, data *rows.Table) rows.Table {
	if data != nil {
		if sel, err := data.Select(inputs...); err == nil {
			return sel
		}
	}
	t := rows.Table{Columns: slices.Clone(inputs)}
	for r := range 4 {
		row := make([]float64, len(inputs))
		for i := range row {
			row[i] = float64(r + i)
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}

// fixtureDir copies a load-only flavor's fixture and writes its manifest.
func fixtureDir(t *testing.T, src string) string {
	t.Helper()
	dir := copyDir(t, src)
	data, _, err := flavor.BuildManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, flavor.ManifestFile), string(data))
	return dir
}

func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "copy")
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	return dst
}

func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

func manifestPaths(m flavor.Manifest, withManifest bool) []string {
	var out []string
	for _, f := range m.Files {
		out = append(out, f.Path)
	}
	if withManifest {
		out = append(out, flavor.ManifestFile)
	}
	slices.Sort(out)
	return out
}

func readMLmodel(t *testing.T, dir string) *flavor.MLmodel {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, flavor.MLmodelFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ml, err := flavor.ParseMLmodel(f)
	if err != nil {
		t.Fatal(err)
	}
	return ml
}

func keys(m map[string]map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func flipByte(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) == 0 {
		b = []byte{0}
	} else {
		b[len(b)/2] ^= 0x01
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
