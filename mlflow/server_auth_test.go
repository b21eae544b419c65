package mlflow

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/internal/testrig/testenv"
	"github.com/flavorflow/flavorflow/store"
)

func TestServerBasicAuth(t *testing.T) {
	srv := testenv.StartMLflow(t, testenv.MLflowOptions{BasicAuth: true, AdminPassword: "right-Passw0rd-123"})
	ctx := context.Background()
	newClient := func(user, pass string) *Client {
		c, err := New(Config{TrackingURI: srv.URL, Username: user, Password: pass, MaxRetries: 3, BackoffFactor: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	good := newClient(srv.AdminUser, srv.AdminPassword)
	name := unique("auth-exp")
	if _, err := good.CreateExperiment(ctx, name, nil); err != nil {
		t.Fatalf("right credentials: %v", err)
	}
	if _, err := good.GetExperimentByName(ctx, name); err != nil {
		t.Fatalf("right credentials: %v", err)
	}

	start := time.Now()
	_, err := newClient(srv.AdminUser, "wrong-Passw0rd-456").GetExperimentByName(ctx, name)
	wantCode(t, err, failure.Unauthorized)
	msg := err.Error()
	if !strings.Contains(msg, srv.URL) || strings.Contains(msg, "wrong-Passw0rd-456") || strings.Contains(msg, srv.AdminPassword) {
		t.Errorf("message %q must name %s and no password", msg, srv.URL)
	}
	if time.Since(start) > 2*time.Second {
		t.Errorf("a 401 took %s: it must not be retried", time.Since(start))
	}
	_, err = newClient("", "").GetExperimentByName(ctx, name)
	wantCode(t, err, failure.Unauthorized)
}

// genSource yields n pseudo-random bytes without holding them in memory:
// a 1 MiB random block repeated, each copy stamped with its index so no
// two blocks are equal.
func genSource(n int64) (store.Source, string) {
	block := make([]byte, 1<<20)
	rand.Read(block)
	gen := func() io.Reader { return io.LimitReader(&blockReader{block: block}, n) }
	h := sha256.New()
	io.Copy(h, gen())
	sum := hex.EncodeToString(h.Sum(nil))
	return store.Source{Open: func() (io.ReadCloser, error) { return io.NopCloser(gen()), nil }, Size: n, SHA256: sum}, sum
}

type blockReader struct {
	block []byte
	off   int64
}

func (b *blockReader) Read(p []byte) (int, error) {
	i := int(b.off % int64(len(b.block)))
	if i == 0 {
		binary.LittleEndian.PutUint64(b.block, uint64(b.off))
	}
	n := copy(p, b.block[i:])
	b.off += int64(n)
	return n, nil
}

func TestServerLargeUpload(t *testing.T) {
	if testing.Short() {
		t.Skip("300 MiB upload")
	}
	ctx := context.Background()
	c := serverClient(t)
	// Over the threshold, so the real server's 501 to mpu/create (local
	// artifact destination) and the fallback to one PUT are exercised.
	c.cfg.MultipartThreshold = 64 << 20
	const size = 300 << 20
	src, sum := genSource(size)
	root := "mlflow-artifacts:/" + unique("large")
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	if err := c.PutArtifact(ctx, root, "big/weights.bin", src); err != nil {
		t.Fatal(err)
	}
	list, err := c.ListArtifacts(ctx, root, "big")
	if err != nil || len(list) != 1 || list[0].Size != size {
		t.Fatalf("listing = %+v, %v", list, err)
	}
	rc, err := c.OpenArtifact(ctx, root, "big/weights.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, rc)
	if err != nil || n != size || hex.EncodeToString(h.Sum(nil)) != sum {
		t.Fatalf("read back %d bytes (%v), sha match %t", n, err, hex.EncodeToString(h.Sum(nil)) == sum)
	}
	if !c.mpuUnsupported.Load() {
		t.Error("the server did not refuse multipart upload; expected 501 from a local destination")
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if grown := int64(after.HeapInuse) - int64(before.HeapInuse); grown > 64<<20 {
		t.Errorf("heap grew by %d MiB during a %d MiB round trip", grown>>20, size>>20)
	}
}
