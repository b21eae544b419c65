package fakemodel

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/vocab"
)

func TestTutorial(t *testing.T) {
	if got := New(3).Predict(4); got != 7 {
		t.Fatalf("FakeModel(3).Predict(4) = %v, want 7", got)
	}
}

func TestFitLearnsOffset(t *testing.T) {
	m, st, err := Fit([]vocab.Sample{{X: 1, Y: 4}, {X: 2, Y: 5}, {X: 10, Y: 13}})
	if err != nil {
		t.Fatal(err)
	}
	if m.Offset != 3 || st.N != 3 || st.MSE != 0 {
		t.Fatalf("got %v %+v", m, st)
	}
	m, st, err = Fit([]vocab.Sample{{X: 0, Y: 1}, {X: 0, Y: 3}})
	if err != nil || m.Offset != 2 || st.MSE != 1 {
		t.Fatalf("got %v %+v %v", m, st, err)
	}
}

func TestFitBadInput(t *testing.T) {
	for name, in := range map[string][]vocab.Sample{
		"empty":    nil,
		"nan":      {{X: math.NaN(), Y: 1}},
		"inf":      {{X: 1, Y: math.Inf(1)}},
		"overflow": {{X: -math.MaxFloat64, Y: math.MaxFloat64}, {X: -math.MaxFloat64, Y: math.MaxFloat64}},
	} {
		if _, _, err := Fit(in); failure.CodeOf(err) != failure.InvalidTrainingData {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	m := FakeModel{Offset: 3.25, WeightsSize: 100, WeightsSeed: 42}
	var buf bytes.Buffer
	if err := m.Save(&buf); err != nil {
		t.Fatal(err)
	}
	got, err := Load(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(m) {
		t.Fatalf("got %v want %v", got, m)
	}
}

func TestSaveRejectsNaN(t *testing.T) {
	if err := New(math.NaN()).Save(io.Discard); failure.CodeOf(err) != failure.InvalidModel {
		t.Fatalf("err = %v", err)
	}
}

func TestLoadBadInput(t *testing.T) {
	for _, in := range []string{"", "not json", `{"offset": 1}`, `{"format_version": 9, "offset": 1}`, `{"format_version": 1}`, `{"format_version":1,"offset":"x"}`, strings.Repeat(" ", 70000)} {
		if _, err := Load(strings.NewReader(in)); failure.CodeOf(err) != failure.InvalidModel {
			t.Errorf("Load(%.20q) err = %v", in, err)
		}
	}
}

func TestWeightsDeterministic(t *testing.T) {
	m := FakeModel{WeightsSize: 1<<20 + 3, WeightsSeed: 7}
	h1, h2 := sha256.New(), sha256.New()
	n1, _ := io.Copy(h1, m.WeightsReader())
	n2, _ := io.CopyBuffer(h2, m.WeightsReader(), make([]byte, 5))
	if n1 != m.WeightsSize || n2 != m.WeightsSize || !bytes.Equal(h1.Sum(nil), h2.Sum(nil)) {
		t.Fatalf("payload not deterministic: %d %d", n1, n2)
	}
	other := FakeModel{WeightsSize: 64, WeightsSeed: 8}
	a, _ := io.ReadAll(io.LimitReader(m.WeightsReader(), 64))
	b, _ := io.ReadAll(other.WeightsReader())
	if bytes.Equal(a, b) {
		t.Fatal("different seeds gave the same bytes")
	}
}

func TestReadSamples(t *testing.T) {
	for name, in := range map[string]string{
		"csv":        "x,y\n1,4\n2,5\n",
		"csv-nohead": "1, 4\n\n# comment\n2,5",
		"json":       ` [{"x":1,"y":4},{"x":2,"y":5}]`,
		// A spreadsheet's "CSV UTF-8": a byte order mark, CRLF.
		"csv-bom":  "\ufeffx,y\r\n1,4\r\n2,5\r\n",
		"json-bom": "\ufeff[{\"x\":1,\"y\":4},{\"x\":2,\"y\":5}]",
	} {
		s, err := ReadSamples(strings.NewReader(in))
		if err != nil || len(s) != 2 || s[1] != (vocab.Sample{X: 2, Y: 5}) {
			t.Errorf("%s: %v %v", name, s, err)
		}
	}
	for _, in := range []string{"", "  \n", "x,y\n", "1,a\n", "1,2,3,4\n", "soon,2,3\n", "1,NaN\n", "[]", `[{"x":1}]`, "[{", "1,inf", "0x1,2\n", `[{"x":1,"y":2}] more`} {
		if _, err := ReadSamples(strings.NewReader(in)); failure.CodeOf(err) != failure.InvalidTrainingData {
			t.Errorf("ReadSamples(%q) err = %v", in, err)
		}
	}
}

func TestParsePairs(t *testing.T) {
	s, err := ParsePairs("1,4; 2,5 ;")
	if err != nil || len(s) != 2 {
		t.Fatalf("%v %v", s, err)
	}
	for _, in := range []string{"", " ", "1", "a,b", "1,2;x", ";", " ; ;"} {
		if _, err := ParsePairs(in); failure.CodeOf(err) != failure.InvalidTrainingData {
			t.Errorf("ParsePairs(%q) err = %v", in, err)
		}
	}
}

// The payload is part of the on-disk format (manifests of saved models
// pin it): any reader change must keep these bytes.
func TestWeightsGolden(t *testing.T) {
	for _, bs := range []int{5, 13, 32 << 10} {
		h := sha256.New()
		if _, err := io.CopyBuffer(h, struct{ io.Reader }{FakeModel{WeightsSize: 1<<20 + 3, WeightsSeed: 7}.WeightsReader()}, make([]byte, bs)); err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != "e44fd6c7ca77e53d2b220f9840ad8583b5d68b57dce23990001f1f43dc82539e" {
			t.Errorf("buffer %d: sha256 %s", bs, got)
		}
	}
}
