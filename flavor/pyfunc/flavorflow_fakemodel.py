"""python_function loader for models saved by flavorflow's Go "fakemodel" flavor.

MLflow puts the model's ``code/`` directory on sys.path and calls
``_load_pyfunc(<model>/model.json)``. The model is JSON ({"format_version": 1,
"offset": ...}); nothing is unpickled. Only the standard library is needed to
load; numpy and pandas (both installed with mlflow) are imported lazily when
predicting on arrays or DataFrames.

predict(x) = x + offset, element-wise, for a pandas DataFrame (numeric columns;
other columns pass through), a Series, a numpy array, a list (nested lists
allowed), a dict of columns or a plain number.

Before loading, the model directory is checked against its sha256 manifest
(flavorflow-manifest.json), as the Go loader does: every listed file with its
size and hash. When MLflow downloaded a registered version (it leaves a
registered_model_meta file naming it), the manifest's own hash is compared
with the one recorded on the version (tag flavorflow.manifest_sha256); a
version that records one but came without a manifest is corrupt. A mismatch
raises ChecksumMismatch, flavorflow's error type for it.
"""

import hashlib
import json
import math
import numbers
import os

FORMAT_VERSION = 1
MANIFEST_FILE = "flavorflow-manifest.json"
TAG_MANIFEST_SHA256 = "flavorflow.manifest_sha256"
# Written by MLflow's ModelsArtifactRepository next to a downloaded version.
REGISTERED_MODEL_META = "registered_model_meta"
_MAX_MANIFEST = 4 << 20


class ChecksumMismatch(ValueError):
    """The model's bytes differ from its manifest, or its manifest from the
    hash recorded on the registered version."""


def _recorded_manifest_sha256(model_dir):
    """The manifest hash recorded on the registered version this directory
    was downloaded from, or None (not downloaded from the registry, or the
    version records none)."""
    meta = os.path.join(model_dir, REGISTERED_MODEL_META)
    if not os.path.isfile(meta):
        return None
    try:
        import yaml
        from mlflow import MlflowClient
    except ImportError:  # pragma: no cover - mlflow brings both
        return None
    with open(meta, encoding="utf-8") as f:
        doc = yaml.safe_load(f) or {}
    name, version = doc.get("model_name"), doc.get("model_version")
    if not name or version is None:
        return None
    return MlflowClient().get_model_version(str(name), str(version)).tags.get(TAG_MANIFEST_SHA256) or None


def _safe_rel(rel):
    if not isinstance(rel, str):
        raise ChecksumMismatch("%s lists a path that is not a string: %r" % (MANIFEST_FILE, rel))
    parts = rel.split("/")
    if rel.startswith("/") or "\\" in rel or any(p in ("", ".", "..") for p in parts):
        raise ChecksumMismatch("%s lists an unsafe path %r" % (MANIFEST_FILE, rel))
    return parts


def _check_model_dir(model_dir):
    """Checks model_dir against its manifest; returns the manifest's sha256,
    or None for a directory without one that nothing says should have one."""
    expected = _recorded_manifest_sha256(model_dir)
    path = os.path.join(model_dir, MANIFEST_FILE)
    if not os.path.isfile(path):
        if expected:
            raise ChecksumMismatch("%s has no %s, but its registered version records manifest hash %s" % (model_dir, MANIFEST_FILE, expected))
        return None
    with open(path, "rb") as f:
        data = f.read(_MAX_MANIFEST + 1)
    digest = hashlib.sha256(data).hexdigest()
    if expected and digest != expected:
        raise ChecksumMismatch("%s: %s has sha256 %s, the registered version records %s" % (model_dir, MANIFEST_FILE, digest, expected))
    doc = json.loads(data)
    for entry in doc.get("files", []):
        rel = entry.get("path")
        p = os.path.join(model_dir, *_safe_rel(rel))
        if not os.path.isfile(p) or os.path.islink(p):
            raise ChecksumMismatch("%s: file %r listed in the manifest is missing" % (model_dir, rel))
        h, size = hashlib.sha256(), 0
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
                size += len(chunk)
        if size != entry.get("size") or h.hexdigest() != entry.get("sha256"):
            raise ChecksumMismatch("%s: file %r is %d bytes with sha256 %s, the manifest says %s bytes with %s" % (model_dir, rel, size, h.hexdigest(), entry.get("size"), entry.get("sha256")))
    return digest


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
    _check_model_dir(os.path.dirname(os.path.abspath(path)))
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    if not isinstance(doc, dict) or doc.get("format_version") != FORMAT_VERSION:
        raise ValueError("%s: unsupported fakemodel format_version %r" % (path, doc.get("format_version") if isinstance(doc, dict) else None))
    offset = doc.get("offset")
    if isinstance(offset, bool) or not isinstance(offset, (int, float)) or not math.isfinite(offset):
        raise ValueError("%s: offset %r is not a finite number" % (path, offset))
    return FakeModel(float(offset))
