package mlflow

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/flavorflow/flavorflow/internal/testrig/faultproxy"
	"github.com/flavorflow/flavorflow/internal/testrig/testenv"
	"github.com/flavorflow/flavorflow/store"
	"github.com/flavorflow/flavorflow/store/storetest"
)

// The S3 minimum part size: every part but the last must be at least this.
const s3MinPart = 5 << 20

// s3Client is a client of the package's shared MLflow server whose
// artifacts go to the shared SeaweedFS, uploading files of 5 MiB and more
// in 5 MiB parts.
func s3Client(t *testing.T) *Client {
	t.Helper()
	srv := testenv.SharedMLflow(t, testenv.SharedS3(t).MLflowOptions())
	return s3ClientOf(t, srv.URL, "")
}

func s3ClientOf(t testing.TB, url, journal string) *Client {
	c, err := New(Config{TrackingURI: url, BackoffFactor: 10 * time.Millisecond, BackoffJitter: time.Millisecond, MaxRetries: 2,
		MultipartThreshold: s3MinPart, MultipartPartSize: s3MinPart, UploadParallelism: 4, MultipartJournalDir: journal})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestS3Conformance runs the shared store suite against MLflow keeping its
// artifacts in a real S3 object store.
func TestS3Conformance(t *testing.T) {
	storetest.RunConformanceTests(t, func(t *testing.T) store.Store { return s3Client(t) })
}

// s3Rig is a dedicated SeaweedFS behind a counting proxy, and an MLflow
// server that reaches S3 (and hands out presigned part URLs) through it.
type s3Rig struct {
	s3  *testenv.S3
	px  *faultproxy.Proxy
	srv *testenv.MLflow

	mu          sync.Mutex
	partPuts    int
	maxInFlight int64
}

func newS3Rig(t *testing.T) *s3Rig {
	s3 := testenv.StartS3(t)
	px, err := faultproxy.Start(s3.URL, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(px.Close)
	r := &s3Rig{s3: s3, px: px}
	px.SetRules(faultproxy.Rule{Method: http.MethodPut, Before: func(req *http.Request) {
		if !strings.Contains(req.URL.RawQuery, "partNumber=") {
			return
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		r.partPuts++
		// The proxy counts this upload right after Before returns.
		r.maxInFlight = max(r.maxInFlight, px.UploadsInFlight()+1)
	}})
	r.srv = testenv.StartMLflow(t, testenv.MLflowOptions{S3Endpoint: px.URL, S3Bucket: s3.Bucket})
	return r
}

// randomFile writes size random bytes and returns a source for it with its
// hash, as flavor.LogModel builds one.
func randomFile(t testing.TB, size int64) (string, store.Source) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "weights.bin")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.CopyN(io.MultiWriter(f, h), rand.Reader, size); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p, fileSource(p, size, hex.EncodeToString(h.Sum(nil)))
}

func fileSource(p string, size int64, sum string) store.Source {
	return store.Source{Size: size, SHA256: sum,
		Open: func() (io.ReadCloser, error) { return os.Open(p) },
		OpenRange: func(off, n int64) (io.ReadCloser, error) {
			f, err := os.Open(p)
			if err != nil {
				return nil, err
			}
			return struct {
				io.Reader
				io.Closer
			}{io.NewSectionReader(f, off, n), f}, nil
		}}
}

func downloadSHA(t *testing.T, c *Client, root, rel string) string {
	t.Helper()
	rc, err := c.OpenArtifact(context.Background(), root, rel)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	h := sha256.New()
	if _, err := io.Copy(h, rc); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestS3MultipartParallel: a 26 MiB file goes up as six parts through
// MLflow's multipart API, several at once, straight to S3; it reads back
// whole.
func TestS3MultipartParallel(t *testing.T) {
	t.Parallel()
	r := newS3Rig(t)
	// Slow enough that parts overlap on the wire.
	r.px.SetUploadRate(32 << 20)
	const size = 26 << 20
	_, src := randomFile(t, size)
	var sent atomic.Int64
	src.Sent = func(d int64) { sent.Add(d) }
	c := s3ClientOf(t, r.srv.URL, "")
	root := "mlflow-artifacts:/" + unique("mpu")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := c.PutArtifact(ctx, root, "model/weights.bin", src); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	parts, maxInFlight := r.partPuts, r.maxInFlight
	r.mu.Unlock()
	if parts != 6 || maxInFlight < 2 {
		t.Errorf("part PUTs = %d (want 6), most at once = %d (want >= 2)", parts, maxInFlight)
	}
	if got := r.px.Stats().UploadBytes; got != size || sent.Load() != size {
		t.Errorf("bytes through the proxy %d, reported sent %d; want %d", got, sent.Load(), size)
	}
	if got := downloadSHA(t, c, root, "model/weights.bin"); got != src.SHA256 {
		t.Errorf("downloaded sha256 %s, want %s", got, src.SHA256)
	}
	files, err := c.ListArtifacts(ctx, root, "model")
	if err != nil || len(files) != 1 || files[0].Size != size {
		t.Errorf("listing = %+v, %v", files, err)
	}
}

// helperEnv configures TestS3UploadHelper, the process the resume test kills.
const helperEnv = "FLAVORFLOW_S3_UPLOAD_HELPER"

type helperArgs struct {
	URL, Journal, Root, Rel, File, SHA256 string
	Size                                  int64
}

// TestS3UploadHelper is not a test: s3Rig.killMidUpload runs the
// test binary with only it selected, to have a process to SIGKILL mid-upload.
func TestS3UploadHelper(t *testing.T) {
	raw := os.Getenv(helperEnv)
	if raw == "" {
		t.Skip("runs only as the upload process of TestS3MultipartResumeAfterKill")
	}
	var a helperArgs
	if err := json.Unmarshal([]byte(raw), &a); err != nil {
		t.Fatal(err)
	}
	c := s3ClientOf(t, a.URL, a.Journal)
	if err := c.PutArtifact(context.Background(), a.Root, a.Rel, fileSource(a.File, a.Size, a.SHA256)); err != nil {
		t.Fatal(err)
	}
}

// journaledParts reads how many parts the journal in dir records as sent.
func journaledParts(dir string) int {
	names, _ := filepath.Glob(filepath.Join(dir, "mpu-*.json"))
	for _, n := range names {
		data, err := os.ReadFile(n)
		if err != nil {
			continue
		}
		var st mpuState
		if json.Unmarshal(data, &st) == nil {
			return st.sent()
		}
	}
	return 0
}

// killMidUpload runs a process uploading src to root/model/weights.bin
// with the journal in journal, and SIGKILLs it once about 26 MiB of it
// reached S3 (four parts go at once at 8 MiB/s each: the first four are in,
// the next four under way). It returns when the proxy has forwarded all the
// dead process's bytes.
func (r *s3Rig) killMidUpload(t *testing.T, journal, root, file string, src store.Source) {
	t.Helper()
	r.px.SetUploadRate(8 << 20)
	args, _ := json.Marshal(helperArgs{URL: r.srv.URL, Journal: journal, Root: root, Rel: "model/weights.bin", File: file, SHA256: src.SHA256, Size: src.Size})
	cmd := exec.Command(os.Args[0], "-test.run=^TestS3UploadHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+string(args))
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(2 * time.Minute)
	for r.px.Stats().UploadBytes < 26<<20 {
		select {
		case err := <-exited:
			t.Fatalf("the upload process ended before it could be killed: %v\n%s", err, out)
		case <-deadline:
			cmd.Process.Kill()
			t.Fatalf("26 MiB not sent within 2 min\n%s", out)
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited
	// The proxy still reads what the dead process's sockets had buffered.
	deadline = time.After(time.Minute)
	for r.px.UploadsInFlight() > 0 {
		select {
		case <-deadline:
			t.Fatal("the killed process's uploads never ended at the proxy")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestS3MultipartResumeAfterKill: a process uploading a 40 MiB file in eight
// parts is SIGKILLed once about half of it is on the wire; the next upload of the same
// file (another process would do the same: the journal is a file) sends
// only the parts not recorded, not the whole file again.
func TestS3MultipartResumeAfterKill(t *testing.T) {
	t.Parallel()
	r := newS3Rig(t)
	const size = 40 << 20
	const numParts = size / s3MinPart
	file, src := randomFile(t, size)
	journal := t.TempDir()
	root := "mlflow-artifacts:/" + unique("resume")
	r.killMidUpload(t, journal, root, file, src)
	done := journaledParts(journal)
	before := r.px.Stats().UploadBytes
	t.Logf("killed with %d of %d parts recorded, %d MiB on the wire", done, numParts, before>>20)

	var sent atomic.Int64
	src.Sent = func(d int64) { sent.Add(d) }
	c := s3ClientOf(t, r.srv.URL, journal)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := c.PutArtifact(ctx, root, "model/weights.bin", src); err != nil {
		t.Fatal(err)
	}
	resent := r.px.Stats().UploadBytes - before
	want := int64(size - done*s3MinPart)
	t.Logf("bytes re-sent after the kill: %d MiB of %d MiB (%d parts recorded before the kill were not sent again)", resent>>20, size>>20, done)
	if done == 0 || resent != want || sent.Load() != want {
		t.Errorf("after the kill %d bytes went up (reported %d), want %d: only the %d parts not recorded", resent, sent.Load(), want, numParts-done)
	}
	if got := downloadSHA(t, c, root, "model/weights.bin"); got != src.SHA256 {
		t.Errorf("downloaded sha256 %s, want %s", got, src.SHA256)
	}
	if n, _ := filepath.Glob(filepath.Join(journal, "mpu-*")); len(n) != 0 {
		t.Errorf("journal files left after a complete upload: %v", n)
	}
}

// TestS3MultipartAbortedUploadStartsOver: the upload a killed process left
// is aborted behind the client's back (as a bucket's lifecycle rule for
// incomplete uploads would); the next attempt finds its parts answered 404
// NoSuchUpload, starts a new upload and sends the whole file, instead of
// failing with NotFound (non-retryable: the pipeline would fail).
func TestS3MultipartAbortedUploadStartsOver(t *testing.T) {
	t.Parallel()
	r := newS3Rig(t)
	const size = 40 << 20
	file, src := randomFile(t, size)
	journal := t.TempDir()
	root := "mlflow-artifacts:/" + unique("aborted")
	r.killMidUpload(t, journal, root, file, src)
	names, _ := filepath.Glob(filepath.Join(journal, "mpu-*.json"))
	if len(names) != 1 {
		t.Fatalf("journals %v, want one", names)
	}
	data, err := os.ReadFile(names[0])
	if err != nil {
		t.Fatal(err)
	}
	var st mpuState
	if err := json.Unmarshal(data, &st); err != nil || st.UploadID == "" {
		t.Fatalf("journal %s: %v", data, err)
	}
	prefix := strings.TrimPrefix(r.srv.ArtifactsDir, "s3://"+r.s3.Bucket+"/")
	key := prefix + "/" + strings.TrimPrefix(root, "mlflow-artifacts:/") + "/model/weights.bin"
	req, _ := http.NewRequest(http.MethodDelete, r.s3.URL+"/"+r.s3.Bucket+"/"+key+"?uploadId="+url.QueryEscape(st.UploadID), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("aborting %s upload %s: HTTP %d", key, st.UploadID, resp.StatusCode)
	}
	before := r.px.Stats().UploadBytes
	c := s3ClientOf(t, r.srv.URL, journal)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := c.PutArtifact(ctx, root, "model/weights.bin", src); err != nil {
		t.Fatal(err)
	}
	if sent := r.px.Stats().UploadBytes - before; sent < size {
		t.Errorf("after the abort %d bytes went up, want the whole %d", sent, size)
	}
	if got := downloadSHA(t, c, root, "model/weights.bin"); got != src.SHA256 {
		t.Errorf("downloaded sha256 %s, want %s", got, src.SHA256)
	}
}

// TestS3MultipartCompleteAnswerLost: MLflow completes the upload but its
// answer is lost; complete is retried and the put succeeds. SeaweedFS (like
// AWS S3 for a while) accepts the repeated complete; a store answering
// NoSuchUpload instead would take putMultipart's listing check, which this
// store cannot reach.
func TestS3MultipartCompleteAnswerLost(t *testing.T) {
	t.Parallel()
	r := newS3Rig(t)
	mpx, err := faultproxy.Start(r.srv.URL, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mpx.Close)
	mpx.SetRules(faultproxy.Rule{Method: http.MethodPost, Path: regexp.MustCompile(`/mpu/complete/`), Action: faultproxy.Close, Count: 1})
	const size = 12 << 20
	_, src := randomFile(t, size)
	c := s3ClientOf(t, mpx.URL, t.TempDir())
	root := "mlflow-artifacts:/" + unique("lost")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := c.PutArtifact(ctx, root, "model/weights.bin", src); err != nil {
		t.Fatal(err)
	}
	if n := mpx.Stats().Total(); n != 1 {
		t.Errorf("%d answers lost, want 1", n)
	}
	if got := downloadSHA(t, c, root, "model/weights.bin"); got != src.SHA256 {
		t.Errorf("downloaded sha256 %s, want %s", got, src.SHA256)
	}
}
