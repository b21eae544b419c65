package fakemodel_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/flavorflow/flavorflow/fakemodel"
	"github.com/flavorflow/flavorflow/rows"
	"github.com/flavorflow/flavorflow/vocab"
)

// The table split and fakemodel's samples split are one rule: on the same
// (x, y) rows, with and without a cutoff, by fraction and by window, they
// hold out the same rows (fakemodel's pipelines and every other flavor's
// evaluate alike), and fail alike when a side would be empty.
func TestTableSplitMatchesSamplesSplit(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var samples []vocab.Sample
	table := rows.Table{Columns: []string{"x", "y"}, Times: []time.Time{}}
	for i := range 50 {
		s := vocab.Sample{X: float64(i), Y: float64(i) * 2, T: base.Add(time.Duration(i) * time.Hour)}
		if i%10 == 0 {
			s.T = time.Time{} // untimestamped rows: always trained on
		}
		samples = append(samples, s)
		table.Rows = append(table.Rows, []float64{s.X, s.Y})
		table.Times = append(table.Times, s.T)
	}
	xs := func(ss []vocab.Sample) string {
		out := ""
		for _, s := range ss {
			out += fmt.Sprint(s.X, " ")
		}
		return out
	}
	xt := func(tb rows.Table) string {
		out := ""
		for _, r := range tb.Rows {
			out += fmt.Sprint(r[0], " ")
		}
		return out
	}
	for _, cutoff := range []time.Time{{}, base.Add(30 * time.Hour)} {
		for _, seed := range []int64{0, 1, 7, -3} {
			for _, f := range []float64{0.1, 0.3, 0.5, 0.9} {
				tr, ho, err := fakemodel.SplitFraction(samples, cutoff, f, seed)
				ttr, tho, terr := table.SplitFraction(cutoff, f, seed)
				if (err == nil) != (terr == nil) {
					t.Fatalf("fraction %v seed %d cutoff %v: errors %v / %v", f, seed, cutoff, err, terr)
				}
				if err == nil && (xs(tr) != xt(ttr) || xs(ho) != xt(tho)) {
					t.Errorf("fraction %v seed %d cutoff %v: samples train %s held %s; table train %s held %s", f, seed, cutoff, xs(tr), xs(ho), xt(ttr), xt(tho))
				}
			}
		}
		for _, w := range []time.Duration{time.Hour, 6 * time.Hour, 100 * time.Hour} {
			tr, ho, err := fakemodel.SplitWindow(samples, cutoff, w)
			ttr, tho, _, terr := table.SplitWindow(cutoff, w)
			if (err == nil) != (terr == nil) {
				t.Fatalf("window %v cutoff %v: errors %v / %v", w, cutoff, err, terr)
			}
			if err == nil && (xs(tr) != xt(ttr) || xs(ho) != xt(tho)) {
				t.Errorf("window %v cutoff %v: samples train %s held %s; table train %s held %s", w, cutoff, xs(tr), xs(ho), xt(ttr), xt(tho))
			}
		}
	}
}
