package mlflow

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// recording is a response captured from a real server (testdata/recordings).
type recording struct {
	Status      int    `json:"status"`
	ContentType string `json:"content_type"`
	Body        string `json:"body"`
}

func loadRecording(t *testing.T, name string) recording {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "recordings", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var r recording
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r recording) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", r.ContentType)
	w.WriteHeader(r.Status)
	w.Write([]byte(r.Body))
}

// edit returns a copy with the body rewritten.
func (r recording) edit(old, new string) recording {
	r.Body = strings.Replace(r.Body, old, new, 1)
	return r
}

// countingServer serves h and counts requests.
func countingServer(t *testing.T, h http.Handler) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// fastClient is a client of url with millisecond backoff.
func fastClient(t *testing.T, url string, mutate ...func(*Config)) *Client {
	t.Helper()
	cfg := Config{TrackingURI: url, MaxRetries: 3, BackoffFactor: time.Millisecond, BackoffJitter: time.Millisecond,
		BackoffMax: 50 * time.Millisecond, VersionPollInterval: 5 * time.Millisecond, VersionWaitTimeout: 60 * time.Millisecond}
	for _, m := range mutate {
		m(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
