package flavor

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/flavor/pyyaml"
)

// goldenCases mirrors testdata/golden/cases.json, read by gen_golden.py too.
type goldenCases struct {
	MLmodels map[string]map[string]any `json:"mlmodels"`
	Floats   []string                  `json:"floats"`
	Times    []string                  `json:"times"`
}

func readGoldenCases(t *testing.T) goldenCases {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "golden", "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil {
		t.Fatal(err)
	}
	var c goldenCases
	c.MLmodels = map[string]map[string]any{}
	for name, v := range raw["mlmodels"].(map[string]any) {
		c.MLmodels[name] = pyyaml.FromJSON(v).(map[string]any)
	}
	for _, f := range raw["floats"].([]any) {
		c.Floats = append(c.Floats, f.(string))
	}
	for _, s := range raw["times"].([]any) {
		c.Times = append(c.Times, s.(string))
	}
	return c
}

func mlmodelFromCase(c map[string]any) *MLmodel {
	s := func(k string) string { v, _ := c[k].(string); return v }
	m := &MLmodel{
		ArtifactPath: s("artifact_path"), MLflowVersion: s("mlflow_version"), ModelID: s("model_id"),
		ModelUUID: s("model_uuid"), RunID: s("run_id"), UTCTimeCreated: s("utc_time_created"),
		Flavors: map[string]map[string]any{},
	}
	for name, cfg := range c["flavors"].(map[string]any) {
		m.Flavors[name] = cfg.(map[string]any)
	}
	if n, ok := c["model_size_bytes"].(int); ok {
		n64 := int64(n)
		m.ModelSizeBytes = &n64
	}
	if md, ok := c["metadata"].(map[string]any); ok {
		m.Metadata = md
	}
	if sig, ok := c["signature"].(map[string]any); ok {
		str := func(k string) string { v, _ := sig[k].(string); return v }
		m.Signature = &Signature{Inputs: str("inputs"), Outputs: str("outputs"), Params: str("params")}
	}
	if ex, ok := c["extra"].(map[string]any); ok {
		m.Extra = ex
	}
	return m
}

func readGolden(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "golden", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestMarshalGolden checks that Marshal writes exactly what PyYAML/MLflow
// wrote for the same documents (files made by gen_golden.py).
func TestMarshalGolden(t *testing.T) {
	cases := readGoldenCases(t)
	if len(cases.MLmodels) < 5 {
		t.Fatalf("only %d golden cases", len(cases.MLmodels))
	}
	for name, c := range cases.MLmodels {
		t.Run(name, func(t *testing.T) {
			got, err := mlmodelFromCase(c).Marshal()
			if err != nil {
				t.Fatal(err)
			}
			want := readGolden(t, name+".MLmodel")
			if !bytes.Equal(got, want) {
				t.Errorf("Marshal differs from PyYAML:\n%s", lineDiff(string(want), string(got)))
			}
		})
	}
}

// TestParseGoldenRoundTrip parses each golden file and writes it back: the
// bytes must survive, which checks that ParseMLmodel resolves scalars as
// PyYAML does ('1.0' stays a string, 1e5 stays a string, 3.0 a float).
func TestParseGoldenRoundTrip(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "golden", "*.MLmodel"))
	files = append(files, filepath.Join("testdata", "mlflow-3.4.0.MLmodel"))
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			want, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			m, err := ParseMLmodel(bytes.NewReader(want))
			if err != nil {
				t.Fatal(err)
			}
			got, err := m.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("round trip differs:\n%s", lineDiff(string(want), string(got)))
			}
		})
	}
}

