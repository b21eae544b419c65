package activities

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/fakemodel"
	"github.com/flavorflow/flavorflow/flavor"
	"github.com/flavorflow/flavorflow/internal/testrig/faultstore"
	"github.com/flavorflow/flavorflow/internal/testrig/testenv"
	"github.com/flavorflow/flavorflow/mlflow"
	"github.com/flavorflow/flavorflow/store"
	"github.com/flavorflow/flavorflow/store/localstore"
	"github.com/flavorflow/flavorflow/vocab"
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
		Tags: store.Tags{vocab.TagManifestSHA256: logged.ManifestSHA256}})
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

// TestPromoteChecksStoredBytes: a verified version whose weights.bin had one
// byte flipped at rest must not be promoted on the strength of its verified
// tag; promotion re-hashes the stored bytes.
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
		require.NoError(t, st.SetModelVersionTag(ctx, "m", v, vocab.TagVerified, "true"))
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
	v1, err := st.GetModelVersion(ctx, "m", 1)
	require.NoError(t, err)
	sha, err := a.checkStoredVersion(ctx, v1)
	require.NoError(t, err)
	require.NotEmpty(t, sha)
}

// pythonVersion registers tests/testdata/tutorial_model (the tutorial's
// my_flavor, written by Python MLflow) as the next version of name the way
// Python's register_model does: a logged model with the files, a version
// without flavorflow's tags. It returns the artifact root.
func pythonVersion(t *testing.T, st store.Store, name string) string {
	t.Helper()
	ctx := context.Background()
	expID, err := store.EnsureExperiment(ctx, st, "python")
	require.NoError(t, err)
	lm, err := st.CreateLoggedModel(ctx, store.CreateLoggedModelRequest{ExperimentID: expID, Name: "model"})
	require.NoError(t, err)
	for _, f := range []string{"MLmodel", "model.pkl"} {
		b, err := os.ReadFile(filepath.Join("..", "tests", "testdata", "tutorial_model", f))
		require.NoError(t, err)
		require.NoError(t, st.PutArtifact(ctx, lm.ArtifactURI, f, store.Source{
			Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }, Size: int64(len(b))}))
	}
	_, err = st.FinalizeLoggedModel(ctx, lm.ID, store.LoggedModelReady)
	require.NoError(t, err)
	if _, err := st.CreateRegisteredModel(ctx, name, nil); err != nil && !failure.Has(err, failure.AlreadyExists) {
		require.NoError(t, err)
	}
	_, err = st.CreateModelVersion(ctx, store.CreateModelVersionRequest{Name: name, Source: "models:/" + lm.ID, ModelID: lm.ID})
	require.NoError(t, err)
	return lm.ArtifactURI
}

// TestVerifyVersionMakesPythonVersionPromotable: a version registered by
// Python MLflow is neither verified nor manifested, so it could be neither
// promoted nor checked. VerifyVersion records its manifest, verifies
// it, and promotion then checks its bytes like any other version's.
func TestVerifyVersionMakesPythonVersionPromotable(t *testing.T) {
	ctx := context.Background()
	st, err := localstore.Open(t.TempDir())
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	a := &Activities{Store: st, WorkDir: t.TempDir()}
	root := pythonVersion(t, st, "py")

	_, err = a.promoteAlias(ctx, PromoteInput{ModelName: "py", Alias: "prod", Version: 1})
	require.Equal(t, failure.VerificationFailed, failure.CodeOf(err), "%v", err)

	in := VerifyVersionInput{ModelName: "py", Version: 1, Inputs: []float64{4, 0}}
	out, err := a.verifyVersion(ctx, in)
	require.NoError(t, err)
	require.True(t, out.ManifestCreated)
	require.Equal(t, flavor.TutorialFlavor, out.Flavor)
	require.Equal(t, []float64{7, 3}, out.Predictions)
	mv, err := st.GetModelVersion(ctx, "py", 1)
	require.NoError(t, err)
	require.Equal(t, out.ManifestSHA256, mv.Tags[vocab.TagManifestSHA256])
	require.Equal(t, "true", mv.Tags[vocab.TagVerified])
	require.JSONEq(t, `{"inputs":[4,0],"predictions":[7,3]}`, mv.Tags[vocab.TagVerifyPredictions])
	lm, err := st.GetLoggedModel(ctx, mv.ModelID)
	require.NoError(t, err)
	require.Equal(t, out.ManifestSHA256, lm.Tags[vocab.TagManifestSHA256], "models:/m-<id> loads are checked too")

	// Again: idempotent, nothing rebuilt.
	again, err := a.verifyVersion(ctx, in)
	require.NoError(t, err)
	require.False(t, again.ManifestCreated)
	require.Equal(t, out.ManifestSHA256, again.ManifestSHA256)
	left, err := os.ReadDir(a.WorkDir)
	require.NoError(t, err)
	require.Empty(t, left, "verify leaves nothing in the work directory")

	_, err = a.promoteAlias(ctx, PromoteInput{ModelName: "py", Alias: "prod", Version: 1})
	require.NoError(t, err)
	require.Equal(t, 1, aliasOfModel(t, st, "py", "prod"))

	// Changed at rest afterwards: verify refuses (the recorded hash is
	// never replaced) and so does promotion.
	flipByte(t, st, root, "model.pkl")
	_, err = a.verifyVersion(ctx, in)
	require.Equal(t, failure.ChecksumMismatch, failure.CodeOf(err), "%v", err)
	mv, err = st.GetModelVersion(ctx, "py", 1)
	require.NoError(t, err)
	require.Equal(t, out.ManifestSHA256, mv.Tags[vocab.TagManifestSHA256])
	_, err = a.promoteAlias(ctx, PromoteInput{ModelName: "py", Alias: "canary", Version: 1})
	require.Equal(t, failure.ChecksumMismatch, failure.CodeOf(err), "%v", err)
}

