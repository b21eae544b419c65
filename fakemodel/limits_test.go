package fakemodel

import (
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/vocab"
)

// repeatReader yields line n times.
type repeatReader struct {
	line string
	n    int
	buf  string
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.buf == "" {
		if r.n == 0 {
			return 0, io.EOF
		}
		r.n--
		r.buf = r.line
	}
	k := copy(p, r.buf)
	r.buf = r.buf[k:]
	return k, nil
}

// A stream over MaxDataBytes is refused as over the limit, like a file of
// that size, even when it holds no more than MaxSamples records (here: only
// comment lines, which are not records).
func TestReadSamplesRefusesMoreThanMaxDataBytes(t *testing.T) {
	line := "# " + strings.Repeat("c", 1021) + "\n" // 1 KiB
	_, err := ReadSamples(&repeatReader{line: line, n: MaxDataBytes/1024 + 1})
	if failure.CodeOf(err) != failure.InvalidTrainingData || !strings.Contains(err.Error(), "over the limit") {
		t.Fatalf("err = %v, want InvalidTrainingData over the limit", err)
	}
	// Exactly at the limit is fine: one record and comments up to it.
	s, err := ReadSamples(io.MultiReader(strings.NewReader("1,4\n"), io.LimitReader(&repeatReader{line: line, n: MaxDataBytes / 1024}, MaxDataBytes-4)))
	if err != nil || len(s) != 1 {
		t.Fatalf("at the limit: %v, %d samples", err, len(s))
	}
}

// ReadFile refuses a file larger than MaxDataBytes before reading it (the
// size is in the message) and a missing file or a directory.
func TestReadFileLimits(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.csv")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("1,4\n"); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(MaxDataBytes + 1); err != nil { // sparse: the size is what counts
		t.Fatal(err)
	}
	f.Close()
	for path, want := range map[string]string{big: "67108865 bytes, over the limit", filepath.Join(dir, "nope.csv"): "does not exist", dir: "is a directory"} {
		_, err := ReadFile(path)
		if failure.CodeOf(err) != failure.InvalidTrainingData || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want InvalidTrainingData %q", path, err, want)
		}
	}
}

// Overflow in the fit: a sum that overflows while its mean does not is
// averaged instead; an offset or an error that overflows float64 is
// InvalidTrainingData (an infinite MSE used to pass Fit and then fail the
// worker, which cannot encode it).
func TestFitOverflow(t *testing.T) {
	m, st, err := Fit([]vocab.Sample{{X: 0, Y: 1e308}, {X: 0, Y: 1e308}})
	if err != nil || m.Offset != 1e308 || st.MSE != 0 {
		t.Fatalf("sum overflow, finite mean: %v %+v %v", m, st, err)
	}
	for name, in := range map[string][]vocab.Sample{
		"offset": {{X: -1e308, Y: 1e308}},
		"mse":    {{X: 0, Y: 1e200}, {X: 0, Y: -1e200}},
		"x+o":    {{X: math.MaxFloat64, Y: math.MaxFloat64}, {X: -math.MaxFloat64, Y: 0}},
	} {
		if _, st, err := Fit(in); failure.CodeOf(err) != failure.InvalidTrainingData {
			t.Errorf("%s: stats %+v, err = %v, want InvalidTrainingData", name, st, err)
		}
	}
}
