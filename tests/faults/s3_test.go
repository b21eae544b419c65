package faults

import (
	"fmt"
	"testing"
	"time"

	"github.com/flavorflow/flavorflow/internal/testrig/faultproxy"
	"github.com/flavorflow/flavorflow/internal/testrig/testenv"
)

// TestS3Restart: MLflow keeps its artifacts in S3 (SeaweedFS) and the
// worker uploads the weights in 5 MiB parts straight to it. The S3 server is
// SIGKILLed mid-upload, stays down for 10 s, and is started again on its
// data. The part uploads and MLflow's own S3 calls fail meanwhile and are
// retried; the pipeline completes with exactly one version whose stored
// bytes match its manifest.
//
// It runs in `make faults` only (about a minute, most of it SeaweedFS
// starting twice): `make test` already runs the object store through the
// conformance suite, the multipart tests and a pipeline with a worker kill.
func TestS3Restart(t *testing.T) {
	if !full {
		t.Skip("make faults only (FLAVORFLOW_FAULTS=full)")
	}
	t.Parallel()
	s3 := testenv.StartS3(t)
	// The presigned part URLs point at this proxy; it slows each part so
	// the kill lands inside the upload, and answers 502 while S3 is down.
	s3px, err := faultproxy.Start(s3.URL, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s3px.Close)
	s3px.SetUploadRate(8 << 20)
	ml := testenv.StartMLflow(t, testenv.MLflowOptions{S3Endpoint: s3px.URL, S3Bucket: s3.Bucket})
	r := newRig(t, rigOptions{mlflow: ml})
	r.startWorkerEnv("MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE=5242880", "MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE=5242880")
	weights := pick(int64(48<<20), int64(128<<20))
	p := r.start(r.prefix+"-0", request(r.prefix+"-m", "champion", 3, weights))
	if err := poll(3*time.Minute, func() (bool, error) { return s3px.Stats().UploadBytes >= 16<<20, nil }); err != nil {
		t.Fatalf("16 MiB never reached S3: %v", err)
	}
	inFlight := s3px.UploadsInFlight()
	s3.Kill()
	killed := time.Now()
	time.Sleep(10 * time.Second) // the outage itself, not a wait for anything
	if err := s3.Restart(); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	r.settle("S3 killed mid-upload", pick(6*time.Minute, 10*time.Minute), []*pipeline{p}, func(add func(string, any)) {
		add("S3 down (SIGKILL, restart)", fmt.Sprintf("%s, %d part uploads cut", back.Sub(killed).Round(time.Second), inFlight))
		add("completed after S3 returned", time.Since(back).Round(time.Second))
		add("bytes to S3 / weights", fmt.Sprintf("%.1f MiB / %.1f MiB", mib(s3px.Stats().UploadBytes), mib(weights)))
	})
}