func TestParseMLflow340(t *testing.T) {
	m, err := ParseMLmodel(bytes.NewReader(readGolden(t, "../mlflow-3.4.0.MLmodel")))
	if err != nil {
		t.Fatal(err)
	}
	if m.ModelID != "m-0112ba8babe744e9b9c2e4a61086b08e" || m.ModelUUID != m.ModelID || m.RunID != "0d099223a0aa4e05976741242b1fb931" {
		t.Errorf("ids: %+v", m)
	}
	if m.ArtifactPath != "mlflow-artifacts:/2/models/m-0112ba8babe744e9b9c2e4a61086b08e/artifacts" || m.MLflowVersion != "3.4.0" {
		t.Errorf("artifact_path/mlflow_version: %q %q", m.ArtifactPath, m.MLflowVersion)
	}
	if m.ModelSizeBytes == nil || *m.ModelSizeBytes != 46571 || m.UTCTimeCreated != "2025-11-06 03:46:33.071805" {
		t.Errorf("size/time: %v %q", m.ModelSizeBytes, m.UTCTimeCreated)
	}
	py, err := m.FlavorConfig("python_function")
	if err != nil {
		t.Fatal(err)
	}
	if py["python_version"] != "3.10.19" || py["loader_module"] != "mlflow.sklearn" {
		t.Errorf("python_function: %v", py)
	}
	sk, _ := m.FlavorConfig("sklearn")
	if v, ok := sk["code"]; !ok || v != nil {
		t.Errorf("sklearn.code should be a kept null, got %v %v", v, ok)
	}
	if m.Signature == nil || !strings.Contains(m.Signature.Inputs, `"tensor-spec"`) || m.Signature.Params != "" {
		t.Errorf("signature: %+v", m.Signature)
	}
	if m.Extra["is_signature_from_type_hint"] != false || m.Extra["type_hint_from_example"] != false {
		t.Errorf("unknown keys not kept: %v", m.Extra)
	}
	_, err = m.FlavorConfig("fakemodel")
	if failure.CodeOf(err) != failure.FlavorNotFound || !strings.Contains(err.Error(), `Model does not have the "fakemodel" flavor`) {
		t.Errorf("missing flavor: %v", err)
	}
}

func TestFormatCreated(t *testing.T) {
	cases := readGoldenCases(t)
	want := strings.Split(strings.TrimSuffix(string(readGolden(t, "times.txt")), "\n"), "\n")
	if len(want) != len(cases.Times) {
		t.Fatalf("%d times, %d expected lines", len(cases.Times), len(want))
	}
	for i, s := range cases.Times {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		if got := FormatCreated(tm); got != want[i] {
			t.Errorf("FormatCreated(%s) = %q, Python str(datetime) = %q", s, got, want[i])
		}
	}
}

