package fakemodel

import (
	"time"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/rows"
	"github.com/flavorflow/flavorflow/vocab"
)

// FitData loads the training data, keeps the samples up to cutoff and fits
// them: every check the Train activity makes on its data, with its limits and errors. The
// starter calls it before it starts a pipeline, so data the worker would
// refuse is InvalidTrainingData (exit 2) up front, not a failed pipeline.
func FitData(d vocab.TrainingData, cutoff time.Time) ([]vocab.Sample, FakeModel, Stats, error) {
	sp, model, stats, err := FitSplit(d, vocab.Holdout{}, cutoff)
	return sp.Train, model, stats, err
}

func loadSamples(d vocab.TrainingData) ([]vocab.Sample, error) {
	if len(d.Pairs) > 0 && d.Path != "" {
		return nil, failure.New(failure.InvalidTrainingData, "give training pairs or a data file, not both")
	}
	if err := d.CheckInlineLimit(); err != nil {
		return nil, err
	}
	switch {
	case len(d.Pairs) > 0:
		return d.Pairs, nil
	case d.Path == "":
		return nil, failure.New(failure.InvalidTrainingData, "no training data (neither pairs nor a data file)")
	}
	return ReadFile(d.Path)
}

// Split is the rows a pipeline trains on and the rows it holds out for
// evaluation, with a description of how they were chosen.
type Split struct {
	Train       []vocab.Sample
	HeldOut     []vocab.Sample
	HeldOutDesc string
}

// SplitData reads the training data (and the evaluation data) and splits
// it by h: the one place that decides which rows the Train activity fits and which rows
// the Evaluate activity scores, so the two always agree. Without a holdout every row up
// to the cutoff trains and nothing is held out. A separate evaluation set
// is read with the training data's readers and limits and is not cut by
// the cutoff (every run of a schedule scores on the same set).
func SplitData(d vocab.TrainingData, h vocab.Holdout, cutoff time.Time) (Split, error) {
	if err := h.Validate(); err != nil {
		return Split{}, err
	}
	samples, err := loadSamples(d)
	if err != nil {
		return Split{}, err
	}
	var sp Split
	switch {
	case h.Fraction != 0:
		sp.Train, sp.HeldOut, err = SplitFraction(samples, cutoff, h.Fraction, h.Seed)
		sp.HeldOutDesc = h.String()
	case h.Window != 0:
		sp.Train, sp.HeldOut, err = SplitWindow(samples, cutoff, h.Window)
		sp.HeldOutDesc = "window " + h.Window.String() + " before " + heldOutEnd(sp.HeldOut, cutoff)
	default:
		sp.Train, err = Until(samples, cutoff)
		if err == nil && h.Data != nil {
			sp.HeldOut, err = loadSamples(*h.Data)
			if err != nil {
				err = failure.Wrap(failure.CodeOf(err), err, "evaluation data")
			}
			sp.HeldOutDesc = h.String()
		}
	}
	if err != nil {
		return Split{}, err
	}
	return sp, nil
}

// heldOutEnd names the end of a held-out window: the cutoff, or the newest
// held-out row's time.
func heldOutEnd(heldOut []vocab.Sample, cutoff time.Time) string {
	if !cutoff.IsZero() {
		return cutoff.UTC().Format(time.RFC3339) + " (the cutoff)"
	}
	var end time.Time
	for _, s := range heldOut {
		if s.T.After(end) {
			end = s.T
		}
	}
	return end.UTC().Format(time.RFC3339) + " (the newest row)"
}

// FitSplit is SplitData and a fit of the training rows: every check Train
// makes on its data and holdout. The starter can call it before it starts a
// pipeline with a holdout, as it calls FitData.
func FitSplit(d vocab.TrainingData, h vocab.Holdout, cutoff time.Time) (Split, FakeModel, Stats, error) {
	sp, err := SplitData(d, h, cutoff)
	if err != nil {
		return Split{}, FakeModel{}, Stats{}, err
	}
	model, stats, err := Fit(sp.Train)
	return sp, model, stats, err
}

// ReadTable reads training data as rows of named columns, for flavors
// other than fakemodel: a file (CSV with a header or JSON records, with the
// rows package's readers and limits; column "t" is the time) or inline
// pairs as columns x and y, FakeModel's one-feature case.
func ReadTable(d vocab.TrainingData) (rows.Table, error) {
	switch {
	case len(d.Pairs) > 0 && d.Path != "":
		return rows.Table{}, failure.New(failure.InvalidTrainingData, "give training pairs or a data file, not both")
	case d.Path != "":
		return rows.ReadFile(d.Path, rows.ReadOptions{})
	case len(d.Pairs) == 0:
		return rows.Table{}, failure.New(failure.InvalidTrainingData, "no training data (neither pairs nor a data file)")
	}
	if err := d.CheckInlineLimit(); err != nil {
		return rows.Table{}, err
	}
	t := rows.Table{Columns: []string{"x", "y"}, Times: make([]time.Time, len(d.Pairs))}
	for i, p := range d.Pairs {
		t.Rows = append(t.Rows, []float64{p.X, p.Y})
		t.Times[i] = p.T
	}
	return t, t.Validate()
}

// TableSplit is SplitTable's answer: Split for rows of named columns.
type TableSplit struct {
	Train       rows.Table
	HeldOut     rows.Table // no rows when nothing is held out
	HeldOutDesc string
}

// SplitTable is SplitData for flavors other than fakemodel: the same
// holdout, cutoff and row rules (rows.HeldOutByFraction on the position in
// the data as read; the window before the cutoff or the newest row; an
// evaluation file read with the training data's readers and not cut), on
// rows of named columns. Train and Evaluate both call it, so the rows a
// model is scored on are the rows it never saw.
func SplitTable(d vocab.TrainingData, h vocab.Holdout, cutoff time.Time) (TableSplit, error) {
	if err := h.Validate(); err != nil {
		return TableSplit{}, err
	}
	t, err := ReadTable(d)
	if err != nil {
		return TableSplit{}, err
	}
	var sp TableSplit
	switch {
	case h.Fraction != 0:
		sp.Train, sp.HeldOut, err = t.SplitFraction(cutoff, h.Fraction, h.Seed)
		sp.HeldOutDesc = h.String()
	case h.Window != 0:
		var end time.Time
		sp.Train, sp.HeldOut, end, err = t.SplitWindow(cutoff, h.Window)
		if cutoff.IsZero() {
			sp.HeldOutDesc = "window " + h.Window.String() + " before " + end.UTC().Format(time.RFC3339) + " (the newest row)"
		} else {
			sp.HeldOutDesc = "window " + h.Window.String() + " before " + cutoff.UTC().Format(time.RFC3339) + " (the cutoff)"
		}
	default:
		sp.Train, err = t.Until(cutoff)
		if err == nil && h.Data != nil {
			sp.HeldOut, err = ReadTable(*h.Data)
			if err != nil {
				err = failure.Wrap(failure.CodeOf(err), err, "evaluation data")
			}
			sp.HeldOutDesc = h.String()
		}
	}
	if err != nil {
		return TableSplit{}, err
	}
	return sp, nil
}
