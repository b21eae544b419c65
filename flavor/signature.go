package flavor

// What MLflow users expect on every saved model: a signature (the MLflow
// UI's Schema), an input example, and environment files that say what the
// pyfunc loader needs. A flavor describes them with a ModelSpec; SaveModel
// writes what the spec says, so another flavor supplies its own columns,
// example and requirements without touching the save.

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/flavor/pyyaml"
)

// File names MLflow 3 gives the input example (mlflow.models.utils).
const (
	InputExampleFile        = "input_example.json"
	ServingInputExampleFile = "serving_input_example.json"
)

// ColSpec is one column of an MLflow ColSpec schema (mlflow.types.ColSpec).
// Name "" is an unnamed column, as in a single-output signature.
type ColSpec struct {
	Type     string // MLflow DataType name: double, long, string, boolean, ...
	Name     string
	Required bool
}

// DataFrameExample is an input example in pandas' "split" orientation, the
// form MLflow stores for a DataFrame example.
type DataFrameExample struct {
	Columns []string
	Data    [][]float64
}

// ModelSpec is what a flavor declares about its model beyond its own files.
type ModelSpec struct {
	Inputs  []ColSpec
	Outputs []ColSpec
	// Example, when set, is written as input_example.json and
	// serving_input_example.json and recorded in saved_input_example_info.
	Example *DataFrameExample
	// Env is the pyfunc loader's environment (requirements.txt,
	// python_env.yaml, conda.yaml).
	Env PythonEnv
}

// FakeModelSpec is fakemodel's spec: one double column x in, one double out.
// The example is fixed rather than taken from the training rows: a save
// must be byte-identical from SaveInput alone (the model and the workflow
// start time), and the rows do not travel with it.
func FakeModelSpec() ModelSpec {
	return ModelSpec{
		Inputs:  []ColSpec{{Type: "double", Name: "x", Required: true}},
		Outputs: []ColSpec{{Type: "double", Required: true}},
		Example: &DataFrameExample{Columns: []string{"x"}, Data: [][]float64{{1.0}, {2.0}, {3.0}}},
		Env:     DefaultPythonEnv(),
	}
}

// Validate refuses a spec MLflow could not read back.
func (s ModelSpec) Validate() error {
	for _, c := range append(append([]ColSpec{}, s.Inputs...), s.Outputs...) {
		if c.Type == "" {
			return failure.New(failure.InvalidModel, "model spec: a column (%q) has no type", c.Name)
		}
	}
	if e := s.Example; e != nil {
		if len(e.Columns) == 0 || len(e.Data) == 0 {
			return failure.New(failure.InvalidModel, "model spec: the input example has no columns or no rows")
		}
		for i, row := range e.Data {
			if len(row) != len(e.Columns) {
				return failure.New(failure.InvalidModel, "model spec: input example row %d has %d values for %d columns", i, len(row), len(e.Columns))
			}
			for _, v := range row {
				if !finiteFloat(v) {
					return failure.New(failure.InvalidModel, "model spec: input example row %d holds %v, which JSON cannot carry", i, v)
				}
			}
		}
	}
	return s.Env.Validate()
}

// Signature returns the MLmodel signature, or nil when the spec has no
// columns.
func (s ModelSpec) Signature() *Signature {
	if len(s.Inputs) == 0 && len(s.Outputs) == 0 {
		return nil
	}
	return &Signature{Inputs: schemaJSON(s.Inputs), Outputs: schemaJSON(s.Outputs)}
}

// exampleInfo is MLmodel's saved_input_example_info for a DataFrame
// example, as mlflow.models.utils._save_example records it.
func exampleInfo() map[string]any {
	return map[string]any{
		"artifact_path":      InputExampleFile,
		"pandas_orient":      "split",
		"serving_input_path": ServingInputExampleFile,
		"type":               "dataframe",
	}
}

// schemaJSON renders columns as mlflow.types.Schema.to_json does:
// json.dumps of [{"type", "name"?, "required"}] with Python's default
// separators. Keys in that order; a column without a name has no "name".
func schemaJSON(cols []ColSpec) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, c := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(`{"type": `)
		b.WriteString(pyJSONString(c.Type))
		if c.Name != "" {
			b.WriteString(`, "name": `)
			b.WriteString(pyJSONString(c.Name))
		}
		b.WriteString(`, "required": `)
		b.WriteString(strconv.FormatBool(c.Required))
		b.WriteByte('}')
	}
	b.WriteByte(']')
	return b.String()
}

// inputExampleJSON is input_example.json: json.dumps of pandas'
// to_dict(orient="split") without the index, no trailing newline.
func (e *DataFrameExample) inputExampleJSON() []byte {
	var b bytes.Buffer
	b.WriteString(`{"columns": [`)
	for i, c := range e.Columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(pyJSONString(c))
	}
	b.WriteString(`], "data": [`)
	for i, row := range e.Data {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('[')
		for j, v := range row {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString(pyFloat(v))
		}
		b.WriteByte(']')
	}
	b.WriteString("]}")
	return b.Bytes()
}

// servingExampleJSON is serving_input_example.json: the scoring server's
// payload {"dataframe_split": ...}, json.dumps(indent=2), no trailing
// newline.
func (e *DataFrameExample) servingExampleJSON() []byte {
	var b bytes.Buffer
	b.WriteString("{\n  \"dataframe_split\": {\n    \"columns\": [")
	for i, c := range e.Columns {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("\n      " + pyJSONString(c))
	}
	b.WriteString("\n    ],\n    \"data\": [")
	for i, row := range e.Data {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("\n      [")
		for j, v := range row {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString("\n        " + pyFloat(v))
		}
		b.WriteString("\n      ]")
	}
	b.WriteString("\n    ]\n  }\n}")
	return b.Bytes()
}

// pyFloat is Python's repr of a finite float, which json.dumps writes:
// pyyaml.FloatRepr without PyYAML's ".0" fix-up before an exponent.
func pyFloat(f float64) string {
	return strings.Replace(pyyaml.FloatRepr(f), ".0e", "e", 1)
}

// pyJSONString is json.dumps of a str (ensure_ascii=True).
func pyJSONString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r < 0x20 || r > 0x7e:
			if r > 0xffff { // a surrogate pair, as Python writes it
				r -= 0x10000
				b.WriteString(`\u` + hex4(0xd800+(r>>10)) + `\u` + hex4(0xdc00+(r&0x3ff)))
				continue
			}
			b.WriteString(`\u` + hex4(r))
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func hex4(r rune) string {
	s := strconv.FormatInt(int64(r), 16)
	return strings.Repeat("0", 4-len(s)) + s
}
