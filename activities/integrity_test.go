package activities

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/fakemodel"
	"github.com/flavorflow/flavorflow/flavor"
	"github.com/flavorflow/flavorflow/internal/testenv"
	"github.com/flavorflow/flavorflow/mlflow"
	"github.com/flavorflow/flavorflow/store"
)

// storedVersion saves, logs and registers y = x + 3 (with a weights
// payload) as the next version of name, the way the pipeline does: the
// version carries the logged manifest's hash. It returns the artifact root.
func storedVersion(t *testing.T, st store.Store, name string) string {
	t.Helper()
	ctx := context.Background()
	expID, err := store.EnsureExperiment(ctx, st, "integrity")
	require.NoError(t, err)
	dir := filepath.Join(t.TempDir(), "model")
	_, err = flavor.SaveModel(ctx, dir, fakemodel.FakeModel{Offset: 3, WeightsSize: 64 << 10, WeightsSeed: 1}, flavor.SaveOptions{})
	require.NoError(t, err)
	logged, err := flavor.LogModel(ctx, st, dir, flavor.LogOptions{ExperimentID: expID, Name: "model"})
	require.NoError(t, err)
	_, err = st.CreateModelVersion(ctx, store.CreateModelVersionRequest{Name: name, Source: logged.ModelURI, ModelID: logged.ModelID,
		Tags: store.Tags{TagManifestSHA256: logged.ManifestSHA256}})
	require.NoError(t, err)
	return logged.ArtifactURI
}

// flipByte flips one byte of rel below root, at rest.
func flipByte(t *testing.T, st store.Store, root, rel string) {
	t.Helper()
	ctx := context.Background()
	rc, err := st.OpenArtifact(ctx, root, rel)
	require.NoError(t, err)
	b, err := io.ReadAll(rc)
	rc.Close()
	require.NoError(t, err)
	b[len(b)/2] ^= 1
	require.NoError(t, st.PutArtifact(ctx, root, rel, store.Source{
		Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(string(b))), nil }, Size: int64(len(b))}))
}

// TestPromoteChecksStoredBytes is issue 10, finding 1: a verified version
// whose weights.bin had one byte flipped at rest was promoted on the
// strength of its verified tag.
func TestPromoteChecksStoredBytes(t *testing.T) {
	a, st := registry(t, true, true)
	promoteDamaged(t, a, st)
}

// TestPromoteChecksStoredBytesOnMLflow is the same against a real `mlflow
// server`.
func TestPromoteChecksStoredBytesOnMLflow(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an MLflow server")
	}
	srv := testenv.StartMLflow(t, testenv.MLflowOptions{})
	st, err := mlflow.New(mlflow.Config{TrackingURI: srv.URL})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	ctx := context.Background()
	_, err = st.CreateRegisteredModel(ctx, "m", nil)
	require.NoError(t, err)
	for v := 1; v <= 2; v++ {
		storedVersion(t, st, "m")
		require.NoError(t, st.SetModelVersionTag(ctx, "m", v, TagVerified, "true"))
	}
	promoteDamaged(t, &Activities{Store: st}, st)
}

func promoteDamaged(t *testing.T, a *Activities, st store.Store) {
	t.Helper()
	ctx := context.Background()
	_, err := a.promoteAlias(ctx, PromoteInput{ModelName: "m", Alias: "prod", Version: 1})
	require.NoError(t, err)
	mv, err := st.GetModelVersion(ctx, "m", 2)
	require.NoError(t, err)
	root, err := st.GetModelVersionDownloadURI(ctx, "m", mv.Version)
	require.NoError(t, err)
	flipByte(t, st, root, flavor.WeightsFile)
	_, err = a.promoteAlias(ctx, PromoteInput{ModelName: "m", Alias: "prod", Version: 2, Previous: 1})
	require.Equal(t, failure.ChecksumMismatch, failure.CodeOf(err), "%v", err)
	require.Equal(t, 1, aliasOf(t, st), "the alias moved onto damaged bytes")
	// Rollback checks the same way.
	_, err = a.promoteAlias(ctx, PromoteInput{ModelName: "m", Alias: "prod", Version: 2, Rollback: true})
	require.Equal(t, failure.ChecksumMismatch, failure.CodeOf(err), "%v", err)
	sha, err := a.checkStoredVersion(ctx, "m", 1)
	require.NoError(t, err)
	require.NotEmpty(t, sha)
}
