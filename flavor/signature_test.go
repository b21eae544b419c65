package flavor

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/flavorflow/flavorflow/failure"
	"github.com/flavorflow/flavorflow/fakemodel"
)

// What MLflow 3.17.2 writes for mlflow.pyfunc.save_model(..., signature=
// infer_signature(pd.DataFrame({"x": [1.0, 2.0, 3.0]}), pd.Series([...])),
// input_example=<that DataFrame>) (issue 11, part 3: the UI showed
// Inputs (0) and there was no example).
const (
	mlflowInputs          = `[{"type": "double", "name": "x", "required": true}]`
	mlflowOutputs         = `[{"type": "double", "required": true}]`
	mlflowInputExample    = `{"columns": ["x"], "data": [[1.0], [2.0], [3.0]]}`
	mlflowServingExample  = "{\n  \"dataframe_split\": {\n    \"columns\": [\n      \"x\"\n    ],\n    \"data\": [\n      [\n        1.0\n      ],\n      [\n        2.0\n      ],\n      [\n        3.0\n      ]\n    ]\n  }\n}"
	wantCondaYAML         = "channels:\n- conda-forge\ndependencies:\n- python=3.11\n- pip\n- pip:\n  - mlflow>=3.0,<4\nname: mlflow-env\n"
	wantPythonEnvYAML     = "python: '3.11'\nbuild_dependencies:\n- pip\n- setuptools\n- wheel\ndependencies:\n- -r requirements.txt\n"
	wantRequirementsLines = "mlflow>=3.0,<4\n"
)

func readFile(t *testing.T, dir, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSaveModelSignatureExampleAndEnv(t *testing.T) {
	dir, _ := saveT(t, fakemodel.New(3), fixedOpts)
	ml := readMLmodel(t, dir)
	if ml.Signature == nil || ml.Signature.Inputs != mlflowInputs || ml.Signature.Outputs != mlflowOutputs || ml.Signature.Params != "" {
		t.Errorf("signature %+v, want inputs %s outputs %s", ml.Signature, mlflowInputs, mlflowOutputs)
	}
	wantInfo := map[string]any{"artifact_path": "input_example.json", "pandas_orient": "split", "serving_input_path": "serving_input_example.json", "type": "dataframe"}
	if got := ml.Extra["saved_input_example_info"]; !reflect.DeepEqual(got, wantInfo) {
		t.Errorf("saved_input_example_info %v, want %v", got, wantInfo)
	}
	if ml.Extra["is_signature_from_type_hint"] != false || ml.Extra["type_hint_from_example"] != false {
		t.Errorf("MLflow writes is_signature_from_type_hint and type_hint_from_example with a signature: %v", ml.Extra)
	}
	py, _ := ml.FlavorConfig("python_function")
	if env := py["env"]; !reflect.DeepEqual(env, map[string]any{"conda": "conda.yaml", "virtualenv": "python_env.yaml"}) {
		t.Errorf("python_function env %v, want conda and virtualenv", env)
	}
	for rel, want := range map[string]string{
		InputExampleFile:        mlflowInputExample,
		ServingInputExampleFile: mlflowServingExample,
		CondaEnvFile:            wantCondaYAML,
		PythonEnvFile:           wantPythonEnvYAML,
		RequirementsFile:        wantRequirementsLines,
	} {
		if got := readFile(t, dir, rel); got != want {
			t.Errorf("%s:\n%s\nwant:\n%s", rel, got, want)
		}
	}
}

// Another flavor supplies its own columns, example and requirements.
func TestSaveModelOwnSpec(t *testing.T) {
	spec := ModelSpec{
		Inputs:  []ColSpec{{Type: "double", Name: "a", Required: true}, {Type: "long", Name: "b \"q\"", Required: false}},
		Outputs: []ColSpec{{Type: "double", Name: "y", Required: true}},
		Example: &DataFrameExample{Columns: []string{"a", "b \"q\""}, Data: [][]float64{{0.5, 1e16}, {-1e-7, 2}}},
		Env:     PythonEnv{Python: "3.12", Requirements: []string{"mlflow>=3.0,<4", "numpy"}},
	}
	opts := fixedOpts
	opts.Spec = &spec
	dir, _ := saveT(t, fakemodel.New(1), opts)
	ml := readMLmodel(t, dir)
	wantIn := `[{"type": "double", "name": "a", "required": true}, {"type": "long", "name": "b \"q\"", "required": false}]`
	if ml.Signature == nil || ml.Signature.Inputs != wantIn || ml.Signature.Outputs != `[{"type": "double", "name": "y", "required": true}]` {
		t.Errorf("signature %+v", ml.Signature)
	}
	if got, want := readFile(t, dir, InputExampleFile), `{"columns": ["a", "b \"q\""], "data": [[0.5, 1e+16], [-1e-07, 2.0]]}`; got != want {
		t.Errorf("input example %s, want %s", got, want)
	}
	if got := readFile(t, dir, RequirementsFile); got != "mlflow>=3.0,<4\nnumpy\n" {
		t.Errorf("requirements %q", got)
	}
	if got := readFile(t, dir, CondaEnvFile); got != "channels:\n- conda-forge\ndependencies:\n- python=3.12\n- pip\n- pip:\n  - mlflow>=3.0,<4\n  - numpy\nname: mlflow-env\n" {
		t.Errorf("conda.yaml %q", got)
	}
	py, _ := ml.FlavorConfig("python_function")
	if py["python_version"] != "3.12" {
		t.Errorf("python_version %v", py["python_version"])
	}
}

func TestModelSpecValidate(t *testing.T) {
	for name, spec := range map[string]ModelSpec{
		"untyped column":   {Inputs: []ColSpec{{Name: "x"}}, Env: DefaultPythonEnv()},
		"ragged example":   {Example: &DataFrameExample{Columns: []string{"x"}, Data: [][]float64{{1, 2}}}, Env: DefaultPythonEnv()},
		"no python":        {Env: PythonEnv{Requirements: []string{"mlflow"}}},
		"no requirements":  {Env: PythonEnv{Python: "3.11"}},
		"multi-line req":   {Env: PythonEnv{Python: "3.11", Requirements: []string{"mlflow\nevil"}}},
		"empty example":    {Example: &DataFrameExample{}, Env: DefaultPythonEnv()},
		"infinite example": {Example: &DataFrameExample{Columns: []string{"x"}, Data: [][]float64{{posInf()}}}, Env: DefaultPythonEnv()},
	} {
		if err := spec.Validate(); failure.CodeOf(err) != failure.InvalidModel {
			t.Errorf("%s: Validate() = %v, want InvalidModel", name, err)
		}
	}
	if err := FakeModelSpec().Validate(); err != nil {
		t.Errorf("FakeModelSpec: %v", err)
	}
}

func posInf() float64 { var z float64; return 1 / z }
