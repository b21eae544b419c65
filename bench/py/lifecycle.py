"""P7 baseline: one model lifecycle the way a user would run it without
flavorflow, one process per pipeline: train, log the params and metrics,
log + register the model, read the alias, load the version back and check a
prediction, set the alias. Prints a JSON line."""
import json, sys, time

t0 = time.perf_counter()
import numpy as np

import mlflow
import mlflow.pyfunc
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException


class FakeModel(mlflow.pyfunc.PythonModel):
    def __init__(self, offset):
        self.offset = offset

    def predict(self, context, model_input, params=None):
        return np.asarray(model_input, dtype=float) + self.offset


tracking_uri, experiment, name, alias = sys.argv[1:5]
mlflow.set_tracking_uri(tracking_uri)
mlflow.set_experiment(experiment)
client = MlflowClient()

pairs = [(1.0, 4.0), (2.0, 5.0), (3.0, 6.0)]  # the harness's tinyData
offset = sum(y - x for x, y in pairs) / len(pairs)
mse = sum((x + offset - y) ** 2 for x, y in pairs) / len(pairs)
with mlflow.start_run():
    mlflow.log_params({"model_name": name, "samples": len(pairs)})
    mlflow.log_metrics({"training_mse": mse, "training_samples": len(pairs), "offset": offset})
    info = mlflow.pyfunc.log_model(
        name="model",
        python_model=FakeModel(offset),
        # Given, so that no time goes to inferring requirements.
        pip_requirements=["mlflow==" + mlflow.__version__],
        registered_model_name=name,
    )
version = info.registered_model_version
try:
    previous = client.get_model_version_by_alias(name, alias).version
except MlflowException:
    previous = None
model = mlflow.pyfunc.load_model(f"models:/{name}/{version}")
inputs = [x for x, _ in pairs]
got = list(model.predict(np.array(inputs)))
if got != [x + offset for x in inputs]:
    raise SystemExit(f"prediction {got} is wrong")
client.set_registered_model_alias(name, alias, version)
print(json.dumps({"seconds": time.perf_counter() - t0, "version": int(version), "previous": previous}))
