package mlflow

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// byHostAndKind keys a request by its host and by the MLflow artifact
// endpoint it calls, if any (presigned, artifacts).
func byHostAndKind(r *http.Request) []string {
	keys := []string{r.URL.Host}
	for _, kind := range []string{"/mlflow-artifacts/presigned/", "/mlflow-artifacts/artifacts/"} {
		if strings.Contains(r.URL.Path, kind) {
			keys = append(keys, kind)
		}
	}
	return keys
}

func countingClient(t *testing.T, url string) (*Client, *requestCounter) {
	t.Helper()
	rc := newRequestCounter(byHostAndKind)
	return fastClient(t, url, func(c *Config) { c.Transport = rc }), rc
}

// TestS3DownloadPresigned: with an object store behind the proxy a
// download asks the server for a presigned URL and reads the bytes from
// the store, never through the server, as MLflow's Python client does.
func TestS3DownloadPresigned(t *testing.T) {
	t.Parallel()
	r := newS3Rig(t)
	_, src := randomFile(t, 1<<20)
	up := s3ClientOf(t, r.srv.URL, "")
	root := "mlflow-artifacts:/" + unique("presigned")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := up.PutArtifact(ctx, root, "model/weights.bin", src); err != nil {
		t.Fatal(err)
	}
	c, hc := countingClient(t, r.srv.URL)
	for range 2 {
		if got := downloadSHA(t, c, root, "model/weights.bin"); got != src.SHA256 {
			t.Fatalf("downloaded sha256 %s, want %s", got, src.SHA256)
		}
	}
	store, _ := url.Parse(r.px.URL)
	if p, a, s := hc.count("/mlflow-artifacts/presigned/"), hc.count("/mlflow-artifacts/artifacts/"), hc.count(store.Host); p != 2 || a != 0 || s != 2 {
		t.Errorf("presigned requests %d (want 2), proxied downloads %d (want 0), GETs to the object store %d (want 2)", p, a, s)
	}
}

// TestPresignedDownloadFallsBack: a server that cannot presign, a store the
// worker cannot reach and a URL the store refuses each fall back to the
// proxied download with the same bytes; the first two only once per client.
func TestPresignedDownloadFallsBack(t *testing.T) {
	const body = "the model's bytes"
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	unreachable := "http://" + closed.Addr().String() + "/bucket/f"
	closed.Close()
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>", http.StatusForbidden)
	}))
	t.Cleanup(refusing.Close)
	for _, tc := range []struct {
		name      string
		presign   func(w http.ResponseWriter)
		presigned int // presigned requests for two downloads
	}{
		{"local destination (501)", func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusNotImplemented)
			io.WriteString(w, `{"error_code":"NOT_IMPLEMENTED","message":"presigned downloads are not supported"}`)
		}, 1},
		{"server without the endpoint (404)", func(w http.ResponseWriter) { http.NotFound(w, nil) }, 1},
		{"store unreachable", func(w http.ResponseWriter) { io.WriteString(w, `{"url":"`+unreachable+`","headers":{}}`) }, 1},
		{"URL refused (expired)", func(w http.ResponseWriter) { io.WriteString(w, `{"url":"`+refusing.URL+`/bucket/f","headers":{}}`) }, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch {
				case strings.Contains(r.URL.Path, "/mlflow-artifacts/presigned/"):
					tc.presign(w)
				case strings.Contains(r.URL.Path, "/mlflow-artifacts/artifacts/"):
					io.WriteString(w, body)
				default:
					http.NotFound(w, r)
				}
			}))
			t.Cleanup(srv.Close)
			c, hc := countingClient(t, srv.URL)
			for range 2 {
				rc, err := c.OpenArtifact(context.Background(), "mlflow-artifacts:/exp/model", "weights.bin")
				if err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(rc)
				rc.Close()
				if err != nil || string(got) != body {
					t.Fatalf("read %q, %v; want %q", got, err, body)
				}
			}
			if p, a := hc.count("/mlflow-artifacts/presigned/"), hc.count("/mlflow-artifacts/artifacts/"); p != tc.presigned || a != 2 {
				t.Errorf("presigned requests %d (want %d), proxied downloads %d (want 2)", p, tc.presigned, a)
			}
		})
	}
}
