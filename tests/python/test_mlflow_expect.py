"""What MLflow users expect on every model flavorflow saves (issue 11, part 3):
a signature and an input example MLflow reads back, and environment files
get_model_dependencies accepts in both formats."""

import json
import subprocess
import sys

import pandas as pd
import pytest
import yaml

import mlflow
from mlflow.models import Model


def test_signature_and_input_example(ffsave):
    d = ffsave(3)
    info = mlflow.models.get_model_info(str(d))
    sig = info.signature
    assert sig is not None, "no signature: the MLflow UI shows Inputs (0)"
    assert sig.inputs.input_names() == ["x"]
    assert [c.type.name for c in sig.inputs.inputs] == ["double"]
    assert [c.type.name for c in sig.outputs.inputs] == ["double"] and len(sig.outputs.inputs) == 1
    assert info.saved_input_example_info["type"] == "dataframe"
    example = Model.load(str(d)).load_input_example(str(d))
    pd.testing.assert_frame_equal(example, pd.DataFrame({"x": [1.0, 2.0, 3.0]}))
    # The example is valid input: the model predicts on it through pyfunc,
    # with the signature enforced.
    assert mlflow.pyfunc.load_model(str(d)).predict(example)["x"].tolist() == [4.0, 5.0, 6.0]
    serving = json.loads((d / "serving_input_example.json").read_text())
    assert serving == {"dataframe_split": {"columns": ["x"], "data": [[1.0], [2.0], [3.0]]}}


def test_model_dependencies_both_formats(ffsave):
    d = ffsave(3)
    # Before issue 11 part 3 there was no conda.yaml and this raised.
    conda = mlflow.pyfunc.get_model_dependencies(str(d), format="conda")
    env = yaml.safe_load(open(conda))
    assert env["channels"] == ["conda-forge"]
    deps = env["dependencies"]
    assert f"python={sys.version_info.major}.{sys.version_info.minor}" in deps, deps
    pip = next(x["pip"] for x in deps if isinstance(x, dict))
    assert pip == ["mlflow>=3.0,<4"]
    reqs = mlflow.pyfunc.get_model_dependencies(str(d), format="pip")
    assert open(reqs).read().splitlines() == ["mlflow>=3.0,<4"]
    # The installed MLflow (the one the tests run the loader with) satisfies it.
    from packaging.requirements import Requirement
    assert Requirement(pip[0]).specifier.contains(mlflow.__version__), mlflow.__version__
    pyenv = yaml.safe_load((d / "python_env.yaml").read_text())
    assert pyenv["python"] == f"{sys.version_info.major}.{sys.version_info.minor}"
    assert Model.load(str(d)).flavors["python_function"]["env"] == {"conda": "conda.yaml", "virtualenv": "python_env.yaml"}


def test_loader_imports_only_stdlib_and_mlflow():
    # What requirements.txt says is all the loader needs: check its imports.
    import ast
    import pathlib

    src = pathlib.Path(__file__).resolve().parents[2] / "flavor" / "pyfunc" / "flavorflow_fakemodel.py"
    mods = set()
    for node in ast.walk(ast.parse(src.read_text())):
        if isinstance(node, ast.Import):
            mods.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            mods.add(node.module.split(".")[0])
    third_party = {m for m in mods if m not in sys.stdlib_module_names}
    # numpy, pandas and yaml are installed by the mlflow package itself.
    assert third_party <= {"mlflow", "numpy", "pandas", "yaml"}, third_party


@pytest.fixture
def tracking(mlflow_server):
    mlflow.set_tracking_uri(mlflow_server)
    yield mlflow_server
    mlflow.set_tracking_uri(None)


def test_registered_version_has_signature(go_bin, tracking, tmp_path):
    out = subprocess.run([str(go_bin("ffmlflow")), "register", "-tracking-uri", tracking, "-name", "ff-expect",
                          "-offset", "3", "-work", str(tmp_path)], check=True, capture_output=True, text=True)
    reg = json.loads(out.stdout)
    uri = f"models:/ff-expect/{reg['version']}"
    sig = mlflow.models.get_model_info(uri).signature
    assert sig is not None and sig.inputs.input_names() == ["x"]
    conda = mlflow.pyfunc.get_model_dependencies(uri, format="conda")
    assert "python=" in open(conda).read()
