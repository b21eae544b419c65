package activities

import (
	"bufio"
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/fakemodel"
	"github.com/flavorflow/flavorflow/vocab"
)

// Train fits only the samples observed at or before the cutoff.
func TestTrainHonoursCutoff(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2026, 1, d, 0, 0, 0, 0, time.UTC) }
	data := vocab.TrainingData{Pairs: []vocab.Sample{{X: 0, Y: 1, T: day(1)}, {X: 0, Y: 3, T: day(2)}, {X: 0, Y: 5, T: day(3)}}}
	a := &Activities{}
	for cutoff, want := range map[time.Time]float64{{}: 3, day(1): 1, day(2): 2, day(3).Add(time.Hour): 3} {
		out, err := a.train(context.Background(), TrainInput{ModelName: "m", Data: data, Cutoff: cutoff})
		if err != nil || out.Model.Offset != want {
			t.Errorf("cutoff %v: offset %v, err %v; want %v", cutoff, out.Model.Offset, err, want)
		}
	}
	_, err := a.train(context.Background(), TrainInput{ModelName: "m", Data: data, Cutoff: day(1).Add(-time.Hour)})
	if failure.CodeOf(err) != failure.InvalidTrainingData || !strings.Contains(err.Error(), "2025-12-31T23:00:00Z") {
		t.Fatalf("cutoff before all data: %v", err)
	}
}

