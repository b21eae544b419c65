package pyyaml

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// golden is where flavor/testdata/golden/gen_golden.py writes what the real
// PyYAML emits; the MLmodel cases there are checked by flavor's tests.
var golden = filepath.Join("..", "testdata", "golden")

func TestFloatReprGolden(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(golden, "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases struct {
		Floats []string `json:"floats"`
	}
	if err := json.Unmarshal(data, &cases); err != nil {
		t.Fatal(err)
	}
	var fs []any
	for _, s := range cases.Floats {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatal(err)
		}
		fs = append(fs, f)
	}
	got, err := Dump(map[string]any{"floats": fs})
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join(golden, "floats.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		w, g := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
		for i := range min(len(w), len(g)) {
			if w[i] != g[i] {
				t.Fatalf("floats differ at line %d:\n  want %q\n  got  %q", i+1, w[i], g[i])
			}
		}
		t.Fatalf("floats differ in length: want %d lines, got %d", len(w), len(g))
	}
}

// TestFromJSON: numbers are typed as Python's json module types them, and an
// integer beyond 64 bits keeps its magnitude as a float instead of being
// clamped to MaxInt64 (what one of the two copies this replaces did).
func TestFromJSON(t *testing.T) {
	dec := json.NewDecoder(strings.NewReader(`{"i": 3, "f": 3.0, "e": 1e16, "big": 123456789012345678901, "l": [-2, 0.5], "s": "7"}`))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	m := FromJSON(v).(map[string]any)
	want := map[string]any{"i": 3, "f": 3.0, "e": 1e16, "big": 123456789012345678901.0, "s": "7"}
	for k, w := range want {
		if m[k] != w {
			t.Errorf("%s = %#v, want %#v", k, m[k], w)
		}
	}
	if l := m["l"].([]any); l[0] != -2 || l[1] != 0.5 {
		t.Errorf("l = %#v", l)
	}
}

func TestResolvePlain(t *testing.T) {
	for s, want := range map[string]any{"~": nil, "Yes": true, "off": false, "017": 15, "1_000": 1000, "1.5": 1.5, "1e5": "1e5", "abc": "abc"} {
		if got := ResolvePlain(s); got != want {
			t.Errorf("ResolvePlain(%q) = %#v, PyYAML gives %#v", s, got, want)
		}
	}
}
