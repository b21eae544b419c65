"""Go and Python against the same real `mlflow server`: Go logs and
registers, Python loads by alias; Python's tutorial flavor logs and
registers, Go loads by version, alias and runs:/ URI."""

import json
import re
import subprocess

import pytest

import mlflow
import tutorial_flavor
from mlflow.entities import LoggedModelStatus
from mlflow.exceptions import MlflowException


def ffmlflow(go_bin, *args):
    out = subprocess.run([str(go_bin("ffmlflow")), *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


@pytest.fixture
def tracking(mlflow_server):
    mlflow.set_tracking_uri(mlflow_server)
    yield mlflow_server
    mlflow.set_tracking_uri(None)


def test_go_registers_python_loads_by_alias(go_bin, tracking, tmp_path):
    reg = ffmlflow(go_bin, "register", "-tracking-uri", tracking, "-name", "ff-go", "-alias", "champion",
                   "-offset", "3", "-work", str(tmp_path))
    assert reg["version"] >= 1 and reg["model_id"].startswith("m-")
    model = mlflow.pyfunc.load_model("models:/ff-go@champion")
    assert model.predict({"x": [4.0]})["x"].tolist() == [7]
    # The uploaded MLmodel carries the ids as Python's log_model writes them.
    info = mlflow.models.Model.load(f"models:/{reg['model_id']}")
    assert info.model_id == reg["model_id"] == info.model_uuid
    assert info.run_id == reg["run_id"]
    assert info.artifact_path == mlflow.get_logged_model(reg["model_id"]).artifact_location
    lm = mlflow.get_logged_model(reg["model_id"])
    assert lm.status == LoggedModelStatus.READY
    assert lm.tags["flavorflow.manifest_sha256"] == reg["manifest_sha256"]
    # And Go reads its own registered version back.
    got = ffmlflow(go_bin, "load", "-tracking-uri", tracking, "-uri", "models:/ff-go@champion", "-dst", str(tmp_path / "dl"))
    assert got["predict_4"] == 7 and got["manifest_sha256"] == reg["manifest_sha256"]


def test_python_tutorial_flavor_go_loads(go_bin, tracking, tmp_path):
    mlflow.set_experiment("tutorial")
    with mlflow.start_run() as run:
        info = tutorial_flavor.log_model(tutorial_flavor.FakeModel(3), name="model", registered_model_name="tutorial")
    client = mlflow.MlflowClient()
    version = int(info.registered_model_version)
    client.set_registered_model_alias("tutorial", "prod", version)
    assert tutorial_flavor.load_model(f"models:/tutorial/{version}").predict(4) == 7
    for i, uri in enumerate([f"models:/tutorial/{version}", "models:/tutorial@prod", info.model_uri,
                             f"runs:/{run.info.run_id}/model", "models:/tutorial/latest"]):
        got = ffmlflow(go_bin, "load", "-tracking-uri", tracking, "-uri", uri, "-dst", str(tmp_path / f"dl{i}"))
        assert got == {**got, "flavor": "my_flavor", "offset": 3, "predict_4": 7, "manifest_sha256": ""}, uri


def test_python_loader_checks_version_tag(go_bin, tracking, tmp_path):
    # Issue 10, finding 1: loading a registered version compares its
    # manifest with the hash recorded on the version.
    reg = ffmlflow(go_bin, "register", "-tracking-uri", tracking, "-name", "ff-go-tag", "-offset", "3", "-work", str(tmp_path))
    client = mlflow.MlflowClient()
    uri = f"models:/ff-go-tag/{reg['version']}"
    client.set_model_version_tag("ff-go-tag", str(reg["version"]), "flavorflow.manifest_sha256", "0" * 64)
    with pytest.raises(Exception, match="records"):
        mlflow.pyfunc.load_model(uri)
    client.set_model_version_tag("ff-go-tag", str(reg["version"]), "flavorflow.manifest_sha256", reg["manifest_sha256"])
    assert mlflow.pyfunc.load_model(uri).predict({"x": [4.0]})["x"].tolist() == [7]


@pytest.mark.parametrize("extra", ["notes.txt", "code/extra.py"])
def test_python_loader_refuses_file_not_in_manifest(go_bin, tracking, tmp_path, extra):
    # Found by an outside probe: a file added to a verified version's
    # artifacts loaded in Python while every Go load refused it. A file under
    # code/ lands on sys.path.
    name = "ff-go-extra-" + extra.replace("/", "-").replace(".", "-")
    reg = ffmlflow(go_bin, "register", "-tracking-uri", tracking, "-name", name, "-offset", "3", "-work", str(tmp_path / "w"))
    uri = f"models:/{name}/{reg['version']}"
    assert mlflow.pyfunc.load_model(uri).predict({"x": [4.0]})["x"].tolist() == [7]
    src = tmp_path / "add" / extra.rsplit("/", 1)[-1]
    src.parent.mkdir()
    src.write_text("raise SystemExit('extra code ran')\n" if extra.endswith(".py") else "notes\n")
    mlflow.MlflowClient().log_model_artifact(reg["model_id"], str(src), extra.rpartition("/")[0] or None)
    with pytest.raises(MlflowException, match=r'ChecksumMismatch: .*: file "%s" is not in the manifest' % re.escape(extra)):
        mlflow.pyfunc.load_model(uri)
    # Go refuses the same version with the same words.
    out = subprocess.run([str(go_bin("ffmlflow")), "load", "-tracking-uri", tracking, "-uri", uri, "-dst", str(tmp_path / "dl")],
                         capture_output=True, text=True)
    assert out.returncode != 0 and 'file "%s" is not in the manifest' % extra in out.stderr, out.stderr