// TestVerifyVersionResumesAfterManifestUpload: an attempt that uploaded the
// manifest and stopped before recording its hash is finished by the next,
// which records that manifest rather than building another.
func TestVerifyVersionResumesAfterManifestUpload(t *testing.T) {
	ctx := context.Background()
	st, err := localstore.Open(t.TempDir())
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	fs := faultstore.New(st)
	a := &Activities{Store: fs, WorkDir: t.TempDir()}
	pythonVersion(t, st, "py")
	in := VerifyVersionInput{ModelName: "py", Version: 1, Inputs: []float64{1}}
	fs.FailBeforeCommit("SetModelVersionTag", 1)
	_, err = a.verifyVersion(ctx, in)
	require.Equal(t, failure.ServerUnavailable, failure.CodeOf(err), "%v", err)
	out, err := a.verifyVersion(ctx, in)
	require.NoError(t, err)
	require.False(t, out.ManifestCreated, "the first attempt's manifest is reused")
	mv, err := st.GetModelVersion(ctx, "py", 1)
	require.NoError(t, err)
	require.Equal(t, out.ManifestSHA256, mv.Tags[vocab.TagManifestSHA256])
	require.Equal(t, "true", mv.Tags[vocab.TagVerified])
}

func aliasOfModel(t *testing.T, st store.Store, name, alias string) int {
	t.Helper()
	mv, err := st.GetModelVersionByAlias(context.Background(), name, alias)
	require.NoError(t, err)
	return mv.Version
}

// TestVerifyVersionDoesNotOverruleItsPipeline: a version whose own pipeline
// failed verification (compensation tagged it) is not blessed by starter
// verify, which only knows the bytes load and predict something; a version
// whose pipeline failed for another reason (a lost alias race) may be.
func TestVerifyVersionDoesNotOverruleItsPipeline(t *testing.T) {
	ctx := context.Background()
	st, err := localstore.Open(t.TempDir())
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	a := &Activities{Store: st, WorkDir: t.TempDir()}
	pythonVersion(t, st, "py")
	in := VerifyVersionInput{ModelName: "py", Version: 1, Inputs: []float64{4}}
	for _, kv := range [][2]string{{vocab.TagWorkflowID, "lifecycle-py-1"}, {vocab.TagPipelineStatus, vocab.PipelineFailed}, {vocab.TagPipelineError, string(failure.VerificationFailed)}} {
		require.NoError(t, st.SetModelVersionTag(ctx, "py", 1, kv[0], kv[1]))
	}
	_, err = a.verifyVersion(ctx, in)
	require.Equal(t, failure.VerificationFailed, failure.CodeOf(err), "%v", err)
	mv, err := st.GetModelVersion(ctx, "py", 1)
	require.NoError(t, err)
	require.Empty(t, mv.Tags[vocab.TagVerified])

	require.NoError(t, st.SetModelVersionTag(ctx, "py", 1, vocab.TagPipelineError, string(failure.AliasConflict)))
	_, err = a.verifyVersion(ctx, in)
	require.NoError(t, err)
}

