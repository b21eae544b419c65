"""flavorflow's Python activity worker: training and verification in Python.

The Go worker orchestrates the model lifecycle (workflows.ModelLifecycle).
For a trainer that runs in Python (a name starting with "sklearn-" or "py-",
vocab.IsPythonTrainer) the workflow schedules these activities on this worker's
task queue, "<queue>-python":

* TrainPython: runs the trainer by name (TRAINERS below), saves the model
  with MLflow's own save_model into <work-dir>/<workflow dir>/python-model,
  writes flavorflow's sha256 manifest there (byte for byte what Go's
  flavor.encodeManifest writes) and returns a reference to the directory
  (URI, manifest sha256, size), the metrics and the rows the version is
  verified on with this model's predictions. Never the model's bytes.
  The Go LogModel uploads that directory: both workers must see the same
  work directory (one machine, or a shared volume).
* VerifyPython: pyfunc-loads the exact registered version
  (models:/<name>/<version>), checks the downloaded files against the
  manifest hash recorded at logging, and compares its predictions on the
  check rows with the trainer's (relative tolerance 1e-9). On the embedded
  store (no MLflow server to load from) the Go worker downloads the version
  into the shared work directory first and the input's "dir" names it: the
  same checks run on that directory, and the Go worker sets the verified tag.
* EvaluatePython (pipelines with a promotion policy): splits the held-out
  rows with the rule TrainPython kept them out by (Go's: a splitmix64 hash
  of seed^row for a fraction, the window before the cutoff, or a separate
  file), pyfunc-loads the challenger and the champion by exact version
  (manifests checked) and returns their MSE, MAE and R² on those rows. Go
  records the evidence and decides.

Retry policies and timeouts are the Go workflow's. Errors that no retry can
fix are ApplicationError(type=<failure/codes.go code>, non_retryable=True);
anything else is retried. SIGTERM/SIGINT stop the worker gracefully: no new
tasks, running ones get --graceful-timeout seconds (30) to finish, then are
cancelled and retried elsewhere, and the process exits.

Run:  .venv/bin/python pyworker/flavorflow_pyworker.py --task-queue flavorflow-python \
          --work-dir /tmp/flavorflow-work  [--address localhost:7233] [--namespace default]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import json
import logging
import math
import os
import shutil
import signal
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Callable

from temporalio import activity
from temporalio.exceptions import ApplicationError

MANIFEST_FILE = "flavorflow-manifest.json"
TAG_MANIFEST_SHA256 = "flavorflow.manifest_sha256"
TAG_VERIFIED = "flavorflow.verified"  # vocab.TagVerified: PromoteAlias requires it
MODEL_DIR = "python-model"
MAX_CHECK_ROWS = 5
TIME_COLUMN = "t"
TARGET_COLUMN = "y"
REL_TOL = 1e-9

# Error types: the strings of failure/codes.go.
INVALID_TRAINING_DATA = "InvalidTrainingData"
UNKNOWN_TRAINER = "UnknownTrainer"
INVALID_ARGUMENT = "InvalidArgument"
CHECKSUM_MISMATCH = "ChecksumMismatch"
VERIFICATION_FAILED = "VerificationFailed"
INVALID_PATH = "InvalidPath"
NOT_FOUND = "NotFound"
INVALID_CONFIG = "InvalidConfig"

log = logging.getLogger("flavorflow.pyworker")


def fail(code: str, msg: str) -> ApplicationError:
    """A non-retryable error of one of failure/codes.go's types."""
    return ApplicationError(f"{code}: {msg}", type=code, non_retryable=True)


# --- work directory -----------------------------------------------------

_MAX_DIR_SEGMENT = 128  # activities.maxDirSegment


def sanitize(wf_id: str) -> str:
    """The Go worker's activities.sanitize: one safe path segment per
    workflow ID, so Go's CleanUp removes this worker's files too when both
    share the work directory."""
    ok = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
    s = "".join(c if c in ok else "_" for c in wf_id)
    # Go writes one '_' per rune, as here per code point.
    if s in ("", ".", ".."):
        s = "_" + s
    if s != wf_id or len(s.encode()) > _MAX_DIR_SEGMENT:
        digest = hashlib.sha256(wf_id.encode()).hexdigest()[:16]
        s = s[: min(len(s), _MAX_DIR_SEGMENT - 17)] + "-" + digest
    return s


# --- manifest -----------------------------------------------------------


