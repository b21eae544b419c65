package mlflow

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/flavorflow/flavorflow/failure"
)

func TestResolveArtifactRoot(t *testing.T) {
	c := fastClient(t, "http://127.0.0.1:5000/base")
	tests := []struct {
		root, rel, want string
	}{
		{"mlflow-artifacts:/1/m/artifacts", "MLmodel", "http://127.0.0.1:5000/base/api/2.0/mlflow-artifacts/artifacts/1/m/artifacts/MLmodel"},
		{"mlflow-artifacts:///1//m/artifacts/", "a b/c#d.txt", "http://127.0.0.1:5000/base/api/2.0/mlflow-artifacts/artifacts/1/m/artifacts/a%20b/c%23d.txt"},
		{"mlflow-artifacts://other:9000/1/x", "f", "http://other:9000/base/api/2.0/mlflow-artifacts/artifacts/1/x/f"},
		{"https://proxy.example/p/api/2.0/mlflow-artifacts/artifacts/1/x", "f", "https://proxy.example/p/api/2.0/mlflow-artifacts/artifacts/1/x/f"},
		{"mlflow-artifacts:/", "f", "http://127.0.0.1:5000/base/api/2.0/mlflow-artifacts/artifacts/f"},
	}
	for _, tc := range tests {
		r, err := c.resolveRoot(tc.root)
		if err != nil {
			t.Errorf("%s: %v", tc.root, err)
			continue
		}
		if got := r.fileURL("artifacts", tc.rel).String(); got != tc.want {
			t.Errorf("%s + %s = %s, want %s", tc.root, tc.rel, got, tc.want)
		}
	}
	for _, bad := range []string{"s3://bucket/x", "file:///tmp/x", "http://h/not/the/proxy", "mlflow-artifacts:/1/%2e%2e/x", "::"} {
		if _, err := c.resolveRoot(bad); err == nil {
			t.Errorf("resolveRoot(%q) accepted", bad)
		}
	}
	ctx := context.Background()
	for _, rel := range []string{"../x", "/etc/passwd", "a/../../b", `a\b`, "a\x00b", ""} {
		err := c.PutArtifact(ctx, "mlflow-artifacts:/1", rel, bytesSource(nil))
		wantCode(t, err, failure.InvalidPath)
		_, err = c.OpenArtifact(ctx, "mlflow-artifacts:/1", rel)
		wantCode(t, err, failure.InvalidPath)
	}
	_, err := c.ListArtifacts(ctx, "mlflow-artifacts:/1", "../up")
	wantCode(t, err, failure.InvalidPath)
}

// TestCredentialsStayOnTheTrackingHost: an artifact URI naming another
// host must not receive the tracking credentials.
func TestCredentialsStayOnTheTrackingHost(t *testing.T) {
	var auth []string
	var mu sync.Mutex
	srv, _ := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auth = append(auth, r.Header.Get("Authorization"))
		mu.Unlock()
		w.Write([]byte(`{}`))
	}))
	c := fastClient(t, srv.URL, func(c *Config) { c.Token = "tok" })
	other := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	ctx := context.Background()
	c.ListArtifacts(ctx, "mlflow-artifacts:/1", "")
	c.ListArtifacts(ctx, other+"/api/2.0/mlflow-artifacts/artifacts/1", "")
	if len(auth) != 2 || auth[0] != "Bearer tok" || auth[1] != "" {
		t.Errorf("Authorization headers = %q, want [Bearer tok, none]", auth)
	}
}

func TestMultipartFallsBackOn501(t *testing.T) {
	var mpu, puts int
	mux := http.NewServeMux()
	mux.Handle("/api/2.0/mlflow-artifacts/mpu/create/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mpu++
		loadRecording(t, "mpu_create_local").ServeHTTP(w, r)
	}))
	mux.Handle("/api/2.0/mlflow-artifacts/artifacts/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		puts++
		io.Copy(io.Discard, r.Body)
	}))
	srv, _ := countingServer(t, mux)
	c := fastClient(t, srv.URL, func(c *Config) { c.MultipartThreshold = 10 })
	for range 2 {
		if err := c.PutArtifact(context.Background(), "mlflow-artifacts:/1", "big.bin", bytesSource(bytes.Repeat([]byte("x"), 100))); err != nil {
			t.Fatal(err)
		}
	}
	if mpu != 1 || puts != 2 {
		t.Errorf("mpu/create called %d times, PUT %d times; want 1 (remembered) and 2", mpu, puts)
	}
}

