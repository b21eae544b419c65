package activities

import (
	"context"
	"errors"
	"strings"
	"testing"

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
