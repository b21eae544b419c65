"""Fixtures for flavorflow's cross-language tests: Go writes, Python's MLflow
reads (and the other way round).

Run from the repository root with the project venv:

    .venv/bin/python -m pytest tests/python

Go commands under tests/cmd are built once per session with the Go toolchain
on PATH; a real `mlflow server` (the venv's) is started on a free loopback
port for the tests that need one.
"""

import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
VENV_BIN = pathlib.Path(sys.executable).parent

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
# `mlflow models serve` execs `uvicorn` by name: the venv's bin must be on PATH
# even when pytest is run as .venv/bin/python without activating the venv.
os.environ["PATH"] = str(VENV_BIN) + os.pathsep + os.environ.get("PATH", "")
os.environ.setdefault("DO_NOT_TRACK", "true")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, proc, timeout=90.0):
    """Polls url until it answers 200, failing early if proc exits."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} came up")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError as e:  # connection refused while starting
            last = e
        time.sleep(0.3)
    raise TimeoutError(f"{url} did not come up in {timeout}s: {last}")


def stop(proc):
    """Stops a process started with start_new_session=True, and its children."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()


@pytest.fixture(scope="session")
def go_bin(tmp_path_factory):
    """Builds a Go command of this repository: go_bin("ffsave") -> path."""
    go = shutil.which("go")
    if go is None:
        pytest.skip("go toolchain not on PATH")
    out = tmp_path_factory.mktemp("gobin")
    built = {}

    def build(name):
        if name not in built:
            exe = out / name
            subprocess.run([go, "build", "-o", str(exe), f"./tests/cmd/{name}"], cwd=REPO, check=True)
            built[name] = exe
        return built[name]

    return build


@pytest.fixture
def ffsave(go_bin, tmp_path):
    """Saves FakeModel(offset) with the Go flavor: ffsave(3) -> model dir."""
    exe = go_bin("ffsave")

    def save(offset, *extra):
        d = tmp_path / f"model-{offset}"
        subprocess.run([str(exe), "-dir", str(d), "-offset", str(offset), *extra], check=True, capture_output=True)
        return d

    return save


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    """A real `mlflow server` with proxied artifacts; yields its URL."""
    d = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(d / "server.log", "wb")
    proc = subprocess.Popen(
        [
            str(VENV_BIN / "mlflow"), "server",
            "--backend-store-uri", f"sqlite:///{d / 'mlflow.db'}",
            "--artifacts-destination", str(d / "mlartifacts"),
            "--serve-artifacts", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        ],
        cwd=d, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        wait_http(url + "/health", proc, timeout=120)
        yield url
    finally:
        stop(proc)
        log.close()
