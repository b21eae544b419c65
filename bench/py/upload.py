"""P1 baseline: MlflowClient().log_artifact of one file; prints seconds."""
import json, os, sys, time

from mlflow import MlflowClient

tracking_uri, path, exp_name = sys.argv[1], sys.argv[2], sys.argv[3]
client = MlflowClient(tracking_uri)
exp = client.get_experiment_by_name(exp_name)
exp_id = exp.experiment_id if exp else client.create_experiment(exp_name)
run = client.create_run(exp_id)
t0 = time.perf_counter()
client.log_artifact(run.info.run_id, path, artifact_path="py")
print(json.dumps({"seconds": time.perf_counter() - t0}))
