"""The tutorial's own flavor (tutorial_flavor.py) on MLflow 3.x, and the
committed tests/testdata/tutorial_model that the Go tests read."""

import pathlib
import subprocess
import sys

import tutorial_flavor
from mlflow.models import Model

HERE = pathlib.Path(__file__).resolve().parent
COMMITTED = HERE.parent / "testdata" / "tutorial_model"


def test_committed_tutorial_model_loads_in_python():
    assert tutorial_flavor.load_model(str(COMMITTED)).predict(4) == 7
    cfg = Model.load(str(COMMITTED)).flavors["my_flavor"]
    assert cfg == {"foo": 123, "bar": "abc", "offset": 3}


def test_make_tutorial_model_is_reproducible(tmp_path):
    # The generator is deterministic: the committed files are what it writes.
    out = tmp_path / "tutorial_model"
    subprocess.run([sys.executable, str(HERE / "make_tutorial_model.py"), str(out)], check=True)
    for name in ("MLmodel", "model.pkl"):
        assert (out / name).read_bytes() == (COMMITTED / name).read_bytes(), name