// writerDuringCheck is a store on which someone outside Temporal (the
// MLflow UI) moves the alias once, while promotion reads the stored bytes.
type writerDuringCheck struct {
	store.Store
	once  sync.Once
	write func()
}

func (o *writerDuringCheck) OpenArtifact(ctx context.Context, root, rel string) (io.ReadCloser, error) {
	o.once.Do(o.write)
	return o.Store.OpenArtifact(ctx, root, rel)
}

// TestPromoteDoesNotOverwriteAWriteDuringTheCheck: the alias moved by hand
// while promotion re-hashes the version is AliasConflict and stays where the
// outside writer put it (it was silently overwritten before: the read-back
// only catches writes after the set).
func TestPromoteDoesNotOverwriteAWriteDuringTheCheck(t *testing.T) {
	a, st := registry(t, true, true, true)
	ctx := context.Background()
	_, err := a.promoteAlias(ctx, PromoteInput{ModelName: "m", Alias: "prod", Version: 1})
	require.NoError(t, err)
	during := &Activities{Store: &writerDuringCheck{Store: st, write: func() { require.NoError(t, st.SetAlias(ctx, "m", "prod", 3)) }}}
	out, err := during.promoteAlias(ctx, PromoteInput{ModelName: "m", Alias: "prod", Version: 2, Previous: 1})
	require.Equal(t, failure.AliasConflict, failure.CodeOf(err), "%v", err)
	require.Equal(t, 3, out.Current)
	require.Equal(t, 3, aliasOf(t, st), "the outside write was overwritten")
}

// countDownloadURI is a transport counting get-download-uri requests.
type countDownloadURI struct {
	next http.RoundTripper
	n    atomic.Int32
}

func (c *countDownloadURI) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, "/model-versions/get-download-uri") {
		c.n.Add(1)
	}
	return c.next.RoundTrip(r)
}

// TestStepsOnAnotherWorkerUseTheRegisteredLocation: load-and-verify and the
// promotion, run by a worker whose client has never seen the version, take
// the version's location from the register step's answer (VersionLocation)
// instead of asking MLflow's get-download-uri; without it they ask.
func TestStepsOnAnotherWorkerUseTheRegisteredLocation(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an MLflow server")
	}
	srv := testenv.StartMLflow(t, testenv.MLflowOptions{})
	ctx := context.Background()
	registrar, err := mlflow.New(mlflow.Config{TrackingURI: srv.URL})
	require.NoError(t, err)
	t.Cleanup(func() { _ = registrar.Close() })
	name := "located-" + strings.ReplaceAll(t.Name(), "/", "-")
	_, err = registrar.CreateRegisteredModel(ctx, name, nil)
	require.NoError(t, err)
	storedVersion(t, registrar, name)
	mv, err := registrar.GetModelVersion(ctx, name, 1)
	require.NoError(t, err)
	loc := &VersionLocation{Source: mv.Source, CreatedMs: mv.CreatedMs, StorageLocation: mv.StorageLocation}

	for _, tc := range []struct {
		name  string
		loc   *VersionLocation
		asked int32
	}{{"with the registered location", loc, 0}, {"without it", nil, 2}} {
		t.Run(tc.name, func(t *testing.T) {
			counter := &countDownloadURI{next: http.DefaultTransport}
			other, err := mlflow.New(mlflow.Config{TrackingURI: srv.URL, Transport: counter})
			require.NoError(t, err)
			t.Cleanup(func() { _ = other.Close() })
			a := &Activities{Store: other, WorkDir: t.TempDir()}
			_, err = a.loadAndVerify(ctx, VerifyInput{ModelName: name, Version: 1, ManifestSHA256: mv.Tags[vocab.TagManifestSHA256],
				Expected: fakemodel.FakeModel{Offset: 3, WeightsSize: 64 << 10, WeightsSeed: 1}, Inputs: []float64{4}, Location: tc.loc})
			require.NoError(t, err)
			// The promotion runs on a third worker, as cold.
			other2, err := mlflow.New(mlflow.Config{TrackingURI: srv.URL, Transport: counter})
			require.NoError(t, err)
			t.Cleanup(func() { _ = other2.Close() })
			_, err = (&Activities{Store: other2}).promoteAlias(ctx, PromoteInput{ModelName: name, Alias: "prod", Version: 1, Location: tc.loc})
			require.NoError(t, err)
			require.Equal(t, tc.asked, counter.n.Load(), "get-download-uri requests by the verify and promote steps")
		})
	}
}

