"""The worked example flavor (linearmodel) from Python: Go fits and saves a
multi-feature linear model, Python MLflow loads it as a pyfunc and predicts
from a DataFrame of its columns; Go logs and registers it on a real server
and Python loads the registered version."""

import json
import subprocess
import urllib.request

import pandas as pd
import pytest

import mlflow
from conftest import VENV_BIN, free_port, stop, wait_http

ROWS = "a,b,y\n" + "".join(f"{a},{b},{1 + 2 * a - 3 * b}\n" for a, b in [(0, 1), (1, 0), (2, 3), (3, 1), (4, 4), (5, 2)])


def fflinear(go_bin, tmp_path, *extra):
    data = tmp_path / "rows.csv"
    data.write_text(ROWS)
    out = subprocess.run([str(go_bin("fflinear")), "-data", str(data), "-target", "y", "-dir", str(tmp_path / "model"), *extra],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def test_pyfunc_predicts_from_dataframe(go_bin, tmp_path):
    saved = fflinear(go_bin, tmp_path)
    assert saved["features"] == ["a", "b"]
    info = mlflow.models.Model.load(saved["dir"])
    assert set(info.flavors) == {"flavorflow_linear", "python_function"}
    assert info.flavors["flavorflow_linear"]["features"] == ["a", "b"]
    model = mlflow.pyfunc.load_model(saved["dir"])
    # Columns in any order, extra columns ignored.
    got = model.predict(pd.DataFrame({"b": [1.0, 0.0], "extra": ["x", "y"], "a": [10.0, 0.0]}))
    assert list(got.round(9)) == [1 + 20 - 3, 1]
    with pytest.raises(Exception, match="lacks"):
        model.predict(pd.DataFrame({"a": [1.0]}))


def test_go_registers_python_loads(go_bin, mlflow_server, tmp_path):
    saved = fflinear(go_bin, tmp_path, "-tracking-uri", mlflow_server, "-name", "ff-linear")
    mlflow.set_tracking_uri(mlflow_server)
    try:
        model = mlflow.pyfunc.load_model(f"models:/ff-linear/{saved['version']}")
        got = model.predict(pd.DataFrame({"a": [2.0], "b": [2.0]}))
        assert list(got.round(9)) == [1 + 4 - 6]
        lm = mlflow.get_logged_model(saved["model_uri"].removeprefix("models:/"))
        assert lm.tags["flavorflow.manifest_sha256"] == saved["logged_manifest_sha256"]
    finally:
        mlflow.set_tracking_uri(None)


def test_models_serve_invocations(go_bin, tmp_path):
    saved = fflinear(go_bin, tmp_path)
    port = free_port()
    proc = subprocess.Popen(
        [str(VENV_BIN / "mlflow"), "models", "serve", "-m", saved["dir"], "--env-manager", "local",
         "-h", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/ping", proc)
        body = {"dataframe_split": {"columns": ["b", "a"], "data": [[1.0, 10.0], [0.0, 0.0]]}}
        req = urllib.request.Request(url + "/invocations", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            out = json.loads(r.read())
        # A Series named after the target: one {"y": ...} per row.
        assert [round(p["y"], 9) for p in out["predictions"]] == [18.0, 1.0]
    finally:
        stop(proc)
