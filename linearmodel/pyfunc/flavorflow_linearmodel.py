"""python_function loader for flavorflow's Go linear model flavor.

MLflow puts the model's code/ directory on sys.path and calls
_load_pyfunc(<model>/linear_model.json). The model is JSON
({"format_version": 1, "features": [...], "target": ..., "weights": [...],
"intercept": ...}); nothing is unpickled. predict(df) returns
intercept + df[features] @ weights, a pandas Series named after the target,
for a DataFrame with (at least) the feature columns; a dict of columns or a
list of records is turned into one first.
"""

import json
import math
import os

FORMAT_VERSION = 1


class LinearModel:
    def __init__(self, features, target, weights, intercept):
        self.features = features
        self.target = target
        self.weights = weights
        self.intercept = intercept

    def __repr__(self):
        return "LinearModel(%r -> %r)" % (self.features, self.target)

    def predict(self, model_input, params=None):
        import numpy as np
        import pandas as pd

        df = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        missing = [f for f in self.features if f not in df.columns]
        if missing:
            raise ValueError("linear model needs columns %s; the input lacks %s" % (self.features, missing))
        x = df[self.features].to_numpy(dtype=float)
        return pd.Series(x @ np.asarray(self.weights, dtype=float) + self.intercept, index=df.index, name=self.target)

    def get_raw_model(self):
        return self


def _load_pyfunc(path):
    if os.path.isdir(path):
        path = os.path.join(path, "linear_model.json")
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    if not isinstance(doc, dict) or doc.get("format_version") != FORMAT_VERSION:
        raise ValueError("%s: unsupported linear model format" % path)
    features, weights, intercept = doc.get("features"), doc.get("weights"), doc.get("intercept")
    numbers = list(weights or []) + [intercept]
    if not features or len(features) != len(weights or []) or not all(
        isinstance(w, (int, float)) and not isinstance(w, bool) and math.isfinite(w) for w in numbers
    ):
        raise ValueError("%s: features and finite weights do not match" % path)
    return LinearModel(list(features), doc.get("target"), [float(w) for w in weights], float(intercept))
