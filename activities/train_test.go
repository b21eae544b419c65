package activities

import (
	"bufio"
	"context"
	"errors"
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
