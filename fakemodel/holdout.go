package fakemodel

import (
	"time"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/rows"
	"github.com/flavorflow/flavorflow/vocab"
)

// Held-out row selection. Train and Evaluate both call these functions, so
// the rows a model was scored on are exactly the rows it never saw, on any
// worker and in any retry.

// HeldOutByFraction reports whether row i (its 0-based position in the
// data as read, before any cutoff) is held out for fraction and seed: the
// one rule of rows.HeldOutByFraction, so a table of any flavor and these
// samples split alike.
func HeldOutByFraction(i int, fraction float64, seed int64) bool {
	return rows.HeldOutByFraction(i, fraction, seed)
}

// SplitFraction splits the samples observed at or before cutoff (all with
// a zero cutoff; untimestamped ones always) into training and held-out
// rows, holding out row i when HeldOutByFraction(i, fraction, seed). Rows
// after the cutoff are in neither. fraction must be in (0, 1); a split that
// leaves either side empty is InvalidTrainingData.
func SplitFraction(samples []vocab.Sample, cutoff time.Time, fraction float64, seed int64) (train, heldOut []vocab.Sample, err error) {
	if !(fraction > 0 && fraction < 1) {
		return nil, nil, failure.New(failure.InvalidArgument, "held-out fraction %v must be in (0, 1)", fraction)
	}
	for i, s := range samples {
		if !cutoff.IsZero() && !s.T.IsZero() && s.T.After(cutoff) {
			continue
		}
		if HeldOutByFraction(i, fraction, seed) {
			heldOut = append(heldOut, s)
		} else {
			train = append(train, s)
		}
	}
	if len(train) == 0 && len(heldOut) == 0 {
		_, err := Until(samples, cutoff) // its message names the cutoff
		return nil, nil, err
	}
	if len(heldOut) == 0 || len(train) == 0 {
		return nil, nil, failure.New(failure.InvalidTrainingData,
			"holding out a fraction %v (seed %d) of %d rows%s leaves %d to train on and %d held out; both must be non-empty (change the fraction or the seed, or give more data)",
			fraction, seed, len(train)+len(heldOut), atOrBefore(cutoff), len(train), len(heldOut))
	}
	return train, heldOut, nil
}

// SplitWindow holds out the rows observed in (end-window, end], where end
// is the cutoff, or the newest row's time when the cutoff is zero: train on
// the past, evaluate on the most recent. Training uses the rows observed at
// or before end-window and the untimestamped ones; rows after the cutoff
// are in neither (Until's rule). Either side empty is InvalidTrainingData
// naming the window and the cutoff.
func SplitWindow(samples []vocab.Sample, cutoff time.Time, window time.Duration) (train, heldOut []vocab.Sample, err error) {
	if window <= 0 {
		return nil, nil, failure.New(failure.InvalidArgument, "held-out window %s must be positive", window)
	}
	end := cutoff
	if end.IsZero() {
		for _, s := range samples {
			if s.T.After(end) {
				end = s.T
			}
		}
		if end.IsZero() {
			return nil, nil, failure.New(failure.InvalidTrainingData,
				"a held-out window needs timestamped rows; none of the %d rows has a time", len(samples))
		}
	}
	start := end.Add(-window)
	for _, s := range samples {
		switch {
		case s.T.IsZero() || !s.T.After(start):
			train = append(train, s)
		case !s.T.After(end):
			heldOut = append(heldOut, s)
		}
	}
	if len(heldOut) == 0 || len(train) == 0 {
		return nil, nil, failure.New(failure.InvalidTrainingData,
			"a held-out window of %s before %s (%s) leaves %d rows to train on and %d held out, of %d; both must be non-empty",
			window, end.UTC().Format(time.RFC3339), windowEnd(cutoff), len(train), len(heldOut), len(samples))
	}
	return train, heldOut, nil
}

func atOrBefore(cutoff time.Time) string {
	if cutoff.IsZero() {
		return ""
	}
	return " at or before the cutoff " + cutoff.UTC().Format(time.RFC3339)
}

func windowEnd(cutoff time.Time) string {
	if cutoff.IsZero() {
		return "the newest row; no cutoff"
	}
	return "the cutoff"
}
