"""Regenerates the MLmodel golden files from cases.json with the real PyYAML
and mlflow.models.Model (run with the project venv: mlflow==3.17.2):

    .venv/bin/python flavor/testdata/golden/gen_golden.py

The Go tests (flavor/mlmodel_test.go) build the same documents from
cases.json and must write exactly these bytes."""

import datetime
import json
import pathlib

import yaml
from mlflow.models import Model
from mlflow.models.signature import ModelSignature

HERE = pathlib.Path(__file__).parent


def main():
    cases = json.loads((HERE / "cases.json").read_text())
    for name, c in cases["mlmodels"].items():
        sig = None
        if "signature" in c:
            sig = ModelSignature.from_dict(c["signature"])
            # The Go side stores the JSON strings verbatim; make sure MLflow
            # re-serializes them unchanged, or the case is not a fair test.
            assert sig.to_dict()["inputs"] == c["signature"]["inputs"], name
            assert sig.to_dict()["outputs"] == c["signature"]["outputs"], name
        m = Model(
            artifact_path=c.get("artifact_path"),
            run_id=c.get("run_id"),
            utc_time_created=c["utc_time_created"],
            flavors=c["flavors"],
            signature=sig,
            model_uuid=c.get("model_uuid"),
            mlflow_version=c.get("mlflow_version"),
            metadata=c.get("metadata"),
            model_size_bytes=c.get("model_size_bytes"),
            model_id=c.get("model_id"),
            **c.get("extra", {}),
        )
        (HERE / f"{name}.MLmodel").write_text(m.to_yaml())
    floats = [float(f) for f in cases["floats"]]
    (HERE / "floats.yaml").write_text(yaml.safe_dump({"floats": floats}, default_flow_style=False))
    times = [str(datetime.datetime.fromisoformat(t).astimezone(datetime.timezone.utc).replace(tzinfo=None)) for t in cases["times"]]
    (HERE / "times.txt").write_text("\n".join(times) + "\n")


if __name__ == "__main__":
    main()
