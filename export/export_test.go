package export

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/fakemodel"
	"github.com/flavorflow/flavorflow/flavor"
	"github.com/flavorflow/flavorflow/internal/testrig/testenv"
	"github.com/flavorflow/flavorflow/mlflow"
	"github.com/flavorflow/flavorflow/store"
	"github.com/flavorflow/flavorflow/store/localstore"
	"github.com/flavorflow/flavorflow/vocab"
)

// seed registers FakeModel(3) as version 1 of name in the local store, the
// way a pipeline does, and points alias "champion" at it.
func seed(t *testing.T, st store.Store, name string) {
	t.Helper()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "model")
	_, err := flavor.SaveModel(ctx, dir, fakemodel.New(3), flavor.SaveOptions{})
	require.NoError(t, err)
	expID, err := st.CreateExperiment(ctx, "offline", nil)
	require.NoError(t, err)
	run, err := st.CreateRun(ctx, store.CreateRunRequest{ExperimentID: expID, Name: "offline-run", Tags: store.Tags{"team": "ml"}})
	require.NoError(t, err)
	require.NoError(t, st.LogBatch(ctx, run.ID, store.Batch{Params: store.Tags{"samples": "3"}, Metrics: []store.Metric{{Key: "training_mse", Value: 0.5, TimestampMs: 1}}}))
	require.NoError(t, st.LogInputs(ctx, run.ID, []store.DatasetInput{seedInput}))
	require.NoError(t, st.UpdateRun(ctx, run.ID, store.RunFinished, 2))
	logged, err := flavor.LogModel(ctx, st, dir, flavor.LogOptions{ExperimentID: expID, RunID: run.ID, Name: "model"})
	require.NoError(t, err)
	_, err = st.CreateRegisteredModel(ctx, name, nil)
	require.NoError(t, err)
	_, err = st.CreateModelVersion(ctx, store.CreateModelVersionRequest{Name: name, Source: logged.ModelURI, RunID: run.ID, ModelID: logged.ModelID,
		Tags: store.Tags{vocab.TagManifestSHA256: logged.ManifestSHA256}})
	require.NoError(t, err)
	require.NoError(t, st.SetAlias(ctx, name, "champion", 1))
}

// seedInput is the training dataset of the seeded run.
var seedInput = store.DatasetInput{
	Dataset: store.Dataset{Name: "training", Digest: "0123456789abcdef", SourceType: "local", Source: `{"uri": "file:///data/train.csv"}`,
		Schema: `{"mlflow_colspec": [{"type": "double", "name": "x", "required": true}]}`, Profile: `{"num_rows": 3}`},
	Tags: store.Tags{store.DatasetContextTag: "training"},
}

