package fakemodel

import (
	"io"
	"testing"
)

// BenchmarkWeightsReader is the payload generator the save path streams.
func BenchmarkWeightsReader(b *testing.B) {
	const size = 16 << 20
	buf := make([]byte, 32<<10)
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := io.CopyBuffer(io.Discard, FakeModel{WeightsSize: size, WeightsSeed: 7}.WeightsReader(), buf); err != nil {
			b.Fatal(err)
		}
	}
}
