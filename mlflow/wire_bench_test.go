package mlflow

import (
	"bytes"
	"io"
	"testing"
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

// BenchmarkUploadHash is what a streamed PUT adds per byte: count + sha256
// as the transport reads (32 KiB reads, as io.Copy does).
func BenchmarkUploadHash(b *testing.B) {
	const size = 16 << 20
	src := bytes.Repeat([]byte{0x5a}, size)
	buf := make([]byte, 32<<10)
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		h := newCountingHasher(io.NopCloser(bytes.NewReader(src)))
		if _, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{h}, buf); err != nil {
			b.Fatal(err)
		}
		_ = h.sum()
	}
}
