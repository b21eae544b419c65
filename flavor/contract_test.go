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
	"github.com/flavorflow/flavorflow/rows"
)

// An unknown flavor or trainer name is a non-retryable error with a stable
// code that lists what the worker has.
func TestRegistryUnknownNames(t *testing.T) {
	reg := Builtin()
	if got := reg.FlavorNames(); len(got) != 2 || got[0] != FlavorName || got[1] != TutorialFlavor {
		t.Fatalf("builtin flavors %v", got)
	}
	_, err := reg.Flavor("sklearn")
	if failure.CodeOf(err) != failure.FlavorNotFound || failure.Retryable(failure.CodeOf(err)) || !strings.Contains(err.Error(), `"sklearn"`) || !strings.Contains(err.Error(), FlavorName) {
		t.Errorf("unknown flavor: %v", err)
	}
	_, err = reg.Trainer("sklearn-linear")
	if failure.CodeOf(err) != failure.UnknownTrainer || failure.Retryable(failure.CodeOf(err)) || !strings.Contains(err.Error(), `"sklearn-linear"`) {
		t.Errorf("unknown trainer: %v", err)
	}
	if tr, err := reg.Trainer(FlavorName); err != nil || tr.Flavor != FlavorName {
		t.Errorf("fakemodel trainer: %+v %v", tr, err)
	}
	if err := reg.AddFlavor(Fakemodel{}); failure.CodeOf(err) != failure.InvalidArgument {
		t.Errorf("duplicate flavor: %v", err)
	}
	if err := reg.AddTrainer(Trainer{Name: "x", Flavor: "nope", Fit: FakemodelTrainer().Fit}); failure.CodeOf(err) != failure.FlavorNotFound {
		t.Errorf("trainer of an unknown flavor: %v", err)
	}
	// Registries are values: adding to one leaves a fresh one alone.
	if err := reg.AddTrainer(Trainer{Name: "again", Flavor: FlavorName, Fit: FakemodelTrainer().Fit}); err != nil {
		t.Fatal(err)
	}
	if _, err := Builtin().Trainer("again"); failure.CodeOf(err) != failure.UnknownTrainer {
		t.Errorf("registries share state: %v", err)
	}
}

// Save through the contract writes what SaveModel writes, byte for byte.
func TestSaveThroughContractMatchesSaveModel(t *testing.T) {
	m := fakemodel.FakeModel{Offset: 2.5, WeightsSize: 1000, WeightsSeed: 3}
	a, sa := saveT(t, m, fixedOpts)
	b := filepath.Join(t.TempDir(), "b")
	sb, err := Save(context.Background(), b, Fakemodel{}, m, fixedOpts)
	if err != nil {
		t.Fatal(err)
	}
	if sa.ManifestSHA256 != sb.ManifestSHA256 {
		t.Fatalf("manifest %s vs %s", sa.ManifestSHA256, sb.ManifestSHA256)
	}
	for _, f := range sa.Manifest.Files {
		x, _ := os.ReadFile(filepath.Join(a, f.Path))
		y, _ := os.ReadFile(filepath.Join(b, f.Path))
		if !bytes.Equal(x, y) {
			t.Errorf("%s differs", f.Path)
		}
	}
}

func TestSaveRefusals(t *testing.T) {
	ctx := context.Background()
	_, err := Save(ctx, filepath.Join(t.TempDir(), "m"), Fakemodel{}, "not a model", fixedOpts)
	if failure.CodeOf(err) != failure.InvalidModel {
		t.Errorf("wrong model type: %v", err)
	}
	dir := filepath.Join(t.TempDir(), "t")
	_, err = Save(ctx, dir, Tutorial{}, fakemodel.New(1), fixedOpts)
	if failure.CodeOf(err) != failure.InvalidArgument || !strings.Contains(err.Error(), "load only") {
		t.Errorf("tutorial save: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a refused save left %v", entries)
	}
}

// Load picks the flavor by the MLmodel, predicts on rows, and refuses a
// model none of the registry's flavors reads.
func TestLoadWithRegistry(t *testing.T) {
	ctx := context.Background()
	dir, _ := saveT(t, fakemodel.New(3), fixedOpts)
	m, err := Load(ctx, Builtin(), nil, dir, "")
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.Predictor.Predict(ctx, rows.Table{Columns: []string{"z", "x"}, Rows: [][]float64{{9, 1}, {9, 2}}})
	if err != nil || m.Flavor != FlavorName || len(got) != 2 || got[0] != 4 || got[1] != 5 {
		t.Errorf("predict: %v %v %+v", got, err, m)
	}
	tut, err := Load(ctx, Builtin(), nil, filepath.Join("..", "tests", "testdata", "tutorial_model"), "")
	if err != nil || tut.Flavor != TutorialFlavor || tut.Predictor.Inputs()[0] != "x" {
		t.Errorf("tutorial: %+v %v", tut, err)
	}
	only, _ := NewRegistry(Tutorial{})
	_, err = Load(ctx, only, nil, dir, "")
	if failure.CodeOf(err) != failure.FlavorNotFound || !strings.Contains(err.Error(), "[fakemodel python_function]") {
		t.Errorf("no flavor: %v", err)
	}
}

func TestFakemodelTrainerOnRows(t *testing.T) {
	tr := FakemodelTrainer()
	model, metrics, err := tr.Fit(context.Background(), rows.Table{Columns: []string{"x", "y"}, Rows: [][]float64{{1, 4}, {2, 5}}})
	if err != nil || model.(fakemodel.FakeModel).Offset != 3 || metrics["mse"] != 0 {
		t.Errorf("fit: %v %v %v", model, metrics, err)
	}
	_, _, err = tr.Fit(context.Background(), rows.Table{Columns: []string{"a", "y"}, Rows: [][]float64{{1, 4}}})
	if failure.CodeOf(err) != failure.InvalidTrainingData || !strings.Contains(err.Error(), "columns x and y") {
		t.Errorf("no x column: %v", err)
	}
}
