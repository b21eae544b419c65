package linearmodel

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/flavor"
	"github.com/flavorflow/flavorflow/internal/testrig/testenv"
	"github.com/flavorflow/flavorflow/mlflow"
	"github.com/flavorflow/flavorflow/rows"
	"github.com/flavorflow/flavorflow/store"
)

// TestMLflowServerLogRegisterLoad logs and registers a linear model through
// a real `mlflow server` and loads the version back through the registry,
// manifest checked; a registry without the flavor refuses it.
func TestMLflowServerLogRegisterLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an MLflow server")
	}
	srv := testenv.StartMLflow(t, testenv.MLflowOptions{})
	st, err := mlflow.New(mlflow.Config{TrackingURI: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	expID, err := st.CreateExperiment(ctx, "linear", nil)
	if err != nil {
		t.Fatal(err)
	}
	run, err := st.CreateRun(ctx, store.CreateRunRequest{ExperimentID: expID, Name: "fit", StartTimeMs: time.Now().UnixMilli()})
	if err != nil {
		t.Fatal(err)
	}
	m, _, err := Fit(sample(), "y")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "m")
	if _, err := flavor.Save(ctx, dir, Flavor{}, m, flavor.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	logged, err := flavor.LogModel(ctx, st, dir, flavor.LogOptions{ExperimentID: expID, RunID: run.ID, Name: "model", IdempotencyKey: "lin-1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateRegisteredModel(ctx, "linear-srv", nil); err != nil {
		t.Fatal(err)
	}
	mv, err := st.CreateModelVersion(ctx, store.CreateModelVersionRequest{Name: "linear-srv", Source: logged.ModelURI, ModelID: logged.ModelID})
	if err != nil {
		t.Fatal(err)
	}
	reg, _ := flavor.NewRegistry(flavor.Fakemodel{}, Flavor{})
	uri := fmt.Sprintf("models:/linear-srv/%d", mv.Version)
	l, err := flavor.Load(ctx, reg, st, uri, filepath.Join(t.TempDir(), "dl"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := l.Predictor.Predict(ctx, rows.Table{Columns: []string{"a", "b"}, Rows: [][]float64{{2, 2}}})
	if err != nil || l.Flavor != Name || l.ManifestSHA256 != logged.ManifestSHA256 || !near(got[0], 1+4-6) {
		t.Errorf("loaded %+v: %v %v", l, got, err)
	}
	if _, err := flavor.LoadModel(ctx, st, uri, filepath.Join(t.TempDir(), "dl2")); failure.CodeOf(err) != failure.FlavorNotFound {
		t.Errorf("LoadModel (fakemodel only) of a linear model: %v", err)
	}
}
