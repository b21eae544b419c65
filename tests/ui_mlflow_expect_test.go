package tests

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flavorflow/flavorflow/activities"
	"github.com/flavorflow/flavorflow/internal/app"
	"github.com/flavorflow/flavorflow/internal/testrig/testenv"
	"github.com/flavorflow/flavorflow/vocab"
)

// What MLflow users expect on every model, in the MLflow UI (issue 11,
// part 3): the version's Schema shows the input column and the output
// (before: Inputs (0)), and the run shows the dataset that trained it.
// The pipeline's steps run as activities on a real MLflow server.
func TestMLflowUIShowsSchemaAndDataset(t *testing.T) {
	t.Parallel() // distinct model and experiment names on the shared MLflow
	b := newBrowser(t)
	ml := testenv.SharedMLflow(t, testenv.MLflowOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	st, err := app.OpenStore(ctx, ml.URL, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	const model = "ui-expect-fakemodel"
	a := &activities.Activities{Store: st, Experiment: "ui-expect", WorkDir: filepath.Join(t.TempDir(), "work")}
	data := filepath.Join(t.TempDir(), "train.csv")
	require.NoError(t, os.WriteFile(data, []byte("x,y\n1,4\n2,5\n3,6.5\n"), 0o644))

	trained, err := a.Train(ctx, activities.TrainInput{ModelName: model, Data: vocab.TrainingData{Path: data}})
	require.NoError(t, err)
	save := activities.SaveInput{ModelName: model, Model: trained.Model, Created: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	saved, err := a.SaveModel(ctx, save)
	require.NoError(t, err)
	logged, err := a.LogModel(ctx, activities.LogInput{ModelName: model, Save: save, Saved: saved.Dir, Train: trained})
	require.NoError(t, err)
	reg, err := a.RegisterModel(ctx, activities.RegisterInput{ModelName: model, ModelID: logged.ModelID, RunID: logged.RunID, ManifestSHA256: logged.Logged.SHA256})
	require.NoError(t, err)

	digest := trained.DataSHA256[:16]
	doms := b.load(t,
		page{name: "mlflow-expect-version", url: reg.UIURL, screenshot: true,
			want: []string{"Schema", "Inputs (1)", "Outputs (1)"}},
		page{name: "mlflow-expect-run", url: ml.URL + "/#/experiments/" + logged.ExperimentID + "/runs/" + logged.RunID, screenshot: true,
			// "Datasets <name> (<digest>) <context>" in the run's details;
			// the logged model's dataset column, from its linked metrics.
			want: []string{"Datasets training (" + digest + ") training", "training (#" + digest + ")", activities.MetricTrainingMSE}},
	)
	require.NotContains(t, pageText(doms["mlflow-expect-version"]), "Inputs (0)")
}