def build_manifest(root: str) -> dict:
    """Every regular file under root except the manifest: path, size, sha256."""
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root).replace(os.sep, "/")
            if rel == MANIFEST_FILE:
                continue
            if os.path.islink(full) or not os.path.isfile(full):
                raise fail(INVALID_ARGUMENT, f"{rel} is not a regular file")
            h = hashlib.sha256()
            size = 0
            with open(full, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
                    size += len(chunk)
            files.append({"path": rel, "size": size, "sha256": h.hexdigest()})
    files.sort(key=lambda e: e["path"].encode())
    return {"version": 1, "files": files}


def go_json(v, **kw) -> str:
    """json.dumps as Go's encoding/json writes it: Go escapes <, >, & and
    U+2028/U+2029 and keeps other non-ASCII as UTF-8."""
    text = json.dumps(v, ensure_ascii=False, **kw)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def encode_manifest(m: dict) -> bytes:
    """Go's json.MarshalIndent(m, "", "  ") plus a newline (flavor.encodeManifest)."""
    return go_json(m, indent=2, separators=(",", ": ")).encode("utf-8") + b"\n"


def write_manifest(root: str) -> tuple[str, int]:
    """Writes root's manifest; returns its sha256 and the files' total size."""
    m = build_manifest(root)
    data = encode_manifest(m)
    with open(os.path.join(root, MANIFEST_FILE), "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return hashlib.sha256(data).hexdigest(), sum(e["size"] for e in m["files"]) + len(data)


REGISTERED_MODEL_META = "registered_model_meta"


def check_manifest(root: str, want_sha256: str, downloaded: bool = False) -> str:
    """root's files match its manifest, and the manifest hashes to want_sha256
    (ChecksumMismatch otherwise); returns the manifest's sha256. downloaded:
    root is a models:/ download, where MLflow writes registered_model_meta at
    the top (as flavor/pyfunc/flavorflow_fakemodel.py allows); no other
    unlisted file is."""
    path = os.path.join(root, MANIFEST_FILE)
    if not os.path.exists(path):
        raise fail(CHECKSUM_MISMATCH, f"{root} has no {MANIFEST_FILE}")
    with open(path, "rb") as f:
        data = f.read()
    got = hashlib.sha256(data).hexdigest()
    if want_sha256 and got != want_sha256:
        raise fail(CHECKSUM_MISMATCH, f"{root}: manifest sha256 {got}, recorded {want_sha256}")
    recorded = json.loads(data)
    actual = build_manifest(root)
    if downloaded:
        actual["files"] = [e for e in actual["files"] if e["path"] != REGISTERED_MODEL_META]
    if recorded.get("files") != actual["files"]:
        want = {e["path"]: e for e in recorded.get("files", [])}
        have = {e["path"]: e for e in actual["files"]}
        bad = sorted(p for p in set(want) | set(have) if want.get(p) != have.get(p))
        raise fail(CHECKSUM_MISMATCH, f"{root}: files differ from the manifest: {bad}")
    return got


# --- training data ------------------------------------------------------

# rows.MaxRows, rows.MaxBytes, rows.MaxColumns.
MAX_ROWS = 1_000_000
MAX_BYTES = 64 << 20
MAX_COLUMNS = 1024


def time_us(v) -> int:
    """rows.ParseTime: RFC 3339 or unix seconds, as integer microseconds
    since the epoch (exact to compare; pandas' datetime64 would read unix
    seconds as nanoseconds and stops in 2262)."""
    import datetime as dt

    s = str(v).strip()
    if "T" in s or "t" in s:
        try:
            t = dt.datetime.fromisoformat(s[:-1] + "+00:00" if s[-1:] in "Zz" else s)
        except ValueError:
            t = None
        if t is not None and t.tzinfo is not None:
            return (t - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)) // dt.timedelta(microseconds=1)
    try:
        f = float(s) if s.isascii() else math.nan
    except ValueError:
        f = math.nan
    if not math.isfinite(f) or abs(f) > 1e12:
        raise fail(INVALID_TRAINING_DATA, f"timestamp {s!r} is neither RFC 3339 nor unix seconds")
    return round(f * 1_000_000)


def _number(v, n: int, col: str) -> float:
    if isinstance(v, bool) or v is None or not isinstance(v, (int, float, str)):
        raise fail(INVALID_TRAINING_DATA, f"record {n} column {col!r}: {json.dumps(v)} is not a number")
    try:
        # rows.ParseNumber: ASCII only (float() would take "١٢" as 12,
        # which Go, and so the starter, refuses).
        if isinstance(v, str) and not v.strip().isascii():
            raise ValueError
        f = float(v.strip()) if isinstance(v, str) else float(v)
    except ValueError:
        raise fail(INVALID_TRAINING_DATA, f"record {n} column {col!r}: {v.strip()!r} is not a number") from None
    if not math.isfinite(f):
        raise fail(INVALID_TRAINING_DATA, f"record {n} column {col!r}: {f} is not finite")
    return f


def read_rows(path: str):
    """A training data file by Go's rules (rows.ReadFile), so a file the
    starter accepted trains on the same columns and rows here as in a Go
    trainer, and one it would refuse is refused with the same reason: a CSV
    with a header line (fields trimmed, '#' comment lines and blank lines
    skipped, every record as wide as the header) or a JSON array of records
    with the same keys; column names non-empty and distinct; every value a
    finite number; a "t" column is the observation time (RFC 3339 or unix
    seconds), returned as integer microseconds."""
    import csv

    import pandas as pd

    if os.path.isdir(path):
        raise fail(INVALID_TRAINING_DATA, f"training data {path} is a directory")
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise fail(INVALID_TRAINING_DATA, f"training data file {path} does not exist") from None
    if len(raw) > MAX_BYTES:
        raise fail(INVALID_TRAINING_DATA, f"training data is over the limit of {MAX_BYTES} bytes (64 MiB)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise fail(INVALID_TRAINING_DATA, f"training data {path} is not UTF-8: {e}") from None
    text = text.lstrip(" \t\r\n")
    if not text:
        raise fail(INVALID_TRAINING_DATA, "training data is empty")
    if text[0] == "[":
        def pairs_hook(kv):
            keys = [k for k, _ in kv]
            if len(set(keys)) != len(keys):
                raise ValueError(f"a key twice in {keys}")
            return kv  # a list of (key, value): the record's key order

        try:
            recs = json.loads(text, object_pairs_hook=pairs_hook)
        except ValueError as e:
            raise fail(INVALID_TRAINING_DATA, f"training data JSON: {e}") from None
        header, records = None, []
        for n, rec in enumerate(recs, 1):
            if not isinstance(rec, list):
                raise fail(INVALID_TRAINING_DATA, f"training data JSON record {n}: not an object")
            keys = [k for k, _ in rec]
            if header is None:
                header = keys
            elif sorted(keys) != sorted(header):
                raise fail(INVALID_TRAINING_DATA, f"training data JSON record {n} has keys {keys}, the first record {header}")
            d = dict(rec)
            records.append([d[k] for k in header])
        if header is None:
            raise fail(INVALID_TRAINING_DATA, "training data is empty")
    else:
        # Lines end at "\n" only, as for Go's encoding/csv: splitlines
        # would also end them at a lone "\r", "\f", U+2028 and more,
        # reading a file Go refuses or reads otherwise.
        lines = (ln for ln in io.StringIO(text, newline="\n") if not ln.startswith("#"))
        reader = csv.reader(lines, skipinitialspace=True, strict=True)
        try:
            rows = [r for r in reader if r]
        except csv.Error as e:
            if "new-line character" in str(e):
                # rows.msgLoneCR: lines ending with a carriage return alone.
                raise fail(INVALID_TRAINING_DATA, "training data CSV has a carriage return (\\r) without a line feed: "
                                                  "save it with \\n or \\r\\n line ends") from None
            raise fail(INVALID_TRAINING_DATA, f"training data CSV: {e}") from None
        if not rows:
            raise fail(INVALID_TRAINING_DATA, "training data is empty")
        header, records = [h.strip() for h in rows[0]], rows[1:]
        for h in header:
            try:
                float(h)
            except ValueError:
                continue
            raise fail(INVALID_TRAINING_DATA, "training data CSV needs a header line naming the columns; "
                                              f"the first line is {','.join(rows[0])!r}")
        for n, r in enumerate(records, 1):
            if len(r) != len(header):
                raise fail(INVALID_TRAINING_DATA, f"training data CSV: record {n} has {len(r)} fields, the header {len(header)}")
    header = [str(h).strip() for h in header]
    tcol = header.index(TIME_COLUMN) if TIME_COLUMN in header else -1
    columns = [h for i, h in enumerate(header) if i != tcol]
    if len(columns) > MAX_COLUMNS:
        raise fail(INVALID_TRAINING_DATA, f"the table has {len(columns)} columns, over the limit of {MAX_COLUMNS}")
    seen = set()
    for i, c in enumerate(columns, 1):
        if not c:
            raise fail(INVALID_TRAINING_DATA, f"column {i} has no name")
        if c in seen:
            raise fail(INVALID_TRAINING_DATA, f"column {c!r} appears twice")
        seen.add(c)
    if len(records) > MAX_ROWS:
        raise fail(INVALID_TRAINING_DATA, f"training data has more than {MAX_ROWS} rows")
    if not records:
        raise fail(INVALID_TRAINING_DATA, "training data is empty (a header and no rows)")
    values, times = [], []
    for n, r in enumerate(records, 1):
        values.append([_number(v, n, header[i]) for i, v in enumerate(r) if i != tcol])
        if tcol >= 0:
            times.append(time_us(r[tcol]))
    df = pd.DataFrame(values, columns=columns, dtype="float64")
    if tcol >= 0:
        df[TIME_COLUMN] = pd.Series(times, dtype="object")
    return df


def load_rows(data: dict):
    """The training rows as read, as a pandas DataFrame: a CSV with a header
    or JSON records (data["path"]), or inline pairs as columns x, y (and t
    when any pair has a time). Column "t" is kept; parsed by times()."""
    import pandas as pd

    path, pairs = data.get("path") or "", data.get("pairs") or []
    try:
        if path and pairs:
            raise fail(INVALID_TRAINING_DATA, "give training pairs or a data file, not both")
        if path:
            df = read_rows(path)
        elif pairs:
            df = pd.DataFrame({"x": [p["x"] for p in pairs], "y": [p["y"] for p in pairs]})
            if any(p.get("t") for p in pairs):
                df[TIME_COLUMN] = pd.Series([time_us(p["t"]) if p.get("t") else None for p in pairs], dtype="object")
        else:
            raise fail(INVALID_TRAINING_DATA, "no training data (neither pairs nor a data file)")
    except ApplicationError:
        raise
    except FileNotFoundError as e:
        raise fail(INVALID_TRAINING_DATA, f"training data: {e}") from e
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise fail(INVALID_TRAINING_DATA, f"training data {path or 'pairs'}: {e}") from e
    return df.reset_index(drop=True)


def times(df):
    """Each row's observation time (UTC; NaT: untimestamped, always kept),
    or None when there is no time column."""
    import pandas as pd

    if TIME_COLUMN not in df.columns:
        return None
    # Integer microseconds since the epoch (time_us: read_rows' and the
    # pairs' times), None for an untimestamped row.
    us = pd.Series([v if v is not None else pd.NA for v in df[TIME_COLUMN]], index=df.index, dtype="Int64")
    return pd.to_datetime(us, unit="us", utc=True)


def _parse_cutoff(cutoff: str | None):
    import pandas as pd

    if not cutoff or cutoff.startswith("0001-01-01"):
        return None
    return pd.to_datetime(time_us(cutoff), unit="us", utc=True)


def finish_table(df):
    """Drops the time column and checks the rows: target, a feature,
    numbers, finite, not empty."""
    if TIME_COLUMN in df.columns:
        df = df.drop(columns=[TIME_COLUMN])
    if TARGET_COLUMN not in df.columns:
        raise fail(INVALID_TRAINING_DATA, f"no target column {TARGET_COLUMN!r} in {list(df.columns)}")
    if len(df.columns) < 2:
        raise fail(INVALID_TRAINING_DATA, "no feature column besides the target")
    if len(df) == 0:
        raise fail(INVALID_TRAINING_DATA, "training data is empty")
    try:
        df = df.astype("float64")
    except (ValueError, TypeError) as e:
        raise fail(INVALID_TRAINING_DATA, f"training data is not numbers: {e}") from e
    if not all(math.isfinite(v) for v in df.to_numpy().ravel()):
        raise fail(INVALID_TRAINING_DATA, "training data has NaN or Inf")
    return df.reset_index(drop=True)


def read_table(data: dict, cutoff: str | None):
    """The training rows as a pandas DataFrame: a CSV with a header or JSON
    records (data["path"]), or inline pairs as columns x, y; rows observed
    after the cutoff (column "t") are left out and "t" dropped."""
    df = load_rows(data)
    t, cut = times(df), _parse_cutoff(cutoff)
    if t is not None and cut is not None:
        df = df[~(t > cut)]
    return finish_table(df)


# --- held-out rows ------------------------------------------------------
# The rule of Go's rows.HeldOutByFraction / Table.SplitFraction /
# Table.SplitWindow and fakemodel.SplitTable, so Train (here) keeps out the
# rows EvaluatePython scores, and a Go pipeline on the same data and
# holdout would pick the same rows. tests/test_pyworker.py pins the rows
# seed 7 holds out, as rows/split_test.go does for Go.

_M64 = (1 << 64) - 1


def held_out_by_fraction(i: int, fraction: float, seed: int) -> bool:
    """Row i (0-based position in the data as read, before any cutoff) is
    held out when splitmix64(seed ^ i), top 53 bits as a float in [0, 1),
    is below fraction."""
    z = (seed & _M64) ^ i
    z = (z + 0x9E3779B97F4A7C15) & _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    z ^= z >> 31
    return (z >> 11) / float(1 << 53) < fraction


def split_table(data: dict, holdout: dict | None, cutoff: str | None):
    """(train, held_out, window_end): the training rows and the held-out
    rows (None when nothing is held out) as DataFrames without the time
    column, and for a window the end it was measured back from (ISO 8601,
    else None). Either side empty is InvalidTrainingData."""
    import pandas as pd

    h = holdout or {}
    fraction, seed = float(h.get("fraction") or 0), int(h.get("seed") or 0)
    window_ns = int(h.get("window") or 0)
    evaluation = h.get("data")
    df = load_rows(data)
    t, cut = times(df), _parse_cutoff(cutoff)
    in_cut = [True] * len(df)
    if t is not None and cut is not None:
        in_cut = list(~(t > cut))
    if fraction:
        if not 0 < fraction < 1:
            raise fail(INVALID_ARGUMENT, f"held-out fraction {fraction} must be in (0, 1)")
        held = [in_cut[i] and held_out_by_fraction(i, fraction, seed) for i in range(len(df))]
        train = [in_cut[i] and not held[i] for i in range(len(df))]
        tr, ho = df[train], df[held]
        if len(tr) == 0 or len(ho) == 0:
            raise fail(INVALID_TRAINING_DATA,
                       f"holding out a fraction {fraction} (seed {seed}) of {len(tr) + len(ho)} rows leaves "
                       f"{len(tr)} to train on and {len(ho)} held out; both must be non-empty")
        return finish_table(tr), finish_table(ho), None
    if window_ns:
        if window_ns < 0:
            raise fail(INVALID_ARGUMENT, "held-out window must be positive")
        if t is None or t.isna().all():
            raise fail(INVALID_TRAINING_DATA, f"a held-out window needs timestamped rows; none of the {len(df)} rows has a time")
        end = cut if cut is not None else t.max()
        start = end - pd.Timedelta(window_ns, unit="ns")
        train = t.isna() | (t <= start)
        held = ~t.isna() & (t > start) & (t <= end)
        tr, ho = df[train], df[held]
        if len(tr) == 0 or len(ho) == 0:
            raise fail(INVALID_TRAINING_DATA,
                       f"a held-out window before {end.isoformat()} leaves {len(tr)} rows to train on and "
                       f"{len(ho)} held out, of {len(df)}; both must be non-empty")
        return finish_table(tr), finish_table(ho), end.strftime("%Y-%m-%dT%H:%M:%SZ")
    tr = finish_table(df[in_cut])
    if evaluation:
        try:
            ho = finish_table(load_rows(evaluation))
        except ApplicationError as e:
            raise fail(e.type or INVALID_TRAINING_DATA, f"evaluation data: {e.message}") from e
        return tr, ho, None
    return tr, None, None


# --- trainers -----------------------------------------------------------


@dataclass
class Trained:
    """What a trainer returns: a saver (writes the model with MLflow's
    save_model into a directory), metrics, and predict for the check rows."""

    save: Callable[[str], None]
    predict: Callable[[Any], list]
    metrics: dict = field(default_factory=dict)
    flavor: str = "sklearn"


def train_sklearn_linear(df) -> Trained:
    """scikit-learn LinearRegression of y on every other column."""
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from sklearn.linear_model import LinearRegression

    X = df.drop(columns=[TARGET_COLUMN])
    y = df[TARGET_COLUMN]
    model = LinearRegression().fit(X, y)
    pred = model.predict(X)
    mse = float(((pred - y.to_numpy()) ** 2).mean())
    example = X.head(MAX_CHECK_ROWS)
    signature = infer_signature(example, model.predict(example))

    def save(path: str) -> None:
        mlflow.sklearn.save_model(model, path, signature=signature, input_example=example)

    return Trained(save=save, predict=lambda rows: [float(v) for v in model.predict(rows)],
                   metrics={"mse": mse, "r2": float(model.score(X, y))})


TRAINERS: dict[str, Callable[[Any], Trained]] = {"sklearn-linear": train_sklearn_linear}


def _test_trainers(gate_dir: str) -> dict:
    """A trainer the fault tests kill the worker in: "py-gated" writes
    <gate>/started and fits sklearn-linear once <gate>/release exists, so a
    test knows training is under way without sleeping. Registered only when
    FLAVORFLOW_PYWORKER_GATE names the directory."""

    def gated(df) -> Trained:
        import time

        open(os.path.join(gate_dir, "started"), "a").close()
        while not os.path.exists(os.path.join(gate_dir, "release")):
            time.sleep(0.05)
        return train_sklearn_linear(df)

    return {"py-gated": gated}


if os.environ.get("FLAVORFLOW_PYWORKER_GATE"):
    TRAINERS.update(_test_trainers(os.environ["FLAVORFLOW_PYWORKER_GATE"]))


# --- activities ---------------------------------------------------------


def table_digest(df) -> str:
    """activities.tableDigest: sha256 of the column names (JSON) and the rows
    as little-endian float64s."""
    import struct

    h = hashlib.sha256()
    h.update(go_json(list(df.columns), separators=(",", ":")).encode("utf-8"))
    for row in df.itertuples(index=False):
        h.update(struct.pack("<%dd" % len(row), *row))
    return h.hexdigest()


def train_sync(inp: dict, work_dir: str, wf_id: str) -> dict:
    name = inp.get("trainer", "")
    trainer = TRAINERS.get(name)
    if trainer is None:
        raise fail(UNKNOWN_TRAINER, f"trainer {name!r} is not registered in the Python worker; it has {sorted(TRAINERS)}")
    # The rows EvaluatePython scores (split_table, the same function) are
    # kept out of the fit.
    df, held, _ = split_table(inp.get("data") or {}, inp.get("holdout"), inp.get("cutoff"))
    trained = trainer(df)
    for k, v in trained.metrics.items():
        if not math.isfinite(v):
            raise fail(INVALID_TRAINING_DATA, f"trainer {name!r} reports metric {k} = {v}, which cannot be recorded")
    wf_dir = os.path.join(work_dir, sanitize(wf_id))
    final = os.path.join(wf_dir, MODEL_DIR)
    os.makedirs(wf_dir, exist_ok=True)
    if os.path.exists(os.path.join(final, MANIFEST_FILE)):
        # An earlier attempt of this workflow saved and died before it
        # reported: keep its files (a re-save has a new model_uuid and time),
        # so the manifest the pipeline logs is one and the same.
        sha, size = check_manifest(final, ""), 0
        for dp, _, fns in os.walk(final):
            size += sum(os.path.getsize(os.path.join(dp, f)) for f in fns)
    else:
        shutil.rmtree(final, ignore_errors=True)
        tmp = tempfile.mkdtemp(prefix=".tmp-", dir=wf_dir)
        try:
            out = os.path.join(tmp, "m")
            trained.save(out)
            sha, size = write_manifest(out)
            os.rename(out, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    features = df.drop(columns=[TARGET_COLUMN])
    check = features.head(MAX_CHECK_ROWS)
    return {
        "dir": {"uri": "file://" + os.path.abspath(final), "sha256": sha, "size": size},
        "flavor": trained.flavor,
        "metrics": trained.metrics,
        "stats": {"n": len(df), "mse": trained.metrics.get("mse", 0.0)},
        "data_sha256": table_digest(df),
        "rows": len(df),
        "held_out_rows": 0 if held is None else len(held),
        "check": {"rows": {"columns": list(check.columns), "rows": check.to_numpy().tolist()},
                  "predictions": trained.predict(check)},
    }


def _predict_check(model, check: dict, version: int) -> list:
    """The loaded model's predictions on the check rows, which must be the
    trainer's within REL_TOL (VerificationFailed otherwise)."""
    import pandas as pd

    # Go's JSON writes 2.0 as 2: back to the float64 columns of the signature.
    rows = pd.DataFrame(check["rows"]["rows"], columns=check["rows"]["columns"], dtype="float64")
    got = [float(v) for v in list(model.predict(rows))]
    exp = check["predictions"]
    if len(got) != len(exp) or any(not math.isclose(g, e, rel_tol=REL_TOL, abs_tol=0.0) and g != e
                                    for g, e in zip(got, exp)):
        raise fail(VERIFICATION_FAILED, f"version {version} predicts {got} on the check rows, the trained model {exp}")
    return got


def staged_dir(path: str, work_dir: str, wf_id: str) -> str:
    """The real path of a directory the Go worker staged for this workflow
    (StagePythonVerify). Only a directory of this workflow in the shared
    work directory: the path comes through Temporal, and nothing else is
    ours to load."""
    root = os.path.realpath(os.path.join(work_dir, sanitize(wf_id)))
    real = os.path.realpath(path)
    if real == root or os.path.commonpath([root, real]) != root:
        raise fail(INVALID_PATH, f"staged directory {path} is not inside this workflow's work directory {root}")
    if not os.path.isdir(real):
        raise fail(NOT_FOUND, f"staged directory {path} does not exist here (both workers must share the work directory)")
    return real


def verify_staged(inp: dict, work_dir: str, wf_id: str) -> dict:
    """VerifyPython on the embedded store: the Go worker downloaded the exact
    version into this workflow's directory of the shared work directory
    (StagePythonVerify, checked against the hash recorded on the version);
    check it again here, load it and compare predictions. The Go worker sets
    the verified tag (RecordPythonVerified): this worker cannot reach the
    embedded store."""
    import mlflow

    name, version = inp["model_name"], int(inp["version"])
    want = inp.get("manifest_sha256", "")
    if not want:
        raise fail(INVALID_ARGUMENT, f"version {version}: no manifest hash to check the staged directory against")
    real = staged_dir(inp["dir"], work_dir, wf_id)
    sha = check_manifest(real, want)
    got = _predict_check(mlflow.pyfunc.load_model(real), inp["check"], version)
    return {"manifest_sha256": sha, "predictions": got, "model_uri": f"models:/{name}/{version}", "dir": inp["dir"]}


def mlflow_client():
    """An MlflowClient of the configured server. Without one Python MLflow
    would quietly read a local ./mlruns and answer "not found" for ever;
    the Go worker stages versions when its store is not a server, so being
    asked to read one here without a server is a configuration error."""
    from mlflow import MlflowClient

    if not os.environ.get("MLFLOW_TRACKING_URI"):
        raise fail(INVALID_CONFIG, "asked to read the MLflow registry, but this Python worker has no tracking URI "
                                   "(start it with --tracking-uri or MLFLOW_TRACKING_URI, the Go worker's MLflow server)")
    return MlflowClient()


def verify_sync(inp: dict, work_dir: str = "", wf_id: str = "") -> dict:
    if inp.get("dir"):
        return verify_staged(inp, work_dir, wf_id)
    import mlflow

    name, version = inp["model_name"], int(inp["version"])
    want = inp.get("manifest_sha256", "")
    client = mlflow_client()
    mv = client.get_model_version(name, str(version))
    recorded = (mv.tags or {}).get(TAG_MANIFEST_SHA256, "")
    if want and recorded and recorded != want:
        raise fail(CHECKSUM_MISMATCH, f"version {version} records manifest {recorded}, the pipeline logged {want}")
    uri = f"models:/{name}/{version}"
    with tempfile.TemporaryDirectory(prefix="flavorflow-verify-") as tmp:
        local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=tmp)
        sha = check_manifest(local, want or recorded, downloaded=True)
        got = _predict_check(mlflow.pyfunc.load_model(local), inp["check"], version)
    client.set_model_version_tag(name, str(version), TAG_VERIFIED, "true")
    return {"manifest_sha256": sha, "predictions": got, "model_uri": uri}


# --- evaluation (EvaluatePython) -----------------------------------------
# Scores the challenger and the champion on the held-out rows for a
# pipeline with a promotion policy. Go records the evidence (metrics, tags)
# and decides, exactly as for its own flavors; this only predicts and
# scores, with the formulas of Go's policy.Score.

INVALID_MANIFEST = "InvalidManifest"


def score(predictions, targets) -> dict:
    """policy.Score: MSE, MAE and R² (1 for a perfect fit of constant
    targets, else 0 when they are constant)."""
    n = len(targets)
    if n == 0 or len(predictions) != n:
        raise fail(INVALID_TRAINING_DATA, f"cannot score {len(predictions)} predictions against {n} targets")
    mean = sum(y / n for y in targets)
    se = ae = tot = 0.0
    for p, y in zip(predictions, targets):
        d = p - y
        se += d * d
        ae += abs(d)
        tot += (y - mean) * (y - mean)
    r2 = 1 - se / tot if tot > 0 else (1.0 if se == 0 else 0.0)
    out = {"n": n, "mse": se / n, "mae": ae / n, "r2": r2}
    if not all(math.isfinite(out[k]) for k in ("mse", "mae", "r2")):
        raise fail(INVALID_TRAINING_DATA, f"scores overflow float64 (MSE {out['mse']}): the held-out data or predictions are too large")
    return out


def load_version(client, name: str, version: int, want: str, dst: str):
    """Downloads models:/name/version into dst, checks its files against
    the manifest and the manifest against the hash recorded on the version
    (and want, the hash the pipeline logged, when given), and pyfunc-loads
    it. A version without a recorded hash is InvalidManifest: nothing is
    scored that could not be checked."""
    import mlflow

    mv = client.get_model_version(name, str(version))
    recorded = (mv.tags or {}).get(TAG_MANIFEST_SHA256, "")
    if not recorded:
        raise fail(INVALID_MANIFEST, f"version {version} of {name} records no manifest hash ({TAG_MANIFEST_SHA256}) to check its bytes against; "
                                     f"run `starter verify --model {name} --version {version}` first")
    if want and recorded != want:
        raise fail(CHECKSUM_MISMATCH, f"version {version} carries manifest hash {recorded!r}, the pipeline logged {want!r}")
    local = mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{version}", dst_path=dst)
    check_manifest(local, recorded, downloaded=True)
    size = 0
    for dp, _, fns in os.walk(local):
        size += sum(os.path.getsize(os.path.join(dp, f)) for f in fns)
    return mlflow.pyfunc.load_model(local), size


def predict_rows(model, held, name: str, version: int) -> list:
    """The model's predictions on the held-out rows' feature columns (those
    of its signature when it has one)."""
    features = held.drop(columns=[TARGET_COLUMN])
    schema = model.metadata.get_input_schema()
    if schema is not None and schema.has_input_names():
        need = schema.input_names()
        missing = [c for c in need if c not in features.columns]
        if missing:
            raise fail(INVALID_TRAINING_DATA, f"version {version} of {name} reads columns {need}, which the held-out rows lack ({missing})")
        features = features[need]
    return [float(v) for v in list(model.predict(features))]


def load_staged(path: str, want: str, work_dir: str, wf_id: str):
    """load_version for a version the Go worker staged (the embedded store):
    the directory's files against the manifest, the manifest against want."""
    import mlflow

    real = staged_dir(path, work_dir, wf_id)
    check_manifest(real, want)
    size = 0
    for dp, _, fns in os.walk(real):
        size += sum(os.path.getsize(os.path.join(dp, f)) for f in fns)
    return mlflow.pyfunc.load_model(real), size


def evaluate_sync(inp: dict, client=None, work_dir: str = "", wf_id: str = "") -> dict:
    """EvaluatePython: the held-out rows (split_table, as TrainPython split
    them), the challenger's and the champion's scores on them, the rows'
    digest (table_digest) and, for a window, its end."""
    name = inp["model_name"]
    challenger, champion = int(inp["challenger"]), int(inp.get("champion") or 0)
    if challenger < 1 or champion < 0:
        raise fail(INVALID_ARGUMENT, f"challenger {challenger}, champion {champion}: versions start at 1 (champion 0: none)")
    train, held, window_end = split_table(inp.get("data") or {}, inp.get("holdout"), inp.get("cutoff"))
    if held is None:
        raise fail(INVALID_ARGUMENT, "no held-out data to evaluate on (give evaluation data, a fraction or a window)")
    want_train = inp.get("train_data_sha256") or ""
    if want_train and table_digest(train) != want_train:
        raise fail(INVALID_TRAINING_DATA, f"the training data changed since the challenger was trained (its training rows hash to {want_train}, "
                                          f"now {table_digest(train)}): the held-out rows could include rows it was trained on; run the pipeline again")
    targets = [float(v) for v in held[TARGET_COLUMN]]
    staged = bool(inp.get("challenger_dir"))
    if staged and not inp.get("challenger_sha256"):
        raise fail(INVALID_ARGUMENT, f"version {challenger}: no manifest hash to check the staged directory against")
    if staged and champion and champion != challenger and not (inp.get("champion_dir") and inp.get("champion_sha256")):
        raise fail(INVALID_ARGUMENT, f"the challenger is staged but champion version {champion} is not: both are loaded the same way")
    if not staged:
        client = client or mlflow_client()

    def load(version: int, want: str, at: str, dst: str):
        if staged:
            return load_staged(inp[at], want, work_dir, wf_id)
        return load_version(client, name, version, want, dst)

    out = {"held_out_data_sha256": table_digest(held), "held_out_rows": len(held), "bytes_read": 0}
    if window_end:
        out["window_end"] = window_end
    with tempfile.TemporaryDirectory(prefix="flavorflow-evaluate-") as tmp:
        model, size = load(challenger, inp.get("challenger_sha256", ""), "challenger_dir", os.path.join(tmp, "challenger"))
        out["bytes_read"] += size
        out["challenger_scores"] = score(predict_rows(model, held, name, challenger), targets)
        if champion:
            if champion == challenger:
                out["champion_scores"] = out["challenger_scores"]
            else:
                model, size = load(champion, inp.get("champion_sha256", ""), "champion_dir", os.path.join(tmp, "champion"))
                out["bytes_read"] += size
                out["champion_scores"] = score(predict_rows(model, held, name, champion), targets)
    return out


async def _run_and_exit() -> None:
    code = 1
    try:
        await main()
        code = 0
    except SystemExit as e:  # argparse
        code = e.code if isinstance(e.code, int) else 2
    except Exception:
        log.exception("python worker failed")
    _exit_now(code)


class Activities:
    def __init__(self, work_dir: str):
        self.work_dir = work_dir

    async def _heartbeating(self, fn, *args):
        """Runs fn in a thread and heartbeats until it returns, at a third of
        the heartbeat timeout: a killed worker is noticed, a slow fit is not
        taken for a dead one."""
        hb = activity.info().heartbeat_timeout or timedelta(seconds=30)
        every = max(hb.total_seconds() / 3, 0.2)
        task = asyncio.ensure_future(asyncio.to_thread(fn, *args))
        while True:
            activity.heartbeat()
            done, _ = await asyncio.wait({task}, timeout=every)
            if done:
                return task.result()

    @activity.defn(name="TrainPython")
    async def train_python(self, inp: dict) -> dict:
        wf_id = activity.info().workflow_id
        out = await self._heartbeating(train_sync, inp, self.work_dir, wf_id)
        log.info("trained %s for %s: %s", inp.get("trainer"), wf_id, out["metrics"])
        return out

    @activity.defn(name="EvaluatePython")
    async def evaluate_python(self, inp: dict) -> dict:
        out = await self._heartbeating(evaluate_sync, inp, None, self.work_dir, activity.info().workflow_id)
        log.info("evaluated %s version %s against %s", inp.get("model_name"), inp.get("challenger"), inp.get("champion"))
        return out

    @activity.defn(name="VerifyPython")
    async def verify_python(self, inp: dict) -> dict:
        out = await self._heartbeating(verify_sync, inp, self.work_dir, activity.info().workflow_id)
        log.info("verified %s version %s", inp.get("model_name"), inp.get("version"))
        return out


async def main(argv=None) -> None:
    from temporalio.client import Client
    from temporalio.worker import Worker

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--address", default=os.environ.get("TEMPORAL_ADDRESS", "localhost:7233"))
    p.add_argument("--namespace", default=os.environ.get("TEMPORAL_NAMESPACE", "default"))
    p.add_argument("--task-queue", required=True, help="the Go worker's queue plus -python")
    p.add_argument("--work-dir", required=True, help="the Go worker's work directory (shared)")
    p.add_argument("--tracking-uri", default=os.environ.get("MLFLOW_TRACKING_URI", ""))
    p.add_argument("--graceful-timeout", type=float, default=30.0,
                   help="seconds a stopping worker lets running activities finish before cancelling them")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if args.tracking_uri:
        os.environ["MLFLOW_TRACKING_URI"] = args.tracking_uri
    os.makedirs(args.work_dir, exist_ok=True)
    client = await Client.connect(args.address, namespace=args.namespace)
    acts = Activities(os.path.abspath(args.work_dir))
    worker = Worker(client, task_queue=args.task_queue, activities=[acts.train_python, acts.verify_python, acts.evaluate_python],
                    graceful_shutdown_timeout=timedelta(seconds=args.graceful_timeout))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    run = asyncio.create_task(worker.run())
    log.info("python worker polling %s on %s", args.task_queue, args.address)
    print("READY", flush=True)
    await stop.wait()
    log.info("stopping: finishing running activities")
    await worker.shutdown()
    await run
    log.info("python worker stopped")


def _exit_now(code: int) -> None:
    """Exits without joining worker threads. An activity the graceful
    timeout cancelled may still run in its thread (a fit cannot be
    interrupted); its attempt is already handed back and retried elsewhere,
    and waiting for it (asyncio.run joins the default executor, the
    interpreter its threads) kept a stopped worker alive until the fit
    ended."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    try:
        asyncio.run(_run_and_exit())
    except KeyboardInterrupt:
        _exit_now(130)
