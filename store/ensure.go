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

// FindOrCreate is look-up-before-create for objects MLflow creates without
// an idempotency key: find (which returns nil, nil when there is nothing)
// runs first; create runs only when nothing was found; and a create that
// fails is followed by one more find, because an ambiguous failure (a lost
// answer) may have committed. created reports that this call created it.
func FindOrCreate[T any](find, create func() (*T, error)) (v *T, created bool, err error) {
	if v, err := find(); err != nil || v != nil {
		return v, false, err
	}
	return CreateOrFind(find, create)
}

// CreateOrFind is FindOrCreate without the first look-up, for a caller that
// knows nothing can exist yet.
func CreateOrFind[T any](find, create func() (*T, error)) (*T, bool, error) {
	v, err := create()
	if err == nil {
		return v, true, nil
	}
	if found, ferr := find(); ferr == nil && found != nil {
		return found, true, nil
	}
	return nil, false, err
}
