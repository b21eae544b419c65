package activities

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/fakemodel"
)

// Train fits only the samples observed at or before the cutoff.
func TestTrainHonoursCutoff(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2026, 1, d, 0, 0, 0, 0, time.UTC) }
	data := TrainingData{Pairs: []fakemodel.Sample{{X: 0, Y: 1, T: day(1)}, {X: 0, Y: 3, T: day(2)}, {X: 0, Y: 5, T: day(3)}}}
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