// TestUnnamedFileNeverReachesAnAlias: against a store whose files are not
// on this machine (MLflow's), load-and-verify downloads a version by its
// recorded manifest and so does not see a file added to the version's
// tree that the manifest does not name (a file under code/ would land on
// Python's sys.path); the promotion's check lists the tree and refuses it,
// so the alias never points at the version.
func TestUnnamedFileNeverReachesAnAlias(t *testing.T) {
	ctx := context.Background()
	a, st := registry(t)
	a.Store, a.WorkDir = remote{st}, t.TempDir()
	root := storedVersion(t, st, "m")
	require.NoError(t, st.PutArtifact(ctx, root, "code/extra.py", store.Source{
		Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("raise SystemExit\n")), nil }, Size: 17}))
	mv, err := st.GetModelVersion(ctx, "m", 1)
	require.NoError(t, err)
	_, err = a.loadAndVerify(ctx, VerifyInput{ModelName: "m", Version: 1, ManifestSHA256: mv.Tags[vocab.TagManifestSHA256],
		Expected: fakemodel.FakeModel{Offset: 3, WeightsSize: 64 << 10, WeightsSeed: 1}, Inputs: []float64{4}})
	require.NoError(t, err, "verification loads exactly the files the manifest names")
	_, err = a.promoteAlias(ctx, PromoteInput{ModelName: "m", Alias: "prod", Version: 1})
	require.Equal(t, failure.ChecksumMismatch, failure.CodeOf(err), "%v", err)
	require.Contains(t, err.Error(), `"code/extra.py" is not in the manifest`)
	require.Equal(t, 0, aliasOf(t, st), "the alias moved onto a tree with a file the manifest does not name")
}

// remote hides the embedded store's store.LocalDirs, as for a store whose
// files are elsewhere.
type remote struct{ store.Store }

// TestVerifyOnTheEmbeddedStoreReadsInPlace: on the embedded store
// load-and-verify hashes and loads the stored files where they are instead
// of copying them (a created file was the costliest system call of a
// pipeline there). It refuses a file the manifest does not name, which a
// copy by the manifest would not have fetched, so the stored tree itself
// was read; and a byte changed at rest.
func TestVerifyOnTheEmbeddedStoreReadsInPlace(t *testing.T) {
	ctx := context.Background()
	a, st := registry(t)
	a.WorkDir = t.TempDir()
	root := storedVersion(t, st, "m")
	mv, err := st.GetModelVersion(ctx, "m", 1)
	require.NoError(t, err)
	verifyOut := func() (VerifyOutput, error) {
		return a.loadAndVerify(ctx, VerifyInput{ModelName: "m", Version: 1, ManifestSHA256: mv.Tags[vocab.TagManifestSHA256],
			Expected: fakemodel.FakeModel{Offset: 3, WeightsSize: 64 << 10, WeightsSeed: 1}, Inputs: []float64{4}})
	}
	verify := func() error { _, err := verifyOut(); return err }
	out, err := verifyOut()
	require.NoError(t, err)
	require.Greater(t, out.BytesRead, int64(64<<10), "the bytes read in place are counted")

	require.NoError(t, st.PutArtifact(ctx, root, "code/extra.py", store.Source{
		Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("raise SystemExit\n")), nil }, Size: 17}))
	err = verify()
	require.Equal(t, failure.ChecksumMismatch, failure.CodeOf(err), "%v", err)
	require.Contains(t, err.Error(), "code/extra.py")
	require.NoError(t, os.Remove(filepath.Join(mustArtifactDir(t, st, root), "code", "extra.py")))
	require.NoError(t, verify())

	flipByte(t, st, root, flavor.WeightsFile)
	err = verify()
	require.Equal(t, failure.ChecksumMismatch, failure.CodeOf(err), "%v", err)
}

func mustArtifactDir(t *testing.T, st store.Store, root string) string {
	t.Helper()
	dir, err := st.(store.LocalDirs).ArtifactDir(root)
	require.NoError(t, err)
	return dir
}
