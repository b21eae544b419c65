package rows

import (
	"time"

	"github.com/flavorflow/flavorflow/failure"
)

// Held-out row selection for tables. fakemodel's split of (x, y) samples
// and the split of a Table follow one rule, so a FakeModel pipeline and a
// pipeline of any other flavor hold out the same rows of the same data.

// HeldOutByFraction reports whether row i (its 0-based position in the
// data as read, before any cutoff) is held out for fraction and seed. The
// choice is a splitmix64 hash of seed^i mapped to [0, 1): integer
// arithmetic only, so every platform and language (the Python worker
// implements the same function) picks the same rows, and a row keeps its
// fate when rows are appended after it.
func HeldOutByFraction(i int, fraction float64, seed int64) bool {
	z := uint64(seed) ^ uint64(i)
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	// The top 53 bits are exactly representable: u is in [0, 1).
	u := float64(z>>11) / (1 << 53)
	return u < fraction
}

// SplitFraction splits the rows observed at or before cutoff (all with a
// zero cutoff; rows without a time always) into training and held-out
// rows, holding out row i when HeldOutByFraction(i, fraction, seed). Rows
// after the cutoff are in neither. Either side empty is InvalidTrainingData.
func (t Table) SplitFraction(cutoff time.Time, fraction float64, seed int64) (train, heldOut Table, err error) {
	if !(fraction > 0 && fraction < 1) {
		return Table{}, Table{}, failure.New(failure.InvalidArgument, "held-out fraction %v must be in (0, 1)", fraction)
	}
	train, heldOut = t.empty(), t.empty()
	for i, row := range t.Rows {
		ts := t.time(i)
		if !cutoff.IsZero() && !ts.IsZero() && ts.After(cutoff) {
			continue
		}
		if HeldOutByFraction(i, fraction, seed) {
			heldOut.add(row, ts)
		} else {
			train.add(row, ts)
		}
	}
	if train.Len() == 0 && heldOut.Len() == 0 {
		_, err := t.Until(cutoff) // its message names the cutoff
		return Table{}, Table{}, err
	}
	if train.Len() == 0 || heldOut.Len() == 0 {
		at := ""
		if !cutoff.IsZero() {
			at = " at or before the cutoff " + cutoff.UTC().Format(time.RFC3339)
		}
		return Table{}, Table{}, failure.New(failure.InvalidTrainingData,
			"holding out a fraction %v (seed %d) of %d rows%s leaves %d to train on and %d held out; both must be non-empty (change the fraction or the seed, or give more data)",
			fraction, seed, train.Len()+heldOut.Len(), at, train.Len(), heldOut.Len())
	}
	return train, heldOut, nil
}

// SplitWindow holds out the rows observed in (end-window, end], where end
// is the cutoff, or the newest row's time when the cutoff is zero: train on
// the past, evaluate on the most recent. Training uses the rows observed at
// or before end-window and the rows without a time; rows after the cutoff
// are in neither. It returns end. Either side empty is InvalidTrainingData
// naming the window and the cutoff.
func (t Table) SplitWindow(cutoff time.Time, window time.Duration) (train, heldOut Table, end time.Time, err error) {
	if window <= 0 {
		return Table{}, Table{}, time.Time{}, failure.New(failure.InvalidArgument, "held-out window %s must be positive", window)
	}
	end = cutoff
	if end.IsZero() {
		for i := range t.Rows {
			if ts := t.time(i); ts.After(end) {
				end = ts
			}
		}
		if end.IsZero() {
			return Table{}, Table{}, time.Time{}, failure.New(failure.InvalidTrainingData,
				"a held-out window needs timestamped rows; none of the %d rows has a time", t.Len())
		}
	}
	start := end.Add(-window)
	train, heldOut = t.empty(), t.empty()
	for i, row := range t.Rows {
		switch ts := t.time(i); {
		case ts.IsZero() || !ts.After(start):
			train.add(row, ts)
		case !ts.After(end):
			heldOut.add(row, ts)
		}
	}
	if heldOut.Len() == 0 || train.Len() == 0 {
		which := "the cutoff"
		if cutoff.IsZero() {
			which = "the newest row; no cutoff"
		}
		return Table{}, Table{}, time.Time{}, failure.New(failure.InvalidTrainingData,
			"a held-out window of %s before %s (%s) leaves %d rows to train on and %d held out, of %d; both must be non-empty",
			window, end.UTC().Format(time.RFC3339), which, train.Len(), heldOut.Len(), t.Len())
	}
	return train, heldOut, end, nil
}

// time is row i's observation time (zero: always).
func (t Table) time(i int) time.Time {
	if t.Times == nil {
		return time.Time{}
	}
	return t.Times[i]
}

// empty is a table of t's columns and no rows, timed when t is.
func (t Table) empty() Table {
	out := Table{Columns: t.Columns}
	if t.Times != nil {
		out.Times = []time.Time{}
	}
	return out
}

func (t *Table) add(row []float64, ts time.Time) {
	t.Rows = append(t.Rows, row)
	if t.Times != nil {
		t.Times = append(t.Times, ts)
	}
}
