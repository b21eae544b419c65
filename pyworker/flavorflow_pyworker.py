"""flavorflow's Python activity worker: training and verification in Python.

The Go worker orchestrates the model lifecycle (workflows.ModelLifecycle).
For a trainer that runs in Python (a name starting with "sklearn-" or "py-",
vocab.IsPythonTrainer) the workflow schedules two activities on this worker's
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
  check rows with the trainer's (relative tolerance 1e-9).

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


def encode_manifest(m: dict) -> bytes:
    """Go's json.MarshalIndent(m, "", "  ") plus a newline (flavor.encodeManifest).
    Go escapes <, > and & and keeps other non-ASCII as UTF-8."""
    text = json.dumps(m, indent=2, separators=(",", ": "), ensure_ascii=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return text.encode("utf-8") + b"\n"


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
        f = float(s)
    except ValueError:
        f = math.nan
    if not math.isfinite(f) or abs(f) > 1e12:
        raise fail(INVALID_TRAINING_DATA, f"timestamp {s!r} is neither RFC 3339 nor unix seconds")
    return round(f * 1_000_000)


def _number(v, n: int, col: str) -> float:
    if isinstance(v, bool) or v is None or not isinstance(v, (int, float, str)):
        raise fail(INVALID_TRAINING_DATA, f"record {n} column {col!r}: {json.dumps(v)} is not a number")
    try:
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
        lines = (ln for ln in text.splitlines(keepends=True) if not ln.startswith("#"))
        reader = csv.reader(lines, skipinitialspace=True, strict=True)
        try:
            rows = [r for r in reader if r]
        except csv.Error as e:
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


def read_table(data: dict, cutoff: str | None):
    """The training rows as a pandas DataFrame: a CSV with a header or JSON
    records (data["path"]), or inline pairs as columns x, y; rows observed
    after the cutoff (column "t") are left out and "t" dropped."""
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
    if TIME_COLUMN in df.columns:
        # rows.Table.Until: rows without a time are always kept.
        if cutoff and not cutoff.startswith("0001-01-01"):
            limit = time_us(cutoff)
            df = df[[t is None or t <= limit for t in df[TIME_COLUMN]]]
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
    return df


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
    h.update(json.dumps(list(df.columns), separators=(",", ":")).encode())
    for row in df.itertuples(index=False):
        h.update(struct.pack("<%dd" % len(row), *row))
    return h.hexdigest()


def train_sync(inp: dict, work_dir: str, wf_id: str) -> dict:
    name = inp.get("trainer", "")
    trainer = TRAINERS.get(name)
    if trainer is None:
        raise fail(UNKNOWN_TRAINER, f"trainer {name!r} is not registered in the Python worker; it has {sorted(TRAINERS)}")
    df = read_table(inp.get("data") or {}, inp.get("cutoff"))
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
        "check": {"rows": {"columns": list(check.columns), "rows": check.to_numpy().tolist()},
                  "predictions": trained.predict(check)},
    }


def verify_sync(inp: dict) -> dict:
    import mlflow
    import pandas as pd
    from mlflow import MlflowClient

    name, version = inp["model_name"], int(inp["version"])
    want = inp.get("manifest_sha256", "")
    client = MlflowClient()
    mv = client.get_model_version(name, str(version))
    recorded = (mv.tags or {}).get(TAG_MANIFEST_SHA256, "")
    if want and recorded and recorded != want:
        raise fail(CHECKSUM_MISMATCH, f"version {version} records manifest {recorded}, the pipeline logged {want}")
    uri = f"models:/{name}/{version}"
    with tempfile.TemporaryDirectory(prefix="flavorflow-verify-") as tmp:
        local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=tmp)
        sha = check_manifest(local, want or recorded, downloaded=True)
        model = mlflow.pyfunc.load_model(local)
        check = inp["check"]
        # Go's JSON writes 2.0 as 2: back to the float64 columns of the signature.
        rows = pd.DataFrame(check["rows"]["rows"], columns=check["rows"]["columns"], dtype="float64")
        got = [float(v) for v in list(model.predict(rows))]
    exp = check["predictions"]
    if len(got) != len(exp) or any(not math.isclose(g, e, rel_tol=REL_TOL, abs_tol=0.0) and g != e
                                    for g, e in zip(got, exp)):
        raise fail(VERIFICATION_FAILED, f"version {version} predicts {got} on the check rows, the trained model {exp}")
    client.set_model_version_tag(name, str(version), TAG_VERIFIED, "true")
    return {"manifest_sha256": sha, "predictions": got, "model_uri": uri}


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

    @activity.defn(name="VerifyPython")
    async def verify_python(self, inp: dict) -> dict:
        out = await self._heartbeating(verify_sync, inp)
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
    worker = Worker(client, task_queue=args.task_queue, activities=[acts.train_python, acts.verify_python],
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
