"""Python's MLflow reads models written by flavorflow's Go flavor."""

import json
import subprocess
import urllib.request

import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException
from mlflow.models import Model
from mlflow.utils.model_utils import _get_flavor_configuration

import mlflow

from conftest import VENV_BIN, free_port, stop, wait_http


def test_model_load_parses_go_mlmodel(ffsave):
    d = ffsave(3)
    m = Model.load(str(d))
    assert set(m.flavors) == {"fakemodel", "python_function"}
    assert m.flavors["fakemodel"]["offset"] == 3.0
    assert m.flavors["fakemodel"]["format_version"] == 1
    assert m.flavors["fakemodel"]["weights"] is None
    assert m.flavors["python_function"]["loader_module"] == "flavorflow_fakemodel"
    assert m.mlflow_version == "3.17.2"
    assert m.model_id is None and m.run_id is None
    assert len(m.model_uuid) == 32
    # model_size_bytes: every file written before MLmodel (MLflow's rule).
    before = [p for p in d.rglob("*") if p.is_file() and p.name not in ("MLmodel", "flavorflow-manifest.json")]
    assert m.model_size_bytes == sum(p.stat().st_size for p in before)
    # The Go writer's bytes are what PyYAML would write for the same dict.
    assert (d / "MLmodel").read_text() == m.to_yaml()


def test_flavor_configuration(ffsave):
    d = ffsave(2.5)
    assert _get_flavor_configuration(str(d), "fakemodel")["offset"] == 2.5
    with pytest.raises(MlflowException, match='Model does not have the "my_flavor" flavor'):
        _get_flavor_configuration(str(d), "my_flavor")


def test_virtualenv_subfield_points_to_existing_file(ffsave):
    d = ffsave(1)
    env = Model.load(str(d)).flavors["python_function"]["env"]
    assert (d / env["virtualenv"]).is_file()
    assert "mlflow==3.17.2" in (d / "requirements.txt").read_text().splitlines()


@pytest.mark.parametrize("offset", [3, -1.5])
def test_pyfunc_predict(ffsave, offset):
    model = mlflow.pyfunc.load_model(str(ffsave(offset)))
    df = model.predict(pd.DataFrame({"x": [4.0, 0.5], "label": ["a", "b"]}))
    assert list(df["x"]) == [4.0 + offset, 0.5 + offset]
    assert list(df["label"]) == ["a", "b"]
    arr = model.predict(np.array([[4.0], [1.0]]))
    np.testing.assert_array_equal(arr, np.array([[4.0 + offset], [1.0 + offset]]))
    assert model.predict([4, 5]) == [4 + offset, 5 + offset]
    assert model.predict(pd.Series([1.0])).tolist() == [1.0 + offset]


def test_pyfunc_with_weights(ffsave):
    d = ffsave(3, "-weights-size", "100000", "-weights-seed", "5")
    assert (d / "weights.bin").stat().st_size == 100000
    assert mlflow.pyfunc.load_model(str(d)).predict([4]) == [7]


def test_loader_never_unpickles(ffsave):
    d = ffsave(3)
    assert not list(d.rglob("*.pkl"))
    src = (d / "code" / "flavorflow_fakemodel.py").read_text()
    assert "pickle" not in src.replace("nothing is unpickled", "")


def test_models_serve_invocations(ffsave):
    d = ffsave(3)
    port = free_port()
    proc = subprocess.Popen(
        [str(VENV_BIN / "mlflow"), "models", "serve", "-m", str(d), "--env-manager", "local",
         "-h", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/ping", proc)

        def invoke(body):
            req = urllib.request.Request(url + "/invocations", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=30) as r:
                return json.loads(r.read())

        out = invoke({"dataframe_split": {"columns": ["x"], "data": [[4.0], [10.0]]}})
        assert out == {"predictions": [{"x": 7.0}, {"x": 13.0}]}
        out = invoke({"inputs": [[4.0], [10.0]]})
        assert out == {"predictions": [[7.0], [13.0]]}
    finally:
        stop(proc)


def test_loader_checks_manifest(ffsave):
    # Issue 10, finding 1: the shipped loader read model.json whatever the
    # manifest said.
    d = ffsave(3, "-weights-size", "1000", "-weights-seed", "2")
    doc = json.loads((d / "model.json").read_text())
    doc["offset"] = 30
    (d / "model.json").write_text(json.dumps(doc))
    with pytest.raises(Exception, match="manifest says"):
        mlflow.pyfunc.load_model(str(d))
    # A plain directory without a manifest, that nothing says should have
    # one, still loads (as in Go).
    (d / "flavorflow-manifest.json").unlink()
    assert mlflow.pyfunc.load_model(str(d)).predict([4]) == [34]