// Train refuses data over the limits, and pairs whose fit overflows, with a
// non-retryable InvalidTrainingData, for callers that bypass the starter:
// a 72 MB file of 900k rows (over the bytes, under the samples), a file of
// MaxSamples+1 rows, and x=-1e308, y=1e308.
func TestTrainRefusesDataOverTheLimits(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, rows int, row string) string {
		p := filepath.Join(dir, name)
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		w := bufio.NewWriter(f)
		for i := 0; i < rows; i++ {
			_, _ = w.WriteString(row)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// 80-byte rows: 900k of them are 72 MB.
	wide := write("wide.csv", 900_000, "1.00000000000000000000000000000000000,4.000000000000000000000000000000000000000\n")
	many := write("many.csv", fakemodel.MaxSamples+1, "1,4\n")
	a := &Activities{}
	for name, data := range map[string]vocab.TrainingData{
		"72 MB file":      {Path: wide},
		"too many rows":   {Path: many},
		"offset overflow": {Pairs: []vocab.Sample{{X: -1e308, Y: 1e308}}},
	} {
		_, err := a.Train(context.Background(), TrainInput{ModelName: "m", Data: data})
		var app *temporal.ApplicationError
		if !errors.As(err, &app) || app.Type() != string(failure.InvalidTrainingData) || !app.NonRetryable() {
			t.Errorf("%s: err = %v, want a non-retryable InvalidTrainingData", name, err)
		}
		// The starter's check is the same function.
		if _, _, _, err := fakemodel.FitData(data, time.Time{}); failure.CodeOf(err) != failure.InvalidTrainingData {
			t.Errorf("%s: FitData err = %v, want InvalidTrainingData", name, err)
		}
	}
}

// heldOutData is 200 rows: those a fraction 0.25 with seed 5 holds out
// follow y = x + 50, the others y = x + 1. A Train that fits every row
// gets an offset far from 1.
func heldOutData(t *testing.T) (vocab.TrainingData, vocab.Holdout, int) {
	t.Helper()
	h := vocab.Holdout{Fraction: 0.25, Seed: 5}
	var pairs []vocab.Sample
	held := 0
	for i := range 200 {
		off := 1.0
		if fakemodel.HeldOutByFraction(i, h.Fraction, h.Seed) {
			off, held = 50, held+1
		}
		pairs = append(pairs, vocab.Sample{X: float64(i), Y: float64(i) + off})
	}
	if held == 0 || held == 200 {
		t.Fatalf("the fixture holds out %d rows", held)
	}
	return vocab.TrainingData{Pairs: pairs}, h, held
}

// Train fits only the rows the holdout keeps for training, and records
// their count and digest and what was held out.
func TestTrainExcludesHeldOutRows(t *testing.T) {
	a := &Activities{}
	ctx := context.Background()
	data, h, held := heldOutData(t)
	out, err := a.train(ctx, TrainInput{ModelName: "m", Data: data, Holdout: h})
	if err != nil {
		t.Fatal(err)
	}
	if out.Model.Offset != 1 || out.Stats.N != 200-held || out.HeldOutRows != held {
		t.Fatalf("offset %v on %d rows (%d held out); want 1 on %d (%d held out)", out.Model.Offset, out.Stats.N, out.HeldOutRows, 200-held, held)
	}
	var train []vocab.Sample
	for _, s := range data.Pairs {
		if s.Y == s.X+1 {
			train = append(train, s)
		}
	}
	if out.DataSHA256 != samplesDigest(train) || !strings.Contains(out.HeldOut, "fraction 0.25") {
		t.Errorf("data sha %s held out %q: not the training rows' digest", out.DataSHA256, out.HeldOut)
	}

	// A window: the rows of the last two days are held out.
	day := func(d int) time.Time { return time.Date(2026, 1, d, 0, 0, 0, 0, time.UTC) }
	win := vocab.TrainingData{Pairs: []vocab.Sample{{X: 0, Y: 1, T: day(1)}, {X: 0, Y: 1, T: day(2)}, {X: 0, Y: 9, T: day(3)}, {X: 0, Y: 9, T: day(4)}, {X: 0, Y: 9, T: day(5)}}}
	out, err = a.train(ctx, TrainInput{ModelName: "m", Data: win, Holdout: vocab.Holdout{Window: 48 * time.Hour}, Cutoff: day(4)})
	if err != nil || out.Model.Offset != 1 || out.Stats.N != 2 || out.HeldOutRows != 2 {
		t.Fatalf("window: %+v %v", out, err)
	}

	// A separate evaluation set: every training row trains, and bad
	// evaluation data fails Train, before anything is logged.
	out, err = a.train(ctx, TrainInput{ModelName: "m", Data: data, Holdout: vocab.Holdout{Data: &vocab.TrainingData{Pairs: data.Pairs[:3]}}})
	if err != nil || out.Stats.N != 200 || out.HeldOutRows != 3 {
		t.Fatalf("evaluation set: %+v %v", out, err)
	}
	_, err = a.Train(ctx, TrainInput{ModelName: "m", Data: data, Holdout: vocab.Holdout{Data: &vocab.TrainingData{Path: filepath.Join(t.TempDir(), "missing.csv")}}})
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || app.Type() != string(failure.InvalidTrainingData) || !app.NonRetryable() || !strings.Contains(err.Error(), "evaluation data") {
		t.Fatalf("missing evaluation file: %v", err)
	}
}

func TestHoldoutValidate(t *testing.T) {
	pairs := &vocab.TrainingData{Pairs: []vocab.Sample{{X: 1, Y: 2}}}
	for _, h := range []vocab.Holdout{{}, {Fraction: 0.5}, {Fraction: 0.5, Seed: -3}, {Window: time.Hour}, {Data: pairs}, {Data: &vocab.TrainingData{Path: "eval.csv"}}} {
		if err := h.Validate(); err != nil {
			t.Errorf("%+v: %v", h, err)
		}
	}
	for _, tc := range []struct {
		h    vocab.Holdout
		code failure.Code
	}{
		{vocab.Holdout{Fraction: 0.5, Window: time.Hour}, failure.InvalidArgument},
		{vocab.Holdout{Data: pairs, Fraction: 0.1}, failure.InvalidArgument},
		{vocab.Holdout{Fraction: 1}, failure.InvalidArgument},
		{vocab.Holdout{Fraction: -0.5}, failure.InvalidArgument},
		{vocab.Holdout{Fraction: math.NaN()}, failure.InvalidArgument},
		{vocab.Holdout{Window: -time.Hour}, failure.InvalidArgument},
		{vocab.Holdout{Data: &vocab.TrainingData{}}, failure.InvalidTrainingData},
		{vocab.Holdout{Data: &vocab.TrainingData{Pairs: pairs.Pairs, Path: "x.csv"}}, failure.InvalidTrainingData},
		{vocab.Holdout{Data: &vocab.TrainingData{Pairs: make([]vocab.Sample, vocab.MaxInlinePairs+1)}}, failure.InvalidTrainingData},
	} {
		if err := tc.h.Validate(); failure.CodeOf(err) != tc.code {
			t.Errorf("%+v: %v, want %s", tc.h, err, tc.code)
		}
	}
}