// Export from the embedded store to a real MLflow server, twice: the second
// run changes nothing.
func TestExportToMLflowServerIsIdempotent(t *testing.T) {
	srv := testenv.StartMLflow(t, testenv.MLflowOptions{})
	ctx := context.Background()
	local, err := localstore.Open(t.TempDir())
	require.NoError(t, err)
	defer local.Close()
	seed(t, local, "offline-model")

	remote, err := mlflow.New(mlflow.Config{TrackingURI: srv.URL})
	require.NoError(t, err)
	defer remote.Close()

	first, err := Version(ctx, local, remote, "offline-model", 1, Options{Experiment: "published", TempDir: t.TempDir()})
	require.NoError(t, err)
	require.True(t, first.Created)
	require.Equal(t, 1, first.Version)
	require.Equal(t, []string{"champion"}, first.Aliases)

	// What a Python user sees: the run with its params and metrics, the
	// logged model linked to it, the version sourced from models:/m-<id>,
	// the alias, and a model that loads and predicts 4 -> 7.
	mv, err := remote.GetModelVersionByAlias(ctx, "offline-model", "champion")
	require.NoError(t, err)
	require.Equal(t, 1, mv.Version)
	require.Equal(t, first.LoggedModelURI, mv.Source)
	require.Equal(t, "true", mv.Tags[vocab.TagVerified])
	run, err := remote.GetRun(ctx, mv.RunID)
	require.NoError(t, err)
	require.Equal(t, "3", run.Params["samples"])
	require.Equal(t, "ml", run.Tags["team"])
	require.Contains(t, run.OutputModels, mv.ModelID)
	require.Equal(t, []store.DatasetInput{seedInput}, run.Inputs, "the run shows the data that trained the model")
	loaded, err := flavor.LoadModel(ctx, remote, "models:/offline-model@champion", filepath.Join(t.TempDir(), "dl"))
	require.NoError(t, err)
	require.Equal(t, 7.0, loaded.Model.Predict(4))

	second, err := Version(ctx, local, remote, "offline-model", 1, Options{Experiment: "published", TempDir: t.TempDir()})
	require.NoError(t, err)
	require.False(t, second.Created)
	require.Equal(t, first.Version, second.Version)
	require.Equal(t, first.RunID, second.RunID)
	require.Equal(t, first.LoggedModelURI, second.LoggedModelURI)
	require.Equal(t, int64(0), second.BytesSent, "nothing is uploaded again")
	versions, err := remote.SearchModelVersions(ctx, "offline-model", "", "")
	require.NoError(t, err)
	require.Len(t, versions, 1)
	exp, err := remote.GetExperimentByName(ctx, "published")
	require.NoError(t, err)
	runs, err := remote.SearchRunsByTag(ctx, exp.ID, vocab.TagExportKey, "offline-model/1/"+mv.Tags[vocab.TagExportKey][len("offline-model/1/"):])
	require.NoError(t, err)
	require.Len(t, runs, 1)
	run, err = remote.GetRun(ctx, runs[0].ID)
	require.NoError(t, err)
	require.Len(t, run.Inputs, 1, "a repeated export logs the dataset once")
}

func TestExportBadInput(t *testing.T) {
	ctx := context.Background()
	local, err := localstore.Open(t.TempDir())
	require.NoError(t, err)
	defer local.Close()
	for name, c := range map[string]struct {
		model   string
		version int
		opts    Options
	}{
		"bad name":        {"a/b", 1, Options{Experiment: "x"}},
		"bad alias":       {"m", 1, Options{Experiment: "x", Aliases: []string{"latest"}}},
		"no experiment":   {"m", 1, Options{}},
		"missing version": {"m", 7, Options{Experiment: "x"}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Version(ctx, local, local, c.model, c.version, c.opts)
			require.Error(t, err)
		})
	}
}

// TestExportRefusesTamperedSource: a source version whose model.json and
// MLmodel were replaced at rest (offset 3 -> 30), with a manifest recomputed
// to match, must not be published as a verified version; the hash recorded
// on the version is the authority.
func TestExportRefusesTamperedSource(t *testing.T) {
	ctx := context.Background()
	local, err := localstore.Open(t.TempDir())
	require.NoError(t, err)
	defer local.Close()
	seed(t, local, "tampered")
	root, err := local.GetModelVersionDownloadURI(ctx, "tampered", 1)
	require.NoError(t, err)
	evil := filepath.Join(t.TempDir(), "evil")
	_, err = flavor.SaveModel(ctx, evil, fakemodel.New(30), flavor.SaveOptions{})
	require.NoError(t, err)
	manifest, _, err := flavor.BuildManifest(evil)
	require.NoError(t, err)
	put := func(rel string, b []byte) {
		require.NoError(t, local.PutArtifact(ctx, root, rel, store.Source{
			Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }, Size: int64(len(b))}))
	}
	for _, f := range []string{flavor.DataFile, flavor.MLmodelFile} {
		b, err := os.ReadFile(filepath.Join(evil, f))
		require.NoError(t, err)
		put(f, b)
	}
	put(flavor.ManifestFile, manifest)

	dst, err := localstore.Open(t.TempDir())
	require.NoError(t, err)
	defer dst.Close()
	_, err = Version(ctx, local, dst, "tampered", 1, Options{Experiment: "published", TempDir: t.TempDir()})
	require.Equal(t, failure.ChecksumMismatch, failure.CodeOf(err), "%v", err)
	_, err = dst.GetRegisteredModel(ctx, "tampered")
	require.True(t, failure.Has(err, failure.NotFound), "a registered model was created on the destination: %v", err)
}
