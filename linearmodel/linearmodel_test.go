package linearmodel

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/flavor"
	"github.com/flavorflow/flavorflow/rows"
)

// y = 1 + 2a - 3b, exactly.
func sample() rows.Table {
	t := rows.Table{Columns: []string{"a", "b", "y"}}
	for i := range 20 {
		a, b := float64(i), float64((i*7)%5)
		t.Rows = append(t.Rows, []float64{a, b, 1 + 2*a - 3*b})
	}
	return t
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*max(1, math.Abs(b)) }

func TestFitRecoversWeights(t *testing.T) {
	m, mse, err := Fit(sample(), "y")
	if err != nil {
		t.Fatal(err)
	}
	if !near(m.Intercept, 1) || !near(m.Weights[0], 2) || !near(m.Weights[1], -3) || mse > 1e-18 ||
		strings.Join(m.Features, ",") != "a,b" || m.Target != "y" {
		t.Errorf("fit %+v mse %v", m, mse)
	}
	// Features in tiny units are not mistaken for constants.
	tiny := sample()
	for _, r := range tiny.Rows {
		r[0] *= 1e-9
	}
	if m, _, err := Fit(tiny, "y"); err != nil || !near(m.Weights[0], 2e9) {
		t.Errorf("tiny units: %+v %v", m, err)
	}
}

func TestFitSingularDesign(t *testing.T) {
	for name, mod := range map[string]func(r []float64, i int){
		"constant column":  func(r []float64, _ int) { r[1] = 4 },
		"duplicate column": func(r []float64, _ int) { r[1] = 2 * r[0] },
		"zero column":      func(r []float64, _ int) { r[1] = 0 },
	} {
		tb := sample()
		for i, r := range tb.Rows {
			mod(r, i)
		}
		_, _, err := Fit(tb, "y")
		if failure.CodeOf(err) != failure.InvalidTrainingData || !strings.Contains(err.Error(), "singular design: column b") {
			t.Errorf("%s: %v", name, err)
		}
	}
	tb := sample()
	tb.Rows = tb.Rows[:2]
	if _, _, err := Fit(tb, "y"); failure.CodeOf(err) != failure.InvalidTrainingData || !strings.Contains(err.Error(), "2 rows cannot determine") {
		t.Errorf("too few rows: %v", err)
	}
	if _, _, err := Fit(sample(), "z"); failure.CodeOf(err) != failure.InvalidTrainingData {
		t.Errorf("no target: %v", err)
	}
}

var opts = flavor.SaveOptions{ModelUUID: "0123456789abcdef0123456789abcdef", Created: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}

func TestSaveLoadPredict(t *testing.T) {
	ctx := context.Background()
	reg, err := flavor.NewRegistry(flavor.Fakemodel{}, Flavor{})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.AddTrainer(Trainer("y")); err != nil {
		t.Fatal(err)
	}
	tr, err := reg.Trainer("linear")
	if err != nil {
		t.Fatal(err)
	}
	model, metrics, err := tr.Fit(ctx, sample())
	if err != nil || metrics["n"] != 20 {
		t.Fatalf("fit: %v %v", metrics, err)
	}
	dir := filepath.Join(t.TempDir(), "m")
	saved, err := flavor.Save(ctx, dir, Flavor{}, model, opts)
	if err != nil {
		t.Fatal(err)
	}
	again, err := flavor.Save(ctx, filepath.Join(t.TempDir(), "m2"), Flavor{}, model, opts)
	if err != nil || again.ManifestSHA256 != saved.ManifestSHA256 {
		t.Errorf("a re-save differs: %v %v", again.ManifestSHA256, err)
	}
	l, err := flavor.Load(ctx, reg, nil, dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if l.Flavor != Name || l.ManifestSHA256 != saved.ManifestSHA256 || strings.Join(l.Predictor.Inputs(), ",") != "a,b" {
		t.Errorf("loaded %+v", l)
	}
	cfg, _ := l.MLmodel.FlavorConfig("python_function")
	if cfg["loader_module"] != Module {
		t.Errorf("pyfunc config %v", cfg)
	}
	got, err := l.Predictor.Predict(ctx, rows.Table{Columns: []string{"b", "a", "extra"}, Rows: [][]float64{{1, 10, 99}, {0, 0, 99}}})
	if err != nil || !near(got[0], 1+20-3) || !near(got[1], 1) {
		t.Errorf("predict %v %v", got, err)
	}
	if _, err := l.Predictor.Predict(ctx, rows.Table{Columns: []string{"a"}, Rows: [][]float64{{1}}}); failure.CodeOf(err) != failure.InvalidArgument || !strings.Contains(err.Error(), `"b"`) {
		t.Errorf("missing feature: %v", err)
	}
	if _, err := flavor.Save(ctx, filepath.Join(t.TempDir(), "bad"), Flavor{}, Model{Features: []string{"a"}, Weights: []float64{math.NaN()}, Target: "y"}, opts); failure.CodeOf(err) != failure.InvalidModel {
		t.Errorf("NaN weight saved: %v", err)
	}
}
