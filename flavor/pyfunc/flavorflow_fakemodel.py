"""python_function loader for models saved by flavorflow's Go "fakemodel" flavor.

MLflow puts the model's ``code/`` directory on sys.path and calls
``_load_pyfunc(<model>/model.json)``. The model is JSON ({"format_version": 1,
"offset": ...}); nothing is unpickled. Only the standard library is needed to
load; numpy and pandas (both installed with mlflow) are imported lazily when
predicting on arrays or DataFrames.

predict(x) = x + offset, element-wise, for a pandas DataFrame (numeric columns;
other columns pass through), a Series, a numpy array, a list (nested lists
allowed), a dict of columns or a plain number.
"""

import json
import math
import numbers
import os

FORMAT_VERSION = 1


class FakeModel:
    def __init__(self, offset):
        self.offset = offset

    def __repr__(self):
        return "FakeModel(%r)" % (self.offset,)

    def predict(self, model_input, params=None):
        return _add(model_input, self.offset)

    def get_raw_model(self):
        return self


def _add(x, offset):
    if isinstance(x, bool):
        raise TypeError("cannot predict on a boolean")
    if isinstance(x, numbers.Number):
        return x + offset
    if isinstance(x, list):
        return [_add(v, offset) for v in x]
    if isinstance(x, tuple):
        return [_add(v, offset) for v in x]
    if isinstance(x, dict):
        return {k: _add(v, offset) for k, v in x.items()}
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - mlflow always brings pandas
        pd = None
    if pd is not None and isinstance(x, pd.DataFrame):
        out = x.copy()
        for col in out.columns:
            if pd.api.types.is_numeric_dtype(out[col]) and not pd.api.types.is_bool_dtype(out[col]):
                out[col] = out[col] + offset
        return out
    if pd is not None and isinstance(x, pd.Series):
        return x + offset
    import numpy as np

    if isinstance(x, np.ndarray):
        if x.dtype.kind not in "iuf":
            x = x.astype(float)
        return x + offset
    if isinstance(x, np.generic):
        return x + offset
    raise TypeError("cannot predict on %s" % type(x).__name__)


def _load_pyfunc(path):
    """path is <model>/model.json (the python_function "data" entry); a
    directory is accepted too, for MLmodel files without "data"."""
    if os.path.isdir(path):
        path = os.path.join(path, "model.json")
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    if not isinstance(doc, dict) or doc.get("format_version") != FORMAT_VERSION:
        raise ValueError("%s: unsupported fakemodel format_version %r" % (path, doc.get("format_version") if isinstance(doc, dict) else None))
    offset = doc.get("offset")
    if isinstance(offset, bool) or not isinstance(offset, (int, float)) or not math.isfinite(offset):
        raise ValueError("%s: offset %r is not a finite number" % (path, offset))
    return FakeModel(float(offset))
