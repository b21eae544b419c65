package mlflow

import (
	"bytes"
	"crypto/sha256"
	"io"
	"testing"

	"github.com/flavorflow/flavorflow/internal/hashpipe"
)

// Hot loops of the REST client without a server.

var benchModelVersion = []byte(`{"model_version":{"name":"fakemodel","version":"12","creation_timestamp":1700000000000,"last_updated_timestamp":1700000000000,"current_stage":"None","description":"","source":"models:/m-0123456789abcdef0123456789abcdef","run_id":"0123456789abcdef0123456789abcdef","status":"READY","tags":[{"key":"flavorflow.workflow_id","value":"wf-1"},{"key":"flavorflow.manifest_sha256","value":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}],"aliases":["champion"],"model_id":"m-0123456789abcdef0123456789abcdef"}}`)

func BenchmarkDecodeModelVersion(b *testing.B) {
	b.SetBytes(int64(len(benchModelVersion)))
	b.ReportAllocs()
	for b.Loop() {
		var out struct {
			ModelVersion wireModelVersion `json:"model_version"`
		}
		if err := decodeJSON("GET", "/x", benchModelVersion, &out); err != nil {
			b.Fatal(err)
		}
		if _, err := out.ModelVersion.toStore(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUploadHash is what a streamed PUT costs the transport per byte:
// a body read in 32 KiB reads (as io.Copy does) from hashpipe.Reader, which
// reads the source ahead and hashes it on its own goroutine, then the
// digest. On an idle machine the hashing runs beside the reads; compare
// BenchmarkUploadHashInline, which hashes in the reading goroutine as the
// client did before.
func BenchmarkUploadHash(b *testing.B) {
	const size = 16 << 20
	src := bytes.Repeat([]byte{0x5a}, size)
	buf := make([]byte, 32<<10)
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		r := hashpipe.NewReader(io.NopCloser(bytes.NewReader(src)), sha256.New(), size)
		if _, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{r}, buf); err != nil {
			b.Fatal(err)
		}
		if _, _, complete := r.Result(); !complete {
			b.Fatal("incomplete")
		}
		r.Close()
	}
}

func BenchmarkUploadHashInline(b *testing.B) {
	const size = 16 << 20
	src := bytes.Repeat([]byte{0x5a}, size)
	buf := make([]byte, 32<<10)
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		h := sha256.New()
		if _, err := io.CopyBuffer(io.Discard, io.TeeReader(bytes.NewReader(src), h), buf); err != nil {
			b.Fatal(err)
		}
		_ = h.Sum(nil)
	}
}
