"""The tutorial's custom MLflow flavor (changhsinlee/mlflow-flavor-example,
flavor "my_flavor"), ported to MLflow 3.x:

* log_model takes ``name`` (3.x) instead of ``artifact_path`` (deprecated);
  the name must not contain "/ : . % \" '" (LoggedModel name rules).
* model_info.model_uri is ``models:/m-<id>``, not ``runs:/<run>/<path>``;
  ``runs:/<run>/<name>`` still loads through MLflow's logged-model fallback.

Everything else is the tutorial's code: the model is pickled to model.pkl and
MLmodel carries ``my_flavor: {foo: 123, bar: abc, offset: <offset>}``. The Go
side (flavorflow's flavor.LoadModel) reads the offset from MLmodel and never
touches model.pkl.
"""

import pickle
from pathlib import Path

from mlflow.models import Model
from mlflow.models.model import MLMODEL_FILE_NAME
from mlflow.tracking.artifact_utils import _download_artifact_from_uri

FLAVOR_NAME = "my_flavor"


class FakeModel:
    def __init__(self, offset):
        self.offset = offset

    def __eq__(self, other):
        return self.offset == other.offset

    def predict(self, input_num: float):
        return input_num + self.offset

    def save(self, path):
        with Path(path).open(mode="wb") as f:
            pickle.dump(self, f)

    @classmethod
    def load(cls, path):
        with Path(path).open(mode="rb") as f:
            return pickle.load(f)


def save_model(fake_model, path, mlflow_model=None, **kwargs):
    path = Path(path).resolve()
    path.mkdir(parents=True, exist_ok=True)
    if mlflow_model is None:
        mlflow_model = Model()
    mlflow_model.add_flavor(FLAVOR_NAME, foo=123, bar="abc", offset=fake_model.offset)
    mlflow_model.save(path / MLMODEL_FILE_NAME)
    fake_model.save(path / "model.pkl")


def log_model(model, name="model", **kwargs):
    import sys

    return Model.log(artifact_path=None, name=name, flavor=sys.modules[__name__], fake_model=model, **kwargs)


def load_model(model_uri, dst_path=None):
    local_model_path = _download_artifact_from_uri(artifact_uri=model_uri, output_path=dst_path)
    return FakeModel.load(Path(local_model_path) / "model.pkl")
