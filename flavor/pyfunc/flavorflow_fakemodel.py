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
(flavorflow-manifest.json) by the Go loader's rule (flavor.VerifyDir): every
listed file present with its size and hash, and no other file but the few
MLflow and Python themselves add while loading (see _added_while_loading).
Symlinks and other non-regular files are refused, manifest or not. When
MLflow downloaded a registered version (it leaves a registered_model_meta
file naming it), the manifest's own hash is compared with the one recorded
on the version (tag flavorflow.manifest_sha256); a version that records one
but came without a manifest is corrupt. A mismatch raises ChecksumMismatch,
flavorflow's error type for it, an MlflowException whose message reads as
the Go loader's ("ChecksumMismatch: <dir>: file "x" is not in the manifest").

This check runs inside the loader, after Python imported it from code/: it
cannot stop what ran before it. The loader's own source is listed and
checked; a planted bytecode file that Python would run instead of it is not
this code's to catch (Go's loader refuses such a directory).
"""

import hashlib
import json
import math
import numbers
import os
import re

try:
    from mlflow.exceptions import MlflowException
except ImportError:  # pragma: no cover - the loader runs under mlflow
    MlflowException = None

FORMAT_VERSION = 1
MANIFEST_FILE = "flavorflow-manifest.json"
TAG_MANIFEST_SHA256 = "flavorflow.manifest_sha256"
# Written by MLflow's ModelsArtifactRepository next to a downloaded version.
REGISTERED_MODEL_META = "registered_model_meta"
CODE_DIR = "code"
_MAX_MANIFEST = 4 << 20
# <module>.<cache tag>[.opt-N].pyc, the name importlib gives the bytecode
# cache of code/<module>.py (importlib.util.cache_from_source).
_PYC_NAME = re.compile(r"^(?P<module>[^.]+)\.(?!opt-)[A-Za-z0-9_-]+(?:\.opt-[12])?\.pyc$")


class _Error(*((MlflowException, ValueError) if MlflowException else (ValueError,))):
    """Base of the loader's errors: an MlflowException (a ValueError too, as
    before) whose message starts with flavorflow's error type, as Go's do."""

    code = "Internal"

    def __init__(self, message):
        message = "%s: %s" % (self.code, message)
        if MlflowException:
            super().__init__(message, error_code="INVALID_STATE")
        else:  # pragma: no cover
            super().__init__(message)


class ChecksumMismatch(_Error):
    """The model's files differ from its manifest, or its manifest from the
    hash recorded on the registered version."""

    code = "ChecksumMismatch"


class InvalidPath(_Error):
    """The model directory holds a symlink or a non-regular file."""

    code = "InvalidPath"


def _q(s):
    # Go's %q, as the Go loader's messages quote paths.
    return json.dumps(s, ensure_ascii=False)


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
        raise ChecksumMismatch("%s lists an unsafe path %s" % (MANIFEST_FILE, _q(rel)))
    return parts


def _walk_files(model_dir, rel=""):
    """Yields the slash separated relative path of every regular file below
    model_dir, in the order Go's walkFiles visits them (entries sorted by
    name, a directory's files where its name sorts). Symlinks and other
    non-regular files raise InvalidPath."""
    with os.scandir(os.path.join(model_dir, *rel.split("/")) if rel else model_dir) as it:
        entries = sorted(it, key=lambda e: e.name)
    for e in entries:
        r = rel + "/" + e.name if rel else e.name
        if e.is_symlink():
            raise InvalidPath("%s: %s is a symlink; model directories hold plain files only" % (model_dir, _q(r)))
        if e.is_dir(follow_symlinks=False):
            yield from _walk_files(model_dir, r)
        elif e.is_file(follow_symlinks=False):
            yield r
        else:
            raise InvalidPath("%s: %s is not a regular file" % (model_dir, _q(r)))


def _added_while_loading(model_dir, rel, listed):
    """Whether rel, a file not in the manifest, is one MLflow or Python adds
    to a model directory while loading it; these, and no others, are allowed:

    - registered_model_meta, at the top: MLflow's ModelsArtifactRepository
      writes it (model name and version, null for a logged model's
      models:/m-... URI) into the directory it downloads a models:/ URI to,
      after the download and before this check. It is read above, never run.
    - code/__pycache__/<module>.<tag>[.opt-N].pyc for a listed
      code/<module>.py: mlflow.pyfunc.load_model puts code/ on sys.path and
      imports this module from it before calling _load_pyfunc, so Python has
      just written its bytecode cache there (unless told not to), or wrote it
      when the same directory was loaded before, by any Python version
      (hence any tag). Python runs such a file only in place of that very
      source, and only while it matches the source, except an unchecked
      hash-based one (PEP 552), which it runs without looking at the source:
      its import never writes those, so they are refused.

    _download_artifact_from_uri adds nothing else: it writes each artifact
    to its final path (no temporary or partial files), and load_model writes
    nothing else into the directory (MLflow 3.17.2)."""
    if rel == REGISTERED_MODEL_META:
        return True
    parts = rel.split("/")
    if len(parts) != 3 or parts[0] != CODE_DIR or parts[1] != "__pycache__":
        return False
    m = _PYC_NAME.match(parts[2])
    if not m or "%s/%s.py" % (CODE_DIR, m.group("module")) not in listed:
        return False
    with open(os.path.join(model_dir, *parts), "rb") as f:
        header = f.read(8)
    # Bytes 4-8: flags; bit 0 hash-based, bit 1 check the source.
    if len(header) == 8 and int.from_bytes(header[4:8], "little") & 0b11 == 0b01:
        raise ChecksumMismatch("%s: file %s is an unchecked hash-based .pyc, which Python would run without its source; it is not in the manifest" % (model_dir, _q(rel)))
    return True


def _check_model_dir(model_dir):
    """Checks model_dir against its manifest as Go's VerifyDir does; returns
    the manifest's sha256, or None for a directory without one that nothing
    says should have one."""
    # Walked first: a symlink fails before anything in the directory is read.
    files = list(_walk_files(model_dir))
    expected = _recorded_manifest_sha256(model_dir) if REGISTERED_MODEL_META in files else None
    if MANIFEST_FILE not in files:
        if expected:
            raise ChecksumMismatch("%s has no %s, but its registered version records manifest hash %s" % (model_dir, MANIFEST_FILE, expected))
        return None
    with open(os.path.join(model_dir, MANIFEST_FILE), "rb") as f:
        data = f.read(_MAX_MANIFEST + 1)
    digest = hashlib.sha256(data).hexdigest()
    if expected and digest != expected:
        raise ChecksumMismatch("%s: %s has sha256 %s, the registered version records %s" % (model_dir, MANIFEST_FILE, digest, expected))
    doc = json.loads(data)
    want = {}
    for entry in doc.get("files", []):
        rel = entry.get("path")
        _safe_rel(rel)
        want[rel] = entry
    listed = set(want)
    for rel in files:
        if rel == MANIFEST_FILE:
            continue
        entry = want.pop(rel, None)
        if entry is None:
            if _added_while_loading(model_dir, rel, listed):
                continue
            raise ChecksumMismatch("%s: file %s is not in the manifest" % (model_dir, _q(rel)))
        h, size = hashlib.sha256(), 0
        with open(os.path.join(model_dir, *rel.split("/")), "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
                size += len(chunk)
        if size != entry.get("size") or h.hexdigest() != entry.get("sha256"):
            raise ChecksumMismatch("%s: file %s is %d bytes with sha256 %s, the manifest says %s bytes with %s" % (model_dir, _q(rel), size, h.hexdigest(), entry.get("size"), entry.get("sha256")))
    if want:
        raise ChecksumMismatch("%s: file %s listed in the manifest is missing" % (model_dir, _q(sorted(want)[0])))
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
