"""Units of the Python worker: trainers, manifest, errors (no server)."""

import hashlib
import json
import os
import subprocess
import sys

import pytest
from temporalio.exceptions import ApplicationError

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import flavorflow_pyworker as pw  # noqa: E402


def write_csv(tmp_path, text, name="rows.csv"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


ROWS = "a,b,y\n1,2,5\n2,1,4\n3,3,9\n4,0,4\n0,5,10\n"  # y = a + 2b


def test_train_saves_sklearn_model_with_manifest(tmp_path):
    data = write_csv(tmp_path, ROWS)
    out = pw.train_sync({"trainer": "sklearn-linear", "data": {"path": data}}, str(tmp_path / "work"), "wf-1")
    d = out["dir"]["uri"].removeprefix("file://")
    assert d == str(tmp_path / "work" / "wf-1" / pw.MODEL_DIR)
    assert os.path.exists(os.path.join(d, "MLmodel"))
    assert "sklearn" in open(os.path.join(d, "MLmodel")).read()
    assert pw.check_manifest(d, out["dir"]["sha256"]) == out["dir"]["sha256"]
    assert out["flavor"] == "sklearn" and out["stats"]["n"] == 5
    assert out["check"]["rows"]["columns"] == ["a", "b"]
    for row, pred in zip(out["check"]["rows"]["rows"], out["check"]["predictions"]):
        assert pred == pytest.approx(row[0] + 2 * row[1])
    # A retry of the same workflow keeps the saved files (same manifest).
    again = pw.train_sync({"trainer": "sklearn-linear", "data": {"path": data}}, str(tmp_path / "work"), "wf-1")
    assert again["dir"]["sha256"] == out["dir"]["sha256"]


def test_unknown_trainer_is_non_retryable(tmp_path):
    with pytest.raises(ApplicationError) as e:
        pw.train_sync({"trainer": "sklearn-nope", "data": {"path": "x"}}, str(tmp_path), "wf")
    assert e.value.type == "UnknownTrainer" and e.value.non_retryable


@pytest.mark.parametrize("text", ["a,b\n1,2\n", "a,y\n", "a,y\n1,x\n", "a,y\n1,nan\n"])
def test_bad_training_data_is_invalid_training_data(tmp_path, text):
    data = write_csv(tmp_path, text)
    with pytest.raises(ApplicationError) as e:
        pw.train_sync({"trainer": "sklearn-linear", "data": {"path": data}}, str(tmp_path / "w"), "wf")
    assert e.value.type == "InvalidTrainingData" and e.value.non_retryable


def test_cutoff_drops_later_rows(tmp_path):
    data = write_csv(tmp_path, "t,a,y\n2026-01-01T00:00:00Z,1,2\n2026-01-02T00:00:00Z,2,4\n2026-02-01T00:00:00Z,3,100\n")
    df = pw.read_table({"path": data}, "2026-01-15T00:00:00Z")
    assert list(df.columns) == ["a", "y"] and len(df) == 2


def test_corrupt_file_is_checksum_mismatch(tmp_path):
    data = write_csv(tmp_path, ROWS)
    out = pw.train_sync({"trainer": "sklearn-linear", "data": {"path": data}}, str(tmp_path / "work"), "wf-2")
    d = out["dir"]["uri"].removeprefix("file://")
    with open(os.path.join(d, "MLmodel"), "a") as f:
        f.write("# changed\n")
    with pytest.raises(ApplicationError) as e:
        pw.check_manifest(d, out["dir"]["sha256"])
    assert e.value.type == "ChecksumMismatch"


def test_sanitize_matches_go():
    assert pw.sanitize("lifecycle-prices-abc") == "lifecycle-prices-abc"
    s = pw.sanitize("a/b")
    assert s == "a_b-" + hashlib.sha256(b"a/b").hexdigest()[:16]


def test_manifest_encoding_is_gos():
    # Go: json.MarshalIndent(Manifest{Version: 1, Files: ...}, "", "  ") + "\n"
    m = {"version": 1, "files": [{"path": "a<b", "size": 3, "sha256": "0" * 64}]}
    want = ('{\n  "version": 1,\n  "files": [\n    {\n      "path": "a\\u003cb",\n'
            '      "size": 3,\n      "sha256": "' + "0" * 64 + '"\n    }\n  ]\n}\n')
    assert pw.encode_manifest(m).decode() == want
    assert pw.encode_manifest({"version": 1, "files": []}) == b'{\n  "version": 1,\n  "files": []\n}\n'


def test_registered_model_meta_is_allowed_in_a_download_only(tmp_path):
    data = write_csv(tmp_path, ROWS)
    out = pw.train_sync({"trainer": "sklearn-linear", "data": {"path": data}}, str(tmp_path / "work"), "wf-3")
    d = out["dir"]["uri"].removeprefix("file://")
    with open(os.path.join(d, "registered_model_meta"), "w") as f:
        f.write("model_name: m\nmodel_version: 1\n")
    assert pw.check_manifest(d, out["dir"]["sha256"], downloaded=True) == out["dir"]["sha256"]
    with pytest.raises(ApplicationError) as e:
        pw.check_manifest(d, out["dir"]["sha256"])
    assert e.value.type == "ChecksumMismatch"
    with open(os.path.join(d, "extra.py"), "w") as f:
        f.write("x = 1\n")
    with pytest.raises(ApplicationError):
        pw.check_manifest(d, out["dir"]["sha256"], downloaded=True)


def staged_version(tmp_path, wf_id):
    """A trained model copied where StagePythonVerify puts version 1, and the
    VerifyPython input for it."""
    import shutil

    data = write_csv(tmp_path, ROWS)
    work = str(tmp_path / "work")
    out = pw.train_sync({"trainer": "sklearn-linear", "data": {"path": data}}, work, wf_id)
    staged = os.path.join(work, pw.sanitize(wf_id), "python-verify-v1")
    shutil.copytree(out["dir"]["uri"].removeprefix("file://"), staged)
    inp = {"model_name": "m", "version": 1, "manifest_sha256": out["dir"]["sha256"], "check": out["check"], "dir": staged}
    return work, staged, inp


def test_verify_staged_directory_without_a_store(tmp_path):
    work, staged, inp = staged_version(tmp_path, "wf-s")
    got = pw.verify_sync(inp, work, "wf-s")
    assert got["dir"] == staged and got["manifest_sha256"] == inp["manifest_sha256"]
    assert got["predictions"] == pytest.approx(inp["check"]["predictions"], rel=1e-9)
    assert got["model_uri"] == "models:/m/1"


def test_verify_staged_refuses_a_directory_of_another_workflow(tmp_path):
    work, staged, inp = staged_version(tmp_path, "wf-s")
    with pytest.raises(ApplicationError) as e:
        pw.verify_sync(inp, work, "wf-other")
    assert e.value.type == "InvalidPath" and e.value.non_retryable
    with pytest.raises(ApplicationError) as e:
        pw.verify_sync({**inp, "dir": os.path.join(work, "wf-s", "absent")}, work, "wf-s")
    assert e.value.type == "NotFound" and e.value.non_retryable


def test_verify_staged_corrupt_or_wrong_is_refused(tmp_path):
    work, staged, inp = staged_version(tmp_path, "wf-s")
    bad = dict(inp, check={**inp["check"], "predictions": [p + 1 for p in inp["check"]["predictions"]]})
    with pytest.raises(ApplicationError) as e:
        pw.verify_sync(bad, work, "wf-s")
    assert e.value.type == "VerificationFailed"
    weights = next(n for n in os.listdir(staged) if n.startswith("model."))  # model.skops in MLflow 3.17
    with open(os.path.join(staged, weights), "r+b") as f:
        b = f.read()
        f.seek(len(b) // 2)
        f.write(bytes([b[len(b) // 2] ^ 1]))
    with pytest.raises(ApplicationError) as e:
        pw.verify_sync(inp, work, "wf-s")
    assert e.value.type == "ChecksumMismatch" and e.value.non_retryable


# --- held-out rows and EvaluatePython -------------------------------------


def test_held_out_rule_is_gos():
    # rows/split_test.go pins the same rows for Go's rows.HeldOutByFraction.
    assert [i for i in range(20) if pw.held_out_by_fraction(i, 0.3, 7)] == [4, 13, 18, 19]
    # Negative seeds are two's complement, as Go's uint64(seed).
    assert [i for i in range(20) if pw.held_out_by_fraction(i, 0.5, -3)] == \
        [i for i in range(20) if pw.held_out_by_fraction(i, 0.5, (1 << 64) - 3)]


def plane(n, offset=0.0, t0=None):
    head = ("t," if t0 is not None else "") + "a,b,y\n"
    lines = []
    for i in range(n):
        a, b = i, (i * 5) % 7
        t = f"2026-03-01T{i:02d}:00:00Z," if t0 is not None else ""
        lines.append(f"{t}{a},{b},{1 + 2 * a - 3 * b + offset}")
    return head + "\n".join(lines) + "\n"


def test_train_keeps_held_out_rows_out(tmp_path):
    data = write_csv(tmp_path, plane(20))
    out = pw.train_sync({"trainer": "sklearn-linear", "data": {"path": data}, "holdout": {"fraction": 0.3, "seed": 7}},
                        str(tmp_path / "work"), "wf-h")
    assert out["stats"]["n"] == 16 and out["held_out_rows"] == 4
    train, held, end = pw.split_table({"path": data}, {"fraction": 0.3, "seed": 7}, None)
    assert list(held["a"]) == [4.0, 13.0, 18.0, 19.0] and end is None
    assert out["data_sha256"] == pw.table_digest(train)


def test_window_split(tmp_path):
    data = write_csv(tmp_path, plane(10, t0=True))
    window = 3 * 3600 * 10**9  # Go's time.Duration of 3h, in nanoseconds
    train, held, end = pw.split_table({"path": data}, {"window": window}, None)
    assert list(held["a"]) == [7.0, 8.0, 9.0] and len(train) == 7 and end == "2026-03-01T09:00:00Z"
    train, held, end = pw.split_table({"path": data}, {"window": window}, "2026-03-01T05:00:00Z")
    assert list(held["a"]) == [3.0, 4.0, 5.0] and list(train["a"]) == [0.0, 1.0, 2.0] and end == "2026-03-01T05:00:00Z"
    with pytest.raises(ApplicationError) as e:
        pw.split_table({"path": data}, {"window": window * 10}, None)
    assert e.value.type == "InvalidTrainingData"


class _Version:
    def __init__(self, tags):
        self.tags = tags


class _Registry:
    """The two calls evaluate_sync makes of MlflowClient, over directories
    TrainPython saved: versions by number, their tags, their files."""

    def __init__(self):
        self.dirs, self.tags = {}, {}

    def add(self, version, out):
        self.dirs[version] = out["dir"]["uri"].removeprefix("file://")
        self.tags[version] = {pw.TAG_MANIFEST_SHA256: out["dir"]["sha256"]}

    def get_model_version(self, name, version):
        return _Version(self.tags[int(version)])


def test_evaluate_scores_challenger_and_champion(tmp_path, monkeypatch):
    import shutil

    import mlflow

    reg = _Registry()

    def download(artifact_uri, dst_path):
        version = int(artifact_uri.rsplit("/", 1)[1])
        shutil.copytree(reg.dirs[version], dst_path)
        return dst_path

    monkeypatch.setattr(mlflow.artifacts, "download_artifacts", download)
    h = {"fraction": 0.3, "seed": 7}
    champ = pw.train_sync({"trainer": "sklearn-linear", "data": {"path": write_csv(tmp_path, plane(20, 5), "c.csv")}},
                          str(tmp_path / "w"), "wf-champ")
    data = write_csv(tmp_path, plane(20), "d.csv")
    chall = pw.train_sync({"trainer": "sklearn-linear", "data": {"path": data}, "holdout": h}, str(tmp_path / "w"), "wf-chall")
    reg.add(1, champ)
    reg.add(2, chall)
    inp = {"model_name": "m", "challenger": 2, "challenger_sha256": chall["dir"]["sha256"], "champion": 1,
           "data": {"path": data}, "holdout": h, "train_data_sha256": chall["data_sha256"]}
    out = pw.evaluate_sync(inp, client=reg)
    assert out["held_out_rows"] == 4 and out["challenger_scores"]["n"] == 4
    assert out["challenger_scores"]["mse"] == pytest.approx(0, abs=1e-12)
    assert out["champion_scores"]["mse"] == pytest.approx(25)
    assert out["champion_scores"]["mae"] == pytest.approx(5)
    assert out["bytes_read"] > 0
    _, held, _ = pw.split_table({"path": data}, h, None)
    assert out["held_out_data_sha256"] == pw.table_digest(held)

    # The pipeline's hash must be the version's.
    with pytest.raises(ApplicationError) as e:
        pw.evaluate_sync({**inp, "challenger_sha256": champ["dir"]["sha256"]}, client=reg)
    assert e.value.type == "ChecksumMismatch" and e.value.non_retryable
    # A champion whose files changed after logging.
    with open(os.path.join(reg.dirs[1], "MLmodel"), "a") as f:
        f.write("# changed\n")
    with pytest.raises(ApplicationError) as e:
        pw.evaluate_sync(inp, client=reg)
    assert e.value.type == "ChecksumMismatch"
    # A champion without a recorded hash is not scored.
    reg.tags[1] = {}
    with pytest.raises(ApplicationError) as e:
        pw.evaluate_sync(inp, client=reg)
    assert e.value.type == "InvalidManifest"
    # Training data that changed since: refused.
    with open(data, "a") as f:
        f.write("20,2,40\n")
    with pytest.raises(ApplicationError) as e:
        pw.evaluate_sync(inp, client=reg)
    assert e.value.type == "InvalidTrainingData"


def test_score_is_gos_formula():
    assert pw.score([1, 2, 3], [1, 2, 3]) == {"n": 3, "mse": 0, "mae": 0, "r2": 1}
    s = pw.score([2, 2], [1, 3])
    assert s["mse"] == 1 and s["mae"] == 1 and s["r2"] == 0
    assert pw.score([3, 1], [1, 3])["r2"] == -3
    assert pw.score([1, 1], [2, 2])["r2"] == 0


def test_evaluate_scores_staged_versions_without_a_store(tmp_path):
    """The embedded store: the Go worker staged both versions in this
    workflow's directory; no MLflow registry is read."""
    import shutil

    h = {"fraction": 0.3, "seed": 7}
    work = str(tmp_path / "w")
    champ = pw.train_sync({"trainer": "sklearn-linear", "data": {"path": write_csv(tmp_path, plane(20, 5), "c.csv")}},
                          str(tmp_path / "other"), "wf-champ")
    data = write_csv(tmp_path, plane(20), "d.csv")
    chall = pw.train_sync({"trainer": "sklearn-linear", "data": {"path": data}, "holdout": h}, work, "wf-chall")
    dirs = {}
    for v, out in ((1, champ), (2, chall)):
        dirs[v] = os.path.join(work, pw.sanitize("wf-chall"), f"python-verify-v{v}")
        shutil.copytree(out["dir"]["uri"].removeprefix("file://"), dirs[v])
    inp = {"model_name": "m", "challenger": 2, "challenger_sha256": chall["dir"]["sha256"], "champion": 1,
           "champion_sha256": champ["dir"]["sha256"], "challenger_dir": dirs[2], "champion_dir": dirs[1],
           "data": {"path": data}, "holdout": h, "train_data_sha256": chall["data_sha256"]}
    out = pw.evaluate_sync(inp, None, work, "wf-chall")
    assert out["challenger_scores"]["mse"] == pytest.approx(0, abs=1e-12)
    assert out["champion_scores"]["mse"] == pytest.approx(25)
    # A staged champion whose bytes changed is not scored.
    with open(os.path.join(dirs[1], "MLmodel"), "a") as f:
        f.write("# changed\n")
    with pytest.raises(ApplicationError) as e:
        pw.evaluate_sync(inp, None, work, "wf-chall")
    assert e.value.type == "ChecksumMismatch" and e.value.non_retryable
    # Another workflow's directory is not loaded.
    with pytest.raises(ApplicationError) as e:
        pw.evaluate_sync(inp, None, work, "wf-other")
    assert e.value.type == "InvalidPath"


def test_reading_the_registry_without_a_tracking_uri_is_invalid_config(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with pytest.raises(ApplicationError) as e:
        pw.verify_sync({"model_name": "m", "version": 1, "manifest_sha256": "x", "check": {}})
    assert e.value.type == "InvalidConfig" and e.value.non_retryable
    assert "tracking URI" in str(e.value)


# Bad training data for a Python trainer, refused by the worker itself (a
# schedule reads its file afresh on every run, after the starter checked it)
# with the reason Go's rows reader gives for the same file, before anything
# is saved.
@pytest.mark.parametrize("name,text,reason", [
    ("rows.csv", "1,2,3\n4,5,6\n", "needs a header line"),
    ("rows.csv", "", "training data is empty"),
    ("rows.csv", "# only a comment\n", "training data is empty"),
    ("rows.csv", "a,y\n", "a header and no rows"),
    ("rows.csv", "a,b\n1,2\n2,3\n", "no target column 'y'"),
    ("rows.csv", "a,y\n1,2\nx,3\n", "record 2 column 'a': 'x' is not a number"),
    ("rows.csv", "a,y\n1,2\n2,inf\n", "is not finite"),
    ("rows.csv", "a,y\n1,2\n\u0661\u0662,3\n", "record 2 column 'a': '\u0661\u0662' is not a number"),
    ("rows.csv", "t,a,y\n\u0661,1,2\n", "is neither RFC 3339 nor unix seconds"),
    ("rows.csv", "a,y\r1,2\r3,4\r", "a carriage return (\\r) without a line feed: save it with \\n or \\r\\n line ends"),
    ("rows.csv", "a,y\n1,2\r3,4\n", "a carriage return (\\r) without a line feed"),
    ("rows.csv", "a,y\r1,2\r3,4\r", "a carriage return (\\r) without a line feed: save it with \\n or \\r\\n line ends"),
    ("rows.csv", "a,y\n1,2\r3,4\n", "a carriage return (\\r) without a line feed"),
    ("rows.csv", "a,,y\n1,2,3\n2,3,4\n3,5,6\n", "column 2 has no name"),
    ("rows.csv", "a,a,y\n1,2,3\n2,3,4\n3,5,6\n", "column 'a' appears twice"),
    ("rows.csv", "a,y\n1,2,3\n2,4\n", "record 1 has 3 fields, the header 2"),
    ("rows.csv", "t,a,y\nyesterday,1,2\n", "timestamp 'yesterday' is neither RFC 3339 nor unix seconds"),
    ("rows.json", '[{"a":1,"y":2},{"a":2,"y":3},{"b":1,"y":2}]', "record 3 has keys ['b', 'y'], the first record ['a', 'y']"),
    ("rows.json", '[{"a":1,"y":2},{"a":null,"y":3}]', "record 2 column 'a': null is not a number"),
    ("rows.json", '[1, 2]', "record 1: not an object"),
    ("rows.json", '[{"a":1,"a":2,"y":3}]', "a key twice"),
    ("rows.json", "[]", "training data is empty"),
])
def test_bad_rows_are_refused_with_the_reason(tmp_path, name, text, reason):
    data = write_csv(tmp_path, text, name)
    work = tmp_path / "w"
    with pytest.raises(ApplicationError) as e:
        pw.train_sync({"trainer": "sklearn-linear", "data": {"path": data}}, str(work), "wf")
    assert e.value.type == "InvalidTrainingData" and e.value.non_retryable
    assert reason in str(e.value)
    assert not (work / "wf" / pw.MODEL_DIR).exists()


def test_rows_are_read_by_gos_rules(tmp_path):
    # Header fields are trimmed, '#' lines and blank lines skipped: the file
    # trains on columns a, b as a Go trainer would.
    data = write_csv(tmp_path, "# exported by a tool\n a , b ,y\n\n" + ROWS.split("\n", 1)[1])
    df = pw.read_table({"path": data}, None)
    assert list(df.columns) == ["a", "b", "y"] and len(df) == 5
    # Unix seconds are seconds (not pandas' nanoseconds): the cutoff keeps
    # the two rows at or before it, as rows.Table.Until does.
    data = write_csv(tmp_path, "t,a,y\n1767225600,1,2\n1767312000,2,4\n1769904000,3,100\n", "unix.csv")
    df = pw.read_table({"path": data}, "2026-01-15T00:00:00Z")
    assert list(df.columns) == ["a", "y"] and list(df["y"]) == [2.0, 4.0]
    data = write_csv(tmp_path, '[{"t":"2026-01-02T00:00:00Z","a":1,"y":2},{"t":1769904000,"a":3,"y":100}]', "t.json")
    df = pw.read_table({"path": data}, "2026-01-02T00:00:00Z")
    assert list(df["y"]) == [2.0]
    # Inline pairs without a time (Go omits the zero time) are always kept.
    df = pw.read_table({"pairs": [{"x": 1, "y": 2, "t": "2026-03-01T00:00:00Z"}, {"x": 2, "y": 3}]}, "2026-01-15T00:00:00Z")
    assert list(df["y"]) == [3.0]


def test_table_digest_matches_go():
    """activities.TestTableDigestVector computes the same digest in Go: the
    Python worker checks a Go challenger's training rows by it. The column
    names hold what Go's JSON escapes (<, >, &, U+2028) or keeps (é)."""
    import pandas as pd

    df = pd.DataFrame([[1.5, -2.0]], columns=["prix é<&>\u2028", "y"])
    assert pw.table_digest(df) == "cc23dcb6ee2da5a797c50d65f5ff231a146a1c3e85875e129b3973b061fc02c0"
