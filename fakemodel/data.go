package fakemodel

import (
	"time"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/vocab"
)

// FitData loads the training data, keeps the samples up to cutoff and fits
// them: every check the Train activity makes on its data, with its limits and errors. The
// starter calls it before it starts a pipeline, so data the worker would
// refuse is InvalidTrainingData (exit 2) up front, not a failed pipeline.
func FitData(d vocab.TrainingData, cutoff time.Time) ([]vocab.Sample, FakeModel, Stats, error) {
	samples, err := loadSamples(d)
	if err != nil {
		return nil, FakeModel{}, Stats{}, err
	}
	if samples, err = Until(samples, cutoff); err != nil {
		return nil, FakeModel{}, Stats{}, err
	}
	model, stats, err := Fit(samples)
	return samples, model, stats, err
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
