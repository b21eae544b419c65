package mlflow

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/internal/hashpipe"
	"github.com/flavorflow/flavorflow/internal/testrig/goroutines"
	"github.com/flavorflow/flavorflow/store"
)

// bigPayload spans several pipeline chunks with a short tail.
func bigPayload() []byte {
	b := make([]byte, 3*hashpipe.ChunkSize+777)
	_, _ = rand.NewChaCha8([32]byte{1}).Read(b)
	return b
}

func noMultipart(c *Config) { c.MultipartThreshold = 1 << 40 }

// waitNoPipelines fails unless every hashpipe goroutine has ended after a
// download or upload returned.
func waitNoPipelines(t *testing.T) {
	t.Helper()
	goroutines.WaitNone(t, "internal/hashpipe.")
}

// TestPutRetryResendsIdenticalLargeBody: an attempt cut mid-body (the
// connection dropped after 1.5 MiB) and one answered 502 are retried, each
// retry sends the whole file again, byte for byte, and its digest is
// checked; no read-ahead goroutine outlives the upload.
func TestPutRetryResendsIdenticalLargeBody(t *testing.T) {
	payload := bigPayload()
	var (
		mu     sync.Mutex
		bodies [][]byte
	)
	srv, n := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		attempt := len(bodies)
		mu.Unlock()
		if attempt == 0 {
			b := make([]byte, hashpipe.ChunkSize+hashpipe.ChunkSize/2)
			m, _ := io.ReadFull(r.Body, b)
			mu.Lock()
			bodies = append(bodies, b[:m])
			mu.Unlock()
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, b)
		mu.Unlock()
		if attempt == 1 {
			w.WriteHeader(http.StatusBadGateway)
		}
	}))
	c := fastClient(t, srv.URL, noMultipart)
	if err := c.PutArtifact(context.Background(), "mlflow-artifacts:/1", "model/weights.bin", bytesSource(payload)); err != nil {
		t.Fatal(err)
	}
	if n.Load() != 3 || len(bodies) != 3 {
		t.Fatalf("%d requests, %d bodies; want 3", n.Load(), len(bodies))
	}
	if !bytes.HasPrefix(payload, bodies[0]) || len(bodies[0]) == 0 {
		t.Errorf("the cut attempt sent %d bytes that are not the file's start", len(bodies[0]))
	}
	for i, b := range bodies[1:] {
		if !bytes.Equal(b, payload) {
			t.Errorf("retry %d sent %d bytes, not the file", i+1, len(b))
		}
	}
	waitNoPipelines(t)
}

// TestPutLargeFlippedByte: a source whose bytes are not the ones its
// recorded sha256 describes (one byte flipped in the third chunk) is
// ChecksumMismatch after the transfer, as before the pipeline.
func TestPutLargeFlippedByte(t *testing.T) {
	srv, _ := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) }))
	c := fastClient(t, srv.URL, noMultipart)
	payload := bigPayload()
	src := bytesSource(payload)
	flipped := bytes.Clone(payload)
	flipped[2*hashpipe.ChunkSize+5] ^= 1
	sum := sha256.Sum256(flipped)
	src.SHA256 = hex.EncodeToString(sum[:])
	wantCode(t, c.PutArtifact(context.Background(), "mlflow-artifacts:/1", "w.bin", src), failure.ChecksumMismatch)
	waitNoPipelines(t)
}

// TestPutCancelledStopsPipelines: an upload cancelled while the server is
// reading the body returns, and its read-ahead goroutines end.
func TestPutCancelledStopsPipelines(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	srv, _ := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, hashpipe.ChunkSize)
		if _, err := io.ReadFull(r.Body, b); err == nil {
			close(started)
		}
		<-release // stop reading: the client is left waiting to send
	}))
	t.Cleanup(func() { close(release) }) // before the server's own cleanup closes it
	c := fastClient(t, srv.URL, noMultipart)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-started; cancel() }()
	// Larger than the ring, so the read-ahead is waiting for the socket
	// when the upload is cancelled.
	const size = 16 * hashpipe.Depth * hashpipe.ChunkSize
	src := store.Source{Size: size, Open: func() (io.ReadCloser, error) {
		return io.NopCloser(io.LimitReader(zeros{}, size)), nil
	}}
	err := c.PutArtifact(ctx, "mlflow-artifacts:/1", "w.bin", src)
	if err == nil || ctx.Err() == nil {
		t.Fatalf("got %v (ctx %v), want the cancellation", err, ctx.Err())
	}
	waitNoPipelines(t)
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }
