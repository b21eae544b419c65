package flavor

// The pyfunc loader's environment: requirements.txt, python_env.yaml and
// conda.yaml, as MLflow's flavors write them, so that
// mlflow.pyfunc.get_model_dependencies (pip and conda) and
// `mlflow models serve --env-manager virtualenv|conda` find what the shipped
// loader needs.

import (
	"math"
	"strings"

	"github.com/flavorflow/flavorflow/failure"
)

// CondaEnvFile is the conda environment file MLflow's flavors write.
const CondaEnvFile = "conda.yaml"

// LoaderMLflowRequirement is the pip requirement of flavor/pyfunc's loader.
// It imports only the standard library and mlflow (MlflowException,
// MlflowClient.get_model_version, mlflow's yaml), plus numpy and pandas,
// which the mlflow package installs, when predicting on arrays or
// DataFrames. It needs MLflow 3: logged models (models:/m-<id>) and the
// registered_model_meta file MLflow 3 leaves next to a downloaded version.
// Tested with MLflowVersion (3.17.2, the only 3.x the project's package
// registry serves; tests/python runs the loader with it); the upper bound
// stops an untested major release from being installed.
const LoaderMLflowRequirement = "mlflow>=3.0,<4"

// PythonEnv is a pyfunc loader's environment.
type PythonEnv struct {
	// Python is the major.minor the loader is tested with (python_env's
	// python, conda's python=, the pyfunc flavor's python_version).
	Python string
	// Requirements are pip requirement lines, one per entry.
	Requirements []string
}

// DefaultPythonEnv is the environment of the shipped fakemodel loader.
func DefaultPythonEnv() PythonEnv {
	return PythonEnv{Python: PythonVersion, Requirements: []string{LoaderMLflowRequirement}}
}

// Validate refuses what would make the files unreadable: an empty Python
// version or requirement, or one spanning lines.
func (e PythonEnv) Validate() error {
	if e.Python == "" || strings.ContainsAny(e.Python, " \n\r\t:") {
		return failure.New(failure.InvalidModel, "python environment: python version %q is not a version", e.Python)
	}
	if len(e.Requirements) == 0 {
		return failure.New(failure.InvalidModel, "python environment: no requirements (the loader needs mlflow at least)")
	}
	for _, r := range e.Requirements {
		if strings.TrimSpace(r) != r || r == "" || strings.ContainsAny(r, "\n\r") {
			return failure.New(failure.InvalidModel, "python environment: requirement %q is not one trimmed line", r)
		}
	}
	return nil
}

// requirementsTxt is requirements.txt: one requirement per line.
func (e PythonEnv) requirementsTxt() []byte {
	return []byte(strings.Join(e.Requirements, "\n") + "\n")
}

// pythonEnvYAML is what mlflow's _PythonEnv.to_yaml writes (sort_keys=False).
// The build dependencies are unpinned: they only matter for
// --env-manager virtualenv, which installs whatever is current.
func (e PythonEnv) pythonEnvYAML() []byte {
	return []byte("python: " + yamlScalar(e.Python) + "\nbuild_dependencies:\n- pip\n- setuptools\n- wheel\ndependencies:\n- -r requirements.txt\n")
}

// condaYAML is what mlflow.utils.environment._mlflow_conda_env writes
// (yaml.safe_dump, sort_keys=False): conda-forge, the Python version, pip,
// and the requirements under pip.
func (e PythonEnv) condaYAML() []byte {
	var b strings.Builder
	b.WriteString("channels:\n- conda-forge\ndependencies:\n- python=" + e.Python + "\n- pip\n- pip:\n")
	for _, r := range e.Requirements {
		b.WriteString("  - " + yamlScalar(r) + "\n")
	}
	b.WriteString("name: mlflow-env\n")
	return []byte(b.String())
}

// yamlScalar quotes a value PyYAML would otherwise load as something other
// than the string (3.11 is a float) or could not load at all.
func yamlScalar(s string) string {
	plain := true
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-=<>,!~+", r)) {
			plain = false
		}
	}
	if plain && !looksNumeric(s) && !strings.HasPrefix(s, "-") && !strings.HasPrefix(s, "!") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// looksNumeric is true for strings PyYAML resolves as int or float.
func looksNumeric(s string) bool {
	dot := false
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
		case r == '.' && !dot:
			dot = true
		case (r == '-' || r == '+') && i == 0:
		default:
			return false
		}
	}
	return s != ""
}

func finiteFloat(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
