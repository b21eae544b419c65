"""P5 baseline: mlflow.pyfunc.log_model(..., registered_model_name=...) of a
tiny model, n times in one process (imports and a warm-up run excluded);
prints the seconds of each run."""
import json, sys, time

import mlflow
import mlflow.pyfunc


class FakeModel(mlflow.pyfunc.PythonModel):
    def __init__(self, offset):
        self.offset = offset

    def predict(self, context, model_input, params=None):
        return model_input + self.offset


tracking_uri, prefix, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
mlflow.set_tracking_uri(tracking_uri)
mlflow.set_experiment("bench-p5-python")
times = []
for i in range(-1, n):
    t0 = time.perf_counter()
    with mlflow.start_run():
        mlflow.pyfunc.log_model(
            name="model",
            python_model=FakeModel(3.0),
            # Given, so that no time goes to inferring requirements.
            pip_requirements=["mlflow==" + mlflow.__version__],
            registered_model_name=f"{prefix}-py-{i + 1}",
        )
    if i >= 0:
        times.append(time.perf_counter() - t0)
print(json.dumps({"seconds": times}))
