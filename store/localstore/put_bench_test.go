package localstore_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/flavorflow/flavorflow/store"
	"github.com/flavorflow/flavorflow/store/localstore"
)

// BenchmarkPutArtifact puts a small file where a logged model's files go
// (a path five directories deep), as every pipeline does several times.
// Run it under `perf stat -e 'syscalls:sys_enter_*'` to see the system
// calls one put costs.
func BenchmarkPutArtifact(b *testing.B) {
	s, err := localstore.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	data := []byte(`{"small": "file"}`)
	src := store.Source{Size: int64(len(data)), Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }}
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		root := fmt.Sprintf("mlflow-artifacts:/1/models/m-%d/artifacts", i%50)
		if err := s.PutArtifact(ctx, root, "data/model.json", src); err != nil {
			b.Fatal(err)
		}
	}
}
