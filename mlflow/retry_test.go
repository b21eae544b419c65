package mlflow

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/store"
)

// failThen answers status for the first n requests, then 200 with body.
func failThen(n int32, status int, body string) http.Handler {
	var seen atomic.Int32
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if seen.Add(1) <= n {
			w.WriteHeader(status)
			w.Write([]byte(`{"error_code": "X", "message": "transient"}`))
			return
		}
		w.Write([]byte(body))
	})
}

func TestRetryPolicyByStatus(t *testing.T) {
	ctx := context.Background()
	getExp := func(c *Client) error { _, err := c.GetExperimentByName(ctx, "e"); return err }
	createExp := func(c *Client) error { _, err := c.CreateExperiment(ctx, "e", nil); return err }
	const expBody = `{"experiment": {"experiment_id": "1", "name": "e"}}`
	tests := []struct {
		name     string
		status   int
		fails    int32
		call     func(*Client) error
		code     failure.Code // "" for success
		attempts int32
	}{
		{"503 then ok", 503, 2, getExp, "", 3},
		{"429 then ok", 429, 1, getExp, "", 2},
		{"408 then ok", 408, 1, getExp, "", 2},
		{"500 exhausts retries", 500, 99, getExp, failure.ServerUnavailable, 4},
		{"501 not retried", 501, 99, getExp, failure.NotImplemented, 1},
		{"400 not retried", 400, 99, getExp, failure.InvalidArgument, 1},
		{"403 not retried", 403, 99, getExp, failure.PermissionDenied, 1},
		{"404 not retried", 404, 99, getExp, failure.NotFound, 1},
		{"create not retried on 503", 503, 1, createExp, failure.ServerUnavailable, 1},
		{"create not retried on 500", 500, 1, createExp, failure.ServerUnavailable, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, n := countingServer(t, failThen(tc.fails, tc.status, expBody))
			err := tc.call(fastClient(t, srv.URL))
			if tc.code == "" && err != nil {
				t.Fatal(err)
			}
			if tc.code != "" {
				wantCode(t, err, tc.code)
			}
			if n.Load() != tc.attempts {
				t.Errorf("%d attempts, want %d", n.Load(), tc.attempts)
			}
		})
	}
}

func TestCreateRetriedOnlyWhenNotSent(t *testing.T) {
	ctx := context.Background()
	// A port with nothing listening: dial fails, so the request provably
	// never reached a server, and a create may be retried.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	var dials atomic.Int32
	c := fastClient(t, "http://"+addr, func(cfg *Config) {
		cfg.Transport = &http.Transport{DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
			dials.Add(1)
			return (&net.Dialer{}).DialContext(ctx, network, a)
		}}
	})
	_, err := c.CreateRun(ctx, store.CreateRunRequest{ExperimentID: "1"})
	wantCode(t, err, failure.ServerUnavailable)
	if dials.Load() != 4 {
		t.Errorf("%d dials for a create against a closed port, want 4", dials.Load())
	}

	// The connection is cut after the request was read: ambiguous, so the
	// create is not repeated and the error tells the caller to look up first.
	var n atomic.Int32
	srv, _ := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		io.Copy(io.Discard, r.Body)
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
	}))
	_, err = fastClient(t, srv.URL).CreateRegisteredModel(ctx, "M", nil)
	wantCode(t, err, failure.ServerUnavailable)
	if n.Load() != 1 || !strings.Contains(err.Error(), "look it up") {
		t.Errorf("%d attempts, error %v; want 1 and advice to look up", n.Load(), err)
	}
	// The same cut on a read is retried.
	n.Store(0)
	_, err = fastClient(t, srv.URL).GetRegisteredModel(ctx, "M")
	if n.Load() != 4 {
		t.Errorf("read after a cut connection: %d attempts, want 4 (%v)", n.Load(), err)
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	var times []time.Time
	srv, _ := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		times = append(times, time.Now())
		if len(times) == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.Write([]byte(`{"experiment": {"experiment_id": "1"}}`))
	}))
	c := fastClient(t, srv.URL, func(c *Config) { c.BackoffMax = 5 * time.Second })
	if _, err := c.GetExperimentByName(context.Background(), "e"); err != nil {
		t.Fatal(err)
	}
	if d := times[1].Sub(times[0]); d < 900*time.Millisecond {
		t.Errorf("retried after %s, want >= 1s from Retry-After", d)
	}
}

