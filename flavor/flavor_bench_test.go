package flavor

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/flavorflow/flavorflow/fakemodel"
)

// The hot loops of save, log and load, without servers (`make bench` runs
// these with -benchmem; allocations must not grow with the payload).

const benchPayload = 16 << 20

// BenchmarkSaveHash is the save path's one pass: payload -> file + sha256
// + count, minus the disk.
func BenchmarkSaveHash(b *testing.B) {
	m := fakemodel.FakeModel{Offset: 3, WeightsSize: benchPayload}
	b.SetBytes(benchPayload)
	b.ReportAllocs()
	for b.Loop() {
		h := sha256.New()
		cw := &countingWriter{w: io.MultiWriter(io.Discard, h)}
		if _, err := io.Copy(cw, m.WeightsReader()); err != nil {
			b.Fatal(err)
		}
		_ = h.Sum(nil)
	}
}

// BenchmarkVerifyDir re-hashes a saved model from the page cache.
func BenchmarkVerifyDir(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "m")
	if _, err := SaveModel(context.Background(), dir, fakemodel.FakeModel{Offset: 3, WeightsSize: benchPayload}, SaveOptions{}); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(benchPayload)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := VerifyDir(dir); err != nil {
			b.Fatal(err)
		}
	}
}

func benchMLmodel() *MLmodel {
	m := fakemodel.FakeModel{Offset: 3, WeightsSize: 1 << 30}
	spec := FakeModelSpec()
	return newMLmodel(FlavorName, fakemodelConfig(m), Fakemodel{}.Pyfunc(),
		SaveOptions{Spec: &spec, ModelUUID: "0123456789abcdef0123456789abcdef", Created: time.Unix(1700000000, 0), RunID: "r", ModelID: "m-1"}, 1<<30)
}

func BenchmarkMLmodelMarshal(b *testing.B) {
	ml := benchMLmodel()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ml.Marshal(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMLmodelParse(b *testing.B) {
	doc, err := benchMLmodel().Marshal()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseMLmodel(bytes.NewReader(doc)); err != nil {
			b.Fatal(err)
		}
	}
}

func benchManifest() Manifest {
	var m Manifest
	for _, p := range []string{MLmodelFile, DataFile, WeightsFile, "code/" + PyfuncModule + ".py", PythonEnvFile, RequirementsFile} {
		m.Files = append(m.Files, ManifestEntry{Path: p, Size: 1 << 20, SHA256: sha256Hex([]byte(p))})
	}
	return m
}

func BenchmarkManifestEncode(b *testing.B) {
	m := benchManifest()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := encodeManifest(m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkManifestParse(b *testing.B) {
	data, err := encodeManifest(benchManifest())
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseManifest(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSaveModelTiny is a whole tiny save (six files, fsync each).
func BenchmarkSaveModelTiny(b *testing.B) {
	base := b.TempDir()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		dir := filepath.Join(base, "m", string(rune('a'+i%26)), time.Now().Format("150405.000000000"))
		if _, err := SaveModel(context.Background(), dir, fakemodel.New(3), SaveOptions{}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		_ = os.RemoveAll(dir)
		b.StartTimer()
	}
}
