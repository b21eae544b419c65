"""P2 baseline: mlflow.artifacts.download_artifacts of a logged model; prints seconds."""
import json, sys, time

import mlflow

tracking_uri, uri, dst = sys.argv[1], sys.argv[2], sys.argv[3]
t0 = time.perf_counter()
mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=dst, tracking_uri=tracking_uri)
print(json.dumps({"seconds": time.perf_counter() - t0}))