func TestBackoff(t *testing.T) {
	b := ExponentialBackoff(100*time.Millisecond, 0, time.Second)
	for attempt, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond, 5: time.Second} {
		if got := b(attempt, nil); got != want {
			t.Errorf("attempt %d: %s, want %s", attempt, got, want)
		}
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	timeNow = func() time.Time { return now }
	t.Cleanup(func() { timeNow = time.Now })
	resp := &http.Response{Header: http.Header{"Retry-After": {now.Add(700 * time.Millisecond).Format(http.TimeFormat)}}}
	// HTTP dates have second precision: 700 ms rounds down to 0 s.
	if got := b(1, resp); got != 100*time.Millisecond {
		t.Errorf("Retry-After date in the same second: %s", got)
	}
	resp.Header.Set("Retry-After", now.Add(3*time.Second).Format(http.TimeFormat))
	if got := b(1, resp); got != time.Second {
		t.Errorf("Retry-After date beyond max: %s, want the 1s cap", got)
	}
	resp.Header.Set("Retry-After", "garbage")
	if got := b(2, resp); got != 200*time.Millisecond {
		t.Errorf("bad Retry-After: %s", got)
	}
	j := ExponentialBackoff(0, 50*time.Millisecond, time.Second)
	for range 20 {
		if got := j(1, nil); got < 0 || got >= 50*time.Millisecond {
			t.Fatalf("jitter out of range: %s", got)
		}
	}
}

func TestRetryStopsOnContextDone(t *testing.T) {
	srv, n := countingServer(t, failThen(99, 503, ""))
	c := fastClient(t, srv.URL, func(c *Config) { c.BackoffFactor, c.BackoffMax = time.Hour, time.Hour })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.GetRun(ctx, "r")
	wantCode(t, err, failure.ServerUnavailable)
	if time.Since(start) > 5*time.Second || n.Load() != 1 {
		t.Errorf("took %s with %d attempts; want a prompt stop after 1", time.Since(start), n.Load())
	}
}

// TestPutReopensBody checks that a retried PUT re-reads the source from the
// start and that what arrives is the whole file.
func TestPutReopensBody(t *testing.T) {
	payload := bytes.Repeat([]byte("0123456789"), 1000)
	var bodies [][]byte
	srv, _ := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies = append(bodies, b)
		if r.ContentLength != int64(len(payload)) {
			t.Errorf("Content-Length %d, want %d", r.ContentLength, len(payload))
		}
		if len(bodies) < 3 {
			w.WriteHeader(http.StatusBadGateway)
		}
	}))
	opens := 0
	src := bytesSource(payload)
	open := src.Open
	src.Open = func() (io.ReadCloser, error) { opens++; return open() }
	c := fastClient(t, srv.URL)
	if err := c.PutArtifact(context.Background(), "mlflow-artifacts:/1/r/artifacts", "model/w.bin", src); err != nil {
		t.Fatal(err)
	}
	if opens != 3 || len(bodies) != 3 {
		t.Fatalf("opened %d times, %d requests; want 3 and 3", opens, len(bodies))
	}
	for i, b := range bodies {
		if !bytes.Equal(b, payload) {
			t.Errorf("attempt %d sent %d bytes, not the file", i, len(b))
		}
	}
}

func TestPutChecksumAndShortSource(t *testing.T) {
	srv, _ := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) }))
	c := fastClient(t, srv.URL)
	ctx := context.Background()
	src := bytesSource([]byte("abc"))
	src.SHA256 = strings.Repeat("a", 64)
	wantCode(t, c.PutArtifact(ctx, "mlflow-artifacts:/1", "f", src), failure.ChecksumMismatch)
	short := bytesSource([]byte("abc"))
	short.Size = 10
	wantCode(t, c.PutArtifact(ctx, "mlflow-artifacts:/1", "f", short), failure.ChecksumMismatch)
	failing := store.Source{Size: 1, Open: func() (io.ReadCloser, error) { return nil, errors.New("disk gone") }}
	if err := c.PutArtifact(ctx, "mlflow-artifacts:/1", "f", failing); err == nil || !strings.Contains(err.Error(), "disk gone") {
		t.Errorf("open failure: %v", err)
	}
}