// TestMultipartUpload drives the whole create/part/complete protocol
// against a fake S3-backed proxy.
func TestMultipartUpload(t *testing.T) {
	payload := bytes.Repeat([]byte("0123456789abcdef"), 1000) // 16000 bytes, 4 parts of 4096
	var mu sync.Mutex
	got := map[int][]byte{}
	var completed map[string]any
	failedOnce := false
	var srvURL string
	mux := http.NewServeMux()
	mux.HandleFunc("/api/2.0/mlflow-artifacts/mpu/create/1/dir", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Path     string `json:"path"`
			NumParts int    `json:"num_parts"`
		}
		json.NewDecoder(r.Body).Decode(&in)
		if in.Path != "big.bin" || in.NumParts != 4 {
			t.Errorf("create body = %+v", in)
		}
		var creds []map[string]any
		for i := 1; i <= in.NumParts; i++ {
			creds = append(creds, map[string]any{"url": srvURL + "/part?n=" + string(rune('0'+i)), "part_number": i, "headers": map[string]string{"X-Part": "yes"}})
		}
		json.NewEncoder(w).Encode(map[string]any{"upload_id": "u1", "credentials": creds})
	})
	mux.HandleFunc("/part", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		n := int(r.URL.Query().Get("n")[0] - '0')
		mu.Lock()
		defer mu.Unlock()
		if n == 2 && !failedOnce {
			failedOnce = true
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		if r.Header.Get("X-Part") != "yes" || r.Header.Get("Authorization") != "" {
			t.Errorf("part headers = %v", r.Header)
		}
		got[n] = b
		w.Header().Set("ETag", `"e`+r.URL.Query().Get("n")+`"`)
	})
	mux.HandleFunc("/api/2.0/mlflow-artifacts/mpu/complete/1/dir", func(w http.ResponseWriter, r *http.Request) {
		json.NewDecoder(r.Body).Decode(&completed)
		w.Write([]byte(`{}`))
	})
	srv, _ := countingServer(t, mux)
	srvURL = strings.Replace(srv.URL, "127.0.0.1", "localhost", 1) // a different host, like a presigned S3 URL
	c := fastClient(t, srv.URL, func(c *Config) { c.MultipartThreshold, c.MultipartPartSize, c.Token = 1000, 4096, "tok" })
	if err := c.PutArtifact(context.Background(), "mlflow-artifacts:/1", "dir/big.bin", bytesSource(payload)); err != nil {
		t.Fatal(err)
	}
	var joined []byte
	for i := 1; i <= 4; i++ {
		joined = append(joined, got[i]...)
	}
	if !bytes.Equal(joined, payload) {
		t.Errorf("parts joined to %d bytes, want the %d-byte file", len(joined), len(payload))
	}
	parts, _ := completed["parts"].([]any)
	if completed["upload_id"] != "u1" || len(parts) != 4 || parts[1].(map[string]any)["etag"] != `"e2"` {
		t.Errorf("complete body = %v", completed)
	}

	bad := bytesSource(payload)
	bad.SHA256 = strings.Repeat("0", 64)
	aborted := false
	mux.HandleFunc("/api/2.0/mlflow-artifacts/mpu/abort/1/dir", func(w http.ResponseWriter, r *http.Request) { aborted = true })
	err := c.PutArtifact(context.Background(), "mlflow-artifacts:/1", "dir/big.bin", bad)
	wantCode(t, err, failure.ChecksumMismatch)
	if !aborted {
		t.Error("a failed multipart upload was not aborted")
	}
}
