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
