"""Writes tests/testdata/tutorial_model: the tutorial's FakeModel(3) saved by
its own flavor (tutorial_flavor.py) with this venv's MLflow. model_uuid and
utc_time_created are fixed so that re-running gives the same MLmodel.

    .venv/bin/python tests/python/make_tutorial_model.py [OUT_DIR]
"""

import pathlib
import shutil
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from mlflow.models import Model  # noqa: E402

import tutorial_flavor  # noqa: E402

OUT = HERE.parent / "testdata" / "tutorial_model"


def main(out=OUT):
    out = pathlib.Path(out)
    if out.exists():
        shutil.rmtree(out)
    model = Model(model_uuid="7475746f7269616c6d6f64656c303033", utc_time_created="2026-11-25 12:00:00.000003")
    tutorial_flavor.save_model(tutorial_flavor.FakeModel(3), out, mlflow_model=model)
    assert tutorial_flavor.load_model(str(out)).predict(4) == 7


if __name__ == "__main__":
    main(*sys.argv[1:])
