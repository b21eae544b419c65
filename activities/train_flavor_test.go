package activities

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/flavor"
	"github.com/flavorflow/flavorflow/rows"
	"github.com/flavorflow/flavorflow/vocab"
)

// otherFlavor stands for a flavor the later steps do not handle yet.
type otherFlavor struct{ flavor.Tutorial }

func (otherFlavor) Name() string { return "other" }

// Train resolves the trainer and flavor in the worker's registry: unknown
// names are non-retryable with their own codes, the default is fakemodel.
func TestTrainResolvesTrainerAndFlavor(t *testing.T) {
	ctx := context.Background()
	reg := flavor.Builtin()
	if err := reg.AddFlavor(otherFlavor{}); err != nil {
		t.Fatal(err)
	}
	fit := func(context.Context, rows.Table) (any, map[string]float64, error) { return nil, nil, nil }
	if err := reg.AddTrainer(flavor.Trainer{Name: "other-fit", Flavor: "other", Fit: fit}); err != nil {
		t.Fatal(err)
	}
	if err := reg.AddTrainer(flavor.Trainer{Name: "fake-fit", Flavor: "fakemodel", Fit: fit}); err != nil {
		t.Fatal(err)
	}
	a := &Activities{Flavors: reg}
	data := vocab.TrainingData{Pairs: []vocab.Sample{{X: 1, Y: 4}, {X: 2, Y: 5}}}
	base, err := a.train(ctx, TrainInput{ModelName: "m", Data: data})
	if err != nil {
		t.Fatal(err)
	}
	named, err := a.train(ctx, TrainInput{ModelName: "m", Data: data, Flavor: "fakemodel", Trainer: "fakemodel"})
	if err != nil || named.Model != base.Model || named.DataSHA256 != base.DataSHA256 {
		t.Errorf("naming the default: %+v %v, want %+v", named, err, base)
	}
	for _, tc := range []struct {
		in       TrainInput
		code     failure.Code
		contains string
	}{
		{TrainInput{Trainer: "sklearn-linear"}, failure.UnknownTrainer, `unknown trainer "sklearn-linear"`},
		{TrainInput{Flavor: "sklearn"}, failure.FlavorNotFound, `unknown flavor "sklearn"`},
		{TrainInput{Flavor: "other"}, failure.InvalidArgument, `trainer "fakemodel" fits flavor "fakemodel", not "other"`},
		{TrainInput{Trainer: "other-fit"}, failure.InvalidArgument, "does not implement flavor.Decoder"},
		{TrainInput{Trainer: "fake-fit"}, failure.InvalidArgument, "by the fakemodel trainer only"},
	} {
		tc.in.ModelName, tc.in.Data = "m", data
		_, err := a.Train(ctx, tc.in)
		var app *temporal.ApplicationError
		if !errors.As(err, &app) || app.Type() != string(tc.code) || !app.NonRetryable() || !strings.Contains(err.Error(), tc.contains) {
			t.Errorf("%+v: %v, want %s with %q", tc.in, err, tc.code, tc.contains)
		}
	}
	// Without a registry the worker has the built-in one.
	if _, err := (&Activities{}).train(ctx, TrainInput{ModelName: "m", Data: data, Trainer: "nope"}); failure.CodeOf(err) != failure.UnknownTrainer {
		t.Errorf("nil registry: %v", err)
	}
}

// A trainer of another flavor fits the rows of a file up to the cutoff
// (its t column), and carries the model as JSON with the predictions the
// version must reproduce.
func TestTrainOtherFlavorHonoursCutoff(t *testing.T) {
	reg := flavor.Builtin()
	if err := reg.AddFlavor(linearStub{}); err != nil {
		t.Fatal(err)
	}
	var fitted int
	err := reg.AddTrainer(flavor.Trainer{Name: "count", Flavor: "stub", Fit: func(_ context.Context, d rows.Table) (any, map[string]float64, error) {
		fitted = d.Len()
		return stubModel{Rows: d.Len()}, map[string]float64{"mse": 0.5, "rows": float64(d.Len())}, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	a := &Activities{Flavors: reg}
	path := filepath.Join(t.TempDir(), "rows.csv")
	if err := os.WriteFile(path, []byte("t,a,y\n2026-01-01T00:00:00Z,1,2\n2026-01-02T00:00:00Z,2,4\n2026-01-03T00:00:00Z,3,6\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := a.train(context.Background(), TrainInput{ModelName: "m", Data: vocab.TrainingData{Path: path}, Trainer: "count", Cutoff: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	if fitted != 2 || out.Flavor != "stub" || string(out.Params) != `{"rows":2}` || out.Stats.N != 2 || out.Metrics["rows"] != 2 {
		t.Errorf("fitted %d rows: %+v", fitted, out)
	}
	if out.Check == nil || len(out.Check.Predictions) != 2 || out.Check.Predictions[1] != 4 || strings.Join(out.Check.Rows.Columns, ",") != "a" {
		t.Errorf("check %+v", out.Check)
	}
	// A held-out window: the newest day is kept out of the fit (Evaluate
	// scores it), and the output says so.
	out, err = a.train(context.Background(), TrainInput{ModelName: "m", Data: vocab.TrainingData{Path: path}, Trainer: "count", Holdout: vocab.Holdout{Window: 24 * time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	if fitted != 2 || out.HeldOutRows != 1 || !strings.Contains(out.HeldOut, "window 24h0m0s before 2026-01-03T00:00:00Z") {
		t.Errorf("holdout window: fitted %d rows, held out %d (%q)", fitted, out.HeldOutRows, out.HeldOut)
	}
}

// stubModel predicts its row count times a, through a minimal flavor.
type stubModel struct {
	Rows int `json:"rows"`
}

type linearStub struct{}

func (linearStub) Name() string           { return "stub" }
func (linearStub) Pyfunc() *flavor.Pyfunc { return nil }
func (linearStub) Save(_ context.Context, m any, files *flavor.Files) (map[string]any, error) {
	b, _ := json.Marshal(m)
	return map[string]any{"data": "stub.json"}, files.WriteBytes("stub.json", b)
}
func (linearStub) Load(_ context.Context, dir *flavor.Dir, _ map[string]any) (flavor.Predictor, error) {
	f, err := dir.Open("stub.json")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var m stubModel
	return m, json.NewDecoder(f).Decode(&m)
}
func (linearStub) DecodeModel(b []byte) (any, error) {
	var m stubModel
	return m, json.Unmarshal(b, &m)
}
func (stubModel) Inputs() []string { return []string{"a"} }
func (m stubModel) Predict(_ context.Context, in rows.Table) ([]float64, error) {
	a, err := in.Column("a")
	for i := range a {
		a[i] *= float64(m.Rows)
	}
	return a, err
}
