package interop

import (
	"context"
	"time"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/flavor"
	"github.com/flavorflow/flavorflow/store"
)

// Experiment is the experiment every interop binary logs into.
const Experiment = "flavorflow-interop"

// Registered is what LogAndRegister made.
type Registered struct {
	RunID   string
	Logged  flavor.Logged
	Version int
}

// LogAndRegister logs the model saved in dir to a new finished run named
// runName and registers it as a new version of name (creating the
// registered model the first time), then points alias at it when alias is
// not empty.
func LogAndRegister(ctx context.Context, st store.Store, dir, name, runName, alias string) (Registered, error) {
	expID, err := store.EnsureExperiment(ctx, st, Experiment)
	if err != nil {
		return Registered{}, err
	}
	run, err := st.CreateRun(ctx, store.CreateRunRequest{ExperimentID: expID, Name: runName, StartTimeMs: time.Now().UnixMilli()})
	if err != nil {
		return Registered{}, err
	}
	logged, err := flavor.LogModel(ctx, st, dir, flavor.LogOptions{ExperimentID: expID, RunID: run.ID, Name: "model"})
	if err != nil {
		return Registered{}, err
	}
	if err := st.UpdateRun(ctx, run.ID, store.RunFinished, time.Now().UnixMilli()); err != nil {
		return Registered{}, err
	}
	if _, err := st.CreateRegisteredModel(ctx, name, nil); err != nil && !failure.Has(err, failure.AlreadyExists) {
		return Registered{}, err
	}
	mv, err := st.CreateModelVersion(ctx, store.CreateModelVersionRequest{Name: name, Source: logged.ModelURI, ModelID: logged.ModelID})
	if err != nil {
		return Registered{}, err
	}
	if alias != "" {
		if err := st.SetAlias(ctx, name, alias, mv.Version); err != nil {
			return Registered{}, err
		}
	}
	return Registered{RunID: run.ID, Logged: logged, Version: mv.Version}, nil
}
