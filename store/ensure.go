package store

import (
	"context"

	"github.com/flavorflow/flavorflow/failure"
)

// EnsureExperiment returns the ID of the experiment called name, creating it
// when it is missing. Experiment creation is not idempotent, so a concurrent
// creator's AlreadyExists, or an ambiguous failure after which the experiment
// may exist, is resolved by reading it again.
func EnsureExperiment(ctx context.Context, st Tracking, name string) (string, error) {
	exp, err := st.GetExperimentByName(ctx, name)
	if err == nil {
		return exp.ID, nil
	}
	if !failure.Has(err, failure.NotFound) {
		return "", err
	}
	id, err := st.CreateExperiment(ctx, name, nil)
	if err == nil {
		return id, nil
	}
	if failure.Has(err, failure.AlreadyExists) || failure.Has(err, failure.ServerUnavailable) {
		if exp, gerr := st.GetExperimentByName(ctx, name); gerr == nil {
			return exp.ID, nil
		}
	}
	return "", err
}
