package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/flavorflow/flavorflow/activities"
	"github.com/flavorflow/flavorflow/fakemodel"
	"github.com/flavorflow/flavorflow/flavor"
	"github.com/flavorflow/flavorflow/store"
)

// benchLogRegister is P5: save + log + register a tiny model in process,
// flavorflow (flavor.SaveModel, flavor.LogModel, the RegisterModel activity
// logic) against Python's mlflow.pyfunc.log_model(registered_model_name=...),
// both against the same MLflow server.
func (e *env) benchLogRegister(ctx context.Context, r *report, n int) error {
	prefix := fmt.Sprintf("p5-%d", time.Now().UnixNano()%1e6)
	expID, err := e.client.CreateExperiment(ctx, "bench-p5-"+prefix, nil)
	if err != nil {
		return err
	}
	a := &activities.Activities{Store: e.client, Experiment: "bench-p5-" + prefix, WorkDir: filepath.Join(e.tmp, "p5"), Logger: slog.New(slog.DiscardHandler)}
	var ours []time.Duration
	var before map[string]int
	for i := -1; i < n; i++ { // one warm-up run
		if i == 0 && e.counter != nil {
			before = e.counter.snapshot()
		}
		t0 := time.Now()
		if err := e.logRegisterOnce(ctx, a, expID, fmt.Sprintf("%s-go-%d", prefix, i+1)); err != nil {
			return err
		}
		if i >= 0 {
			ours = append(ours, time.Since(t0))
		}
	}
	var out struct{ Seconds []float64 }
	if err := e.runPython(ctx, "logmodel.py", &out, e.ml.URL, prefix, fmt.Sprint(n)); err != nil {
		return err
	}
	var py []time.Duration
	for _, s := range out.Seconds {
		py = append(py, time.Duration(s*float64(time.Second)))
	}
	var perRun *requestCount
	if e.counter != nil {
		perRun = countSince(before, e.counter.snapshot(), n)
	}
	r.add(logRegisterRow(n, median(ours), median(py), perRun))
	return nil
}

func (e *env) logRegisterOnce(ctx context.Context, a *activities.Activities, expID, name string) error {
	dir := filepath.Join(e.tmp, "p5", name)
	defer os.RemoveAll(dir)
	run, err := e.client.CreateRun(ctx, store.CreateRunRequest{ExperimentID: expID, StartTimeMs: time.Now().UnixMilli()})
	if err != nil {
		return err
	}
	if _, err := flavor.SaveModel(ctx, dir, fakemodel.New(3), flavor.SaveOptions{RunID: run.ID}); err != nil {
		return err
	}
	logged, err := flavor.LogModel(ctx, e.client, dir, flavor.LogOptions{ExperimentID: expID, RunID: run.ID, Run: run, IdempotencyKey: name})
	if err != nil {
		return err
	}
	if err := e.client.UpdateRun(ctx, run.ID, store.RunFinished, time.Now().UnixMilli()); err != nil {
		return err
	}
	_, err = a.RegisterModel(ctx, activities.RegisterInput{ModelName: name, ModelID: logged.ModelID, RunID: run.ID, ManifestSHA256: logged.ManifestSHA256})
	return err
}
