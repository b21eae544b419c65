package activities

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/flavor"
	"github.com/flavorflow/flavorflow/mlflow"
	"github.com/flavorflow/flavorflow/vocab"
)

// StagePythonVerify on the embedded store downloads the exact version into
// the workflow's work directory, checked; a second attempt keeps a complete
// copy; a version whose stored bytes or recorded hash disagree with what
// the pipeline logged is ChecksumMismatch and nothing is staged.
func TestStagePythonVerifyOnEmbeddedStore(t *testing.T) {
	a, st := registry(t, false, false)
	a.WorkDir = t.TempDir()
	ctx := context.Background()
	mv, err := st.GetModelVersion(ctx, "m", 1)
	require.NoError(t, err)
	sha := mv.Tags[vocab.TagManifestSHA256]

	out, err := a.stagePythonVerify(ctx, StagePythonInput{ModelName: "m", Version: 1, ManifestSHA256: sha})
	require.NoError(t, err)
	require.Equal(t, filepath.Join(a.WorkDir, "local", "python-verify-v1"), out.Dir)
	require.Equal(t, sha, out.ManifestSHA256)
	_, got, err := flavor.VerifyDir(out.Dir)
	require.NoError(t, err)
	require.Equal(t, sha, got)
	entries, err := os.ReadDir(filepath.Dir(out.Dir))
	require.NoError(t, err)
	require.Len(t, entries, 1, "a temporary directory was left behind")

	again, err := a.stagePythonVerify(ctx, StagePythonInput{ModelName: "m", Version: 1, ManifestSHA256: sha})
	require.NoError(t, err)
	require.Equal(t, out.Dir, again.Dir)

	_, err = a.stagePythonVerify(ctx, StagePythonInput{ModelName: "m", Version: 1, ManifestSHA256: "0" + sha[1:]})
	require.Equal(t, failure.ChecksumMismatch, failure.CodeOf(err), "%v", err)

	root, err := st.GetModelVersionDownloadURI(ctx, "m", 2)
	require.NoError(t, err)
	flipByte(t, st, root, flavor.WeightsFile)
	mv2, err := st.GetModelVersion(ctx, "m", 2)
	require.NoError(t, err)
	_, err = a.stagePythonVerify(ctx, StagePythonInput{ModelName: "m", Version: 2, ManifestSHA256: mv2.Tags[vocab.TagManifestSHA256]})
	require.Equal(t, failure.ChecksumMismatch, failure.CodeOf(err), "%v", err)
	_, err = os.Stat(filepath.Join(a.WorkDir, "local", "python-verify-v2"))
	require.ErrorIs(t, err, os.ErrNotExist, "a damaged version was staged")
}

// RecordPythonVerified tags the version only when the Python worker's
// verdict holds: the manifest it checked is the one logged and recorded,
// and its predictions are the trainer's.
func TestRecordPythonVerifiedChecksTheVerdict(t *testing.T) {
	a, st := registry(t, false)
	ctx := context.Background()
	mv, err := st.GetModelVersion(ctx, "m", 1)
	require.NoError(t, err)
	sha := mv.Tags[vocab.TagManifestSHA256]
	check := &ModelCheck{Predictions: []float64{1, 2.5}}
	in := func(manifest string, preds ...float64) RecordPythonInput {
		return RecordPythonInput{ModelName: "m", Version: 1, ManifestSHA256: sha, Check: check,
			Verified: PythonVerifyOutput{ManifestSHA256: manifest, Predictions: preds}}
	}
	verified := func() string {
		mv, err := st.GetModelVersion(ctx, "m", 1)
		require.NoError(t, err)
		return mv.Tags[vocab.TagVerified]
	}

	for _, bad := range []struct {
		in   RecordPythonInput
		code failure.Code
	}{
		{in("0"+sha[1:], 1, 2.5), failure.ChecksumMismatch},
		{in(sha, 1, 2.6), failure.VerificationFailed},
		{in(sha, 1), failure.VerificationFailed},
		{in(sha), failure.VerificationFailed},
	} {
		_, err := a.recordPythonVerified(ctx, bad.in)
		require.Equal(t, bad.code, failure.CodeOf(err), "%v", err)
		require.Empty(t, verified())
	}
	_, err = a.recordPythonVerified(ctx, in(sha, 1, 2.5*(1+1e-12)))
	require.NoError(t, err)
	require.Equal(t, "true", verified())
}

// Against an MLflow server the Python worker loads models:/ itself: staging
// returns Dir "" without a call to the server or a file written.
func TestStagePythonVerifyLeavesMLflowToPython(t *testing.T) {
	st, err := mlflow.New(mlflow.Config{TrackingURI: "http://127.0.0.1:9"}) // discard port: never contacted
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	a := &Activities{Store: st, WorkDir: t.TempDir()}
	out, err := a.stagePythonVerify(context.Background(), StagePythonInput{ModelName: "m", Version: 1, ManifestSHA256: "x"})
	require.NoError(t, err)
	require.Equal(t, StagePythonOutput{}, out)
	entries, err := os.ReadDir(a.WorkDir)
	require.NoError(t, err)
	require.Empty(t, entries)
}
