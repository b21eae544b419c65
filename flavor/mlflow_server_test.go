package flavor

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flavorflow/flavorflow/fakemodel"
	"github.com/flavorflow/flavorflow/internal/testrig/testenv"
	"github.com/flavorflow/flavorflow/mlflow"
	"github.com/flavorflow/flavorflow/store"
)

// TestMLflowServerRoundTrip logs, registers and loads back through a real
// `mlflow server` (skipped when the venv's mlflow is missing, unless
// FLAVORFLOW_REQUIRE_SERVERS=1).
func TestMLflowServerRoundTrip(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an MLflow server")
	}
	srv := testenv.StartMLflow(t, testenv.MLflowOptions{})
	st, err := mlflow.New(mlflow.Config{TrackingURI: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	expID, run := newExperimentRun(t, st, "flavor-server")
	m := fakemodel.FakeModel{Offset: 3, WeightsSize: 3 << 20, WeightsSeed: 11}
	dir, _ := saveT(t, m, fixedOpts)
	opts := LogOptions{ExperimentID: expID, RunID: run.ID, Name: "model", IdempotencyKey: "srv-1"}
	logged, err := LogModel(ctx, st, dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(logged.ArtifactURI, "mlflow-artifacts:/") || logged.Bytes < 3<<20 {
		t.Errorf("logged %+v", logged)
	}
	again, err := LogModel(ctx, st, dir, opts)
	if err != nil || !again.Reused || again.ModelID != logged.ModelID || again.Bytes != 0 {
		t.Errorf("re-log: %+v %v", again, err)
	}
	if _, err := st.CreateRegisteredModel(ctx, "flavor-srv", nil); err != nil {
		t.Fatal(err)
	}
	mv, err := st.CreateModelVersion(ctx, store.CreateModelVersionRequest{Name: "flavor-srv", Source: logged.ModelURI, ModelID: logged.ModelID})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetAlias(ctx, "flavor-srv", "champion", mv.Version); err != nil {
		t.Fatal(err)
	}
	for i, uri := range []string{logged.ModelURI, "models:/flavor-srv/1", "models:/flavor-srv@champion", "models:/flavor-srv/latest", "runs:/" + run.ID + "/model"} {
		l, err := LoadModel(ctx, st, uri, filepath.Join(t.TempDir(), "dl", string(rune('a'+i))))
		if err != nil {
			t.Fatalf("%s: %v", uri, err)
		}
		if !l.Model.Equal(m) || l.ManifestSHA256 != logged.ManifestSHA256 {
			t.Errorf("%s: loaded %+v", uri, l)
		}
	}
}
