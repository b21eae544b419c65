"""Python's MLflow reads models written by flavorflow's Go flavor."""

import importlib.util
import json
import os
import pathlib
import py_compile
import re
import subprocess
import sys
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
    assert (d / "requirements.txt").read_text().splitlines() == ["mlflow>=3.0,<4"]


@pytest.mark.parametrize("offset", [3, -1.5])
def test_pyfunc_predict(ffsave, offset):
    model = mlflow.pyfunc.load_model(str(ffsave(offset)))
    # Through pyfunc the signature is enforced: a DataFrame (or dict) with
    # the column x, as `mlflow models serve` takes it.
    df = model.predict(pd.DataFrame({"x": [4.0, 0.5]}))
    assert list(df["x"]) == [4.0 + offset, 0.5 + offset]
    assert model.predict({"x": [1.0]})["x"].tolist() == [1.0 + offset]
    with pytest.raises(MlflowException, match="missing inputs"):
        model.predict([4.0])
    # The loader itself still takes whatever it took before.
    raw = model.get_raw_model()
    df = raw.predict(pd.DataFrame({"x": [4.0, 0.5], "label": ["a", "b"]}))
    assert list(df["x"]) == [4.0 + offset, 0.5 + offset]
    assert list(df["label"]) == ["a", "b"]
    arr = raw.predict(np.array([[4.0], [1.0]]))
    np.testing.assert_array_equal(arr, np.array([[4.0 + offset], [1.0 + offset]]))
    assert raw.predict([4, 5]) == [4 + offset, 5 + offset]
    assert raw.predict(pd.Series([1.0])).tolist() == [1.0 + offset]


def test_pyfunc_with_weights(ffsave):
    d = ffsave(3, "-weights-size", "100000", "-weights-seed", "5")
    assert (d / "weights.bin").stat().st_size == 100000
    assert mlflow.pyfunc.load_model(str(d)).predict({"x": [4.0]})["x"].tolist() == [7]


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
        out = invoke({"inputs": {"x": [4.0, 10.0]}})
        assert out == {"predictions": [{"x": 7.0}, {"x": 13.0}]}
        # The serving example MLflow users copy works as written.
        out = invoke(json.loads((d / "serving_input_example.json").read_text()))
        assert out == {"predictions": [{"x": 4.0}, {"x": 5.0}, {"x": 6.0}]}
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
    assert mlflow.pyfunc.load_model(str(d)).predict({"x": [4.0]})["x"].tolist() == [34]


@pytest.mark.parametrize("extra", ["notes.txt", "code/extra.py", "code/sub/x.py", "code/__pycache__/extra.cpython-311.pyc",
                                   "code/__pycache__/flavorflow_fakemodel.pyc", "__pycache__/flavorflow_fakemodel.cpython-311.pyc"])
def test_loader_refuses_file_not_in_manifest(ffsave, extra):
    # Found by an outside probe: the shipped loader checked the listed files
    # only, so a file added to the directory loaded in Python while Go's
    # VerifyDir refused it. Files under code/ land on sys.path. A .pyc in
    # __pycache__ is allowed only as the cache Python writes for a listed
    # source (test_loader_allows_what_python_and_mlflow_write); these are not.
    d = ffsave(3)
    (d / extra).parent.mkdir(parents=True, exist_ok=True)
    (d / extra).write_bytes(b"raise SystemExit('extra code ran')\n")
    with pytest.raises(MlflowException, match=r'^ChecksumMismatch: .*: file "%s" is not in the manifest$' % re.escape(extra)):
        mlflow.pyfunc.load_model(str(d))


@pytest.mark.parametrize("link", ["code/extra.py", "registered_model_meta"])
def test_loader_refuses_symlink(ffsave, tmp_path, link):
    # As Go's walkFiles: model directories hold plain files only, so nothing
    # outside the directory is read or put on sys.path through a link.
    d = ffsave(3)
    target = tmp_path / "outside"
    target.write_text("model_name: other\nmodel_version: 1\n")
    (d / link).symlink_to(target)
    with pytest.raises(MlflowException, match=r'^InvalidPath: .*: "%s" is a symlink; model directories hold plain files only$' % re.escape(link)):
        mlflow.pyfunc.load_model(str(d))


def test_loader_refuses_unchecked_pyc(ffsave):
    # Python runs an unchecked hash-based .pyc without looking at its source,
    # so it could stand in for the verified loader; Python's import never
    # writes one.
    d = ffsave(3)
    src = d / "code" / "flavorflow_fakemodel.py"
    pyc = importlib.util.cache_from_source(str(src))
    py_compile.compile(str(src), cfile=pyc, doraise=True, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    rel = pathlib.Path(pyc).relative_to(d).as_posix()
    with pytest.raises(MlflowException, match=r'file "%s" is an unchecked hash-based \.pyc' % re.escape(rel)):
        mlflow.pyfunc.load_model(str(d))


def test_loader_allows_what_python_and_mlflow_write(ffsave):
    # What MLflow and Python add to a model directory while loading it is no
    # tampering: registered_model_meta (MLflow, downloading a models:/ URI;
    # null name and version for a logged model's models:/m-... URI) and the
    # bytecode cache Python writes when importing code/flavorflow_fakemodel.py,
    # found again when the same directory is loaded again.
    d = ffsave(3)
    (d / "registered_model_meta").write_text("model_name: null\nmodel_version: null\n")
    src = d / "code" / "flavorflow_fakemodel.py"
    py_compile.compile(str(src), cfile=importlib.util.cache_from_source(str(src), optimization=1), doraise=True, optimize=1)
    py_compile.compile(str(src), cfile=importlib.util.cache_from_source(str(src)).replace(sys.implementation.cache_tag, "cpython-399"),
                       doraise=True, invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)
    # A fresh interpreter imports the loader from this directory (this one
    # may have imported it from another model's code/ already), twice.
    # Bytecode is written as by default, whatever this environment says.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
    load = "import mlflow.pyfunc, sys; print(mlflow.pyfunc.load_model(sys.argv[1]).predict({'x': [4.0]})['x'].tolist())"
    for _ in range(2):
        out = subprocess.run([sys.executable, "-c", load, str(d)], capture_output=True, text=True, env=env)
        assert out.returncode == 0 and out.stdout.strip() == "[7.0]", out.stderr
    cache = sorted(p.name for p in (d / "code" / "__pycache__").iterdir())
    assert "flavorflow_fakemodel.%s.pyc" % sys.implementation.cache_tag in cache, cache
    assert mlflow.pyfunc.load_model(str(d)).predict({"x": [4.0]})["x"].tolist() == [7]