func TestParseMLmodelBadInput(t *testing.T) {
	bomb := "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
	prev := "a"
	for _, n := range []string{"b", "c", "d", "e", "f", "g", "h", "i"} {
		bomb += n + ": &" + n + " [" + strings.Repeat("*"+prev+",", 8) + "*" + prev + "]\n"
		prev = n
	}
	bomb += "flavors: {}\n"
	tests := []struct {
		name, doc, want string
	}{
		{"not yaml", "flavors: [unclosed\n  x: {", "not valid YAML"},
		{"empty", "", "MLmodel is empty"},
		{"top-level list", "- a\n- b\n", "top level is a list"},
		{"top-level scalar", "hello\n", "top level is a scalar"},
		{"flavors not a mapping", "flavors: [a, b]\n", "flavors is a list, want a mapping"},
		{"flavor config not a mapping", "flavors:\n  fakemodel: 3\n", "flavors.fakemodel is a integer, want a mapping"},
		{"model_size_bytes string", "flavors: {}\nmodel_size_bytes: big\n", "model_size_bytes is a string, want an integer"},
		{"run_id mapping", "flavors: {}\nrun_id: {a: 1}\n", "run_id is a mapping, want a string"},
		{"metadata list", "flavors: {}\nmetadata: [1]\n", "metadata is a list, want a mapping"},
		{"signature inputs list", "flavors: {}\nsignature: {inputs: [1]}\n", "signature.inputs is a list"},
		{"billion laughs", bomb, "YAML aliases"},
		{"two documents", "flavors: {}\n---\nflavors: {}\n", "more than one YAML document"},
		{"merge key", "base: &b {x: 1}\nflavors:\n  f:\n    <<: *b\n", "merge key"},
		{"oversized", "flavors: {}\nx: '" + strings.Repeat("a", MaxMLmodelSize) + "'\n", "over the 1048576 byte limit"},
		{"deep", strings.Repeat("[", 200) + strings.Repeat("]", 200), "deeper"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseMLmodel(strings.NewReader(tc.doc))
			if failure.CodeOf(err) != failure.InvalidMLmodel {
				t.Fatalf("code %q, err %v; want InvalidMLmodel", failure.CodeOf(err), err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

func TestParseScalarsLikePyYAML(t *testing.T) {
	doc := "flavors:\n  f:\n    a: 1e5\n    b: 017\n    c: yes\n    d: 0o17\n    e: '3'\n    f: .inf\n    g: ~\n    h: 2025-01-01\n    i: 1_000\n    j: !!str 12\n    k: -0x1F\n"
	m, err := ParseMLmodel(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	cfg := m.Flavors["f"]
	want := map[string]any{"a": "1e5", "b": 15, "c": true, "d": "0o17", "e": "3", "g": nil, "h": "2025-01-01", "i": 1000, "j": "12", "k": -31}
	for k, w := range want {
		if cfg[k] != w {
			t.Errorf("%s = %#v, PyYAML gives %#v", k, cfg[k], w)
		}
	}
	if f, ok := cfg["f"].(float64); !ok || !math.IsInf(f, 1) {
		t.Errorf("f = %#v, want +Inf", cfg["f"])
	}
}

func TestConfigFloat(t *testing.T) {
	cfg := map[string]any{"s": "3", "n": math.NaN(), "i": 3, "f": 2.5, "nil": nil}
	for key, want := range map[string]string{"s": "is a string", "n": "finite", "nil": "missing", "absent": "missing"} {
		_, err := configFloat(cfg, key, "flavors.x."+key)
		if failure.CodeOf(err) != failure.InvalidMLmodel || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "flavors.x."+key) {
			t.Errorf("%s: %v", key, err)
		}
	}
	if v, err := configFloat(cfg, "i", "i"); err != nil || v != 3 {
		t.Errorf("int: %v %v", v, err)
	}
}

// lineDiff shows the first differing lines, enough to fix an emitter bug.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < max(len(w), len(g)) && b.Len() < 2000; i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			b.WriteString("line " + strconv.Itoa(i+1) + ":\n  want " + strconv.Quote(wl) + "\n  got  " + strconv.Quote(gl) + "\n")
		}
	}
	return b.String()
}

func TestMarshalOtherGoTypes(t *testing.T) {
	type named string
	x := 7
	m := &MLmodel{UTCTimeCreated: "t", Metadata: map[string]any{
		"i32": int32(-3), "u8": uint8(4), "f32": float32(0.5), "named": named("1.0"), "ptr": &x, "nilptr": (*int)(nil),
		"maps": []map[string]any{{"a": 1}}, "ints": map[string]int{"b": 2}, "arr": [2]string{"x", "y"}, "nilslice": []string(nil),
	}}
	got, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want := "flavors: {}\nmetadata:\n  arr:\n  - x\n  - y\n  f32: 0.5\n  i32: -3\n  ints:\n    b: 2\n  maps:\n  - a: 1\n  named: '1.0'\n  nilptr: null\n  nilslice: []\n  ptr: 7\n  u8: 4\nmodel_id: null\nmodel_uuid: null\nprompts: null\nutc_time_created: t\n"
	if string(got) != want {
		t.Errorf("Marshal differs:\n%s", lineDiff(want, string(got)))
	}
	bad := &MLmodel{Metadata: map[string]any{"ch": make(chan int)}}
	if _, err := bad.Marshal(); failure.CodeOf(err) != failure.InvalidMLmodel || !strings.Contains(err.Error(), "chan int") {
		t.Errorf("chan: %v", err)
	}
}
