package tests

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/flavorflow/flavorflow/flavor"
	"github.com/flavorflow/flavorflow/internal/testrig/faultproxy"
	"github.com/flavorflow/flavorflow/internal/testrig/testenv"
	"github.com/flavorflow/flavorflow/mlflow"
	"github.com/flavorflow/flavorflow/vocab"
	"github.com/flavorflow/flavorflow/workflows"
)

// TestS3PipelineResumesUploadAfterWorkerKill is the pipeline end to end on
// MLflow keeping its artifacts in S3 (SeaweedFS): a dev server, the worker
// binary, FakeModel(3) with 64 MiB of weights uploaded in 5 MiB parts
// through MLflow's multipart API. The worker is SIGKILLed with part of the
// weights sent; its replacement resumes the upload (the parts already in
// S3 are not sent again), and the pipeline ends with one version whose model
// loads back and predicts 7 for 4.
func TestS3PipelineResumesUploadAfterWorkerKill(t *testing.T) {
	t.Parallel()
	c := newCLIEnv(t)
	s3 := testenv.StartS3(t)
	px, err := faultproxy.Start(s3.URL, 1)
	require.NoError(t, err)
	t.Cleanup(px.Close)
	var partPuts atomic.Int64
	px.SetRules(faultproxy.Rule{Method: http.MethodPut, Before: func(r *http.Request) {
		if strings.Contains(r.URL.RawQuery, "partNumber=") {
			partPuts.Add(1)
		}
	}})
	px.SetUploadRate(8 << 20) // per part; four at once
	ml := testenv.StartMLflow(t, testenv.MLflowOptions{S3Endpoint: px.URL, S3Bucket: s3.Bucket})
	const weights = 64 << 20
	env := []string{"MLFLOW_TRACKING_URI=" + ml.URL,
		"MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE=5242880", "MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE=5242880"}
	w1 := c.startWorker(env...)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	req := workflows.LifecycleRequest{ModelName: "s3-model", Alias: "champion", WeightsSize: weights,
		Data: vocab.TrainingData{Pairs: []vocab.Sample{{X: 1, Y: 4}, {X: 2, Y: 5}, {X: 10, Y: 13}}}}
	run, err := c.tp.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "s3-pipeline", TaskQueue: c.queue}, workflows.WorkflowName, req)
	require.NoError(t, err)

	require.Eventually(t, func() bool { return px.Stats().UploadBytes >= 24<<20 }, 3*time.Minute, 20*time.Millisecond,
		"24 MiB of weights never reached S3\n%s", w1.logs())
	require.NoError(t, w1.cmd.Process.Signal(syscall.SIGKILL))
	<-w1.done
	// What the dead worker's sockets still held reaches S3 now.
	require.Eventually(t, func() bool { return px.UploadsInFlight() == 0 }, time.Minute, 20*time.Millisecond)
	before := px.Stats().UploadBytes

	w2 := c.startWorker(env...)
	var res workflows.LifecycleResult
	require.NoError(t, run.Get(ctx, &res), "%s", w2.logs())
	resent := px.Stats().UploadBytes - before
	t.Logf("killed with %d MiB of %d MiB sent; the next attempt sent %d MiB; %d part PUTs in all", before>>20, weights>>20, resent>>20, partPuts.Load())
	require.Equal(t, 1, res.Version)
	require.GreaterOrEqual(t, partPuts.Load(), int64(13), "64 MiB in 5 MiB parts is 13 part PUTs at least: the multipart path ran")
	require.Contains(t, w2.logs(), "resuming multipart upload")
	// At least one whole part was not sent again: the bytes after the kill
	// stay under the weights less one part.
	require.Less(t, resent, int64(weights-5<<20), "the replacement worker sent the weights again")

	st, err := mlflow.New(mlflow.Config{TrackingURI: ml.URL})
	require.NoError(t, err)
	defer st.Close()
	versions, err := st.SearchModelVersions(ctx, "s3-model", "", "")
	require.NoError(t, err)
	require.Len(t, versions, 1)
	loaded, err := flavor.LoadModel(ctx, st, "models:/s3-model@champion", filepath.Join(t.TempDir(), "dl"))
	require.NoError(t, err)
	require.Equal(t, 7.0, loaded.Model.Predict(4), "predict(4) must be 7 for FakeModel(3)")
	require.True(t, strings.HasPrefix(ml.ArtifactsDir, "s3://"), ml.ArtifactsDir)
}
