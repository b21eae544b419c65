package flavor

import (
	"context"
	"io"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/fakemodel"
	"github.com/flavorflow/flavorflow/internal/hashpipe"
	"github.com/flavorflow/flavorflow/internal/testrig/goroutines"
	"github.com/flavorflow/flavorflow/internal/testrig/testenv"
	"github.com/flavorflow/flavorflow/mlflow"
	"github.com/flavorflow/flavorflow/store"
	"github.com/flavorflow/flavorflow/store/localstore"
)

// bigModel has weights of several pipeline chunks and a short tail, so a
// download crosses every chunk boundary case.
var bigModel = fakemodel.FakeModel{Offset: 3, WeightsSize: 3*hashpipe.ChunkSize + 12345, WeightsSeed: 9}

// waitNoPipelines fails unless every hashpipe goroutine has ended after a
// download or upload returned.
func waitNoPipelines(t *testing.T) {
	t.Helper()
	goroutines.WaitNone(t, "internal/hashpipe.")
}

// checkDamagedLeavesNothing: a stored weights file with one byte flipped
// fails the load with ChecksumMismatch, and the download directory holds
// neither weights.bin nor a temporary file of it: the digest is compared
// before the rename.
func checkDamagedLeavesNothing(t *testing.T, r registered) {
	t.Helper()
	ctx := context.Background()
	dst := filepath.Join(t.TempDir(), "dl")
	l, err := LoadModel(ctx, r.st, r.uris()[0], dst)
	if err != nil || !l.Model.Equal(bigModel) {
		t.Fatalf("intact model: %v", err)
	}
	r.flipWeights(t)
	dst = filepath.Join(t.TempDir(), "dl")
	_, err = LoadModel(ctx, r.st, r.uris()[0], dst)
	if failure.CodeOf(err) != failure.ChecksumMismatch {
		t.Fatalf("flipped byte: %v, want ChecksumMismatch", err)
	}
	_ = filepath.WalkDir(dst, func(p string, d fs.DirEntry, err error) error {
		if err == nil && (d.Name() == WeightsFile || strings.HasPrefix(d.Name(), ".tmp-")) {
			t.Errorf("a failed download left %s", p)
		}
		return nil
	})
	waitNoPipelines(t)
}

func registerBig(t *testing.T, name string, register func() registered) registered {
	t.Helper()
	old := integrityModel
	integrityModel = bigModel
	defer func() { integrityModel = old }()
	return register()
}

func TestDamagedDownloadLeavesNothingLocal(t *testing.T) {
	r := registerBig(t, "damaged", func() registered {
		r, _ := localRegistered(t, "damaged")
		return r
	})
	checkDamagedLeavesNothing(t, r)
}

func TestDamagedDownloadLeavesNothingMLflow(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an MLflow server")
	}
	srv := testenv.StartMLflow(t, testenv.MLflowOptions{})
	st, err := mlflow.New(mlflow.Config{TrackingURI: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	onDisk := func(root, rel string) string {
		return filepath.Join(srv.ArtifactsDir, filepath.FromSlash(strings.TrimPrefix(root, "mlflow-artifacts:/")), filepath.FromSlash(rel))
	}
	r := registerBig(t, "srv-damaged", func() registered { return registerT(t, st, "srv-damaged", onDisk) })
	checkDamagedLeavesNothing(t, r)
}

// TestCancelledDownloadStopsPipelines: a load cancelled while the weights
// stream returns the cancellation, and no pipeline goroutine survives it.
func TestCancelledDownloadStopsPipelines(t *testing.T) {
	dir := t.TempDir()
	local, err := localstore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	r := registerBig(t, "cancelled", func() registered { return registerT(t, local, "cancelled", nil) })
	ctx, cancel := context.WithCancel(context.Background())
	st := &cancellingStore{Store: local, cancel: cancel, after: WeightsFile}
	_, err = LoadModel(ctx, st, r.uris()[0], filepath.Join(t.TempDir(), "dl"))
	if err == nil || ctx.Err() == nil {
		t.Fatalf("load: %v (ctx %v), want the cancellation", err, ctx.Err())
	}
	waitNoPipelines(t)
}

// cancellingStore cancels the caller's context once more than a chunk of
// the file named after was read, as a worker shutting down mid-download.
type cancellingStore struct {
	store.Store
	cancel func()
	after  string
}

func (s *cancellingStore) OpenArtifact(ctx context.Context, root, rel string) (io.ReadCloser, error) {
	rc, err := s.Store.OpenArtifact(ctx, root, rel)
	if err != nil || !strings.HasSuffix(rel, s.after) {
		return rc, err
	}
	return &cancelReader{ReadCloser: rc, left: hashpipe.ChunkSize + hashpipe.ChunkSize/2, cancel: s.cancel}, nil
}

type cancelReader struct {
	io.ReadCloser
	left   int
	cancel func()
}

func (c *cancelReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		c.cancel()
	}
	n, err := c.ReadCloser.Read(p)
	c.left -= n
	return n, err
}
