"""Differential test of the Go MLmodel writer against PyYAML: random
documents full of strings that need quoting, folding or escaping must come
out of MLmodel.Marshal (tests/cmd/ffmlmodel) exactly as
mlflow.models.Model.to_yaml writes them."""

import json
import random
import subprocess

import pytest
import yaml
from mlflow.models import Model

ALPHABET = [" ", " ", "a", "b", "z", ":", "#", "-", "'", '"', "\n", "\u00e9", "1", "0", ".", "e", "E",
            "\t", "?", ",", "[", "]", "{", "}", "!", "&", "*", "~", "_", "+", "%", "@", "`", "|", ">",
            "\\", "=", "<", "y", "n", "o", "x", "T", "\u2028", "\U0001F600", "\x85", "\x07"]
WORDS = ["yes", "no", "null", "true", "1.0", "3.11", "2025-11-06", "a:", "#c", "x", "longerword", "e5",
         "0x1F", "~", "-", "'q'", "", "12:30", ".inf", "1_0"]


def random_string(rng):
    kind = rng.random()
    if kind < 0.4:
        return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 8)))
    if kind < 0.7:
        return " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 4)))
    # Long enough to fold at column 80, with the odd special character.
    words = []
    for _ in range(rng.randint(8, 40)):
        w = rng.choice(WORDS + ["word"] * 10)
        if rng.random() < 0.1:
            w += rng.choice(ALPHABET)
        words.append(w)
    return (" " * rng.randint(1, 2)).join(words)


def random_value(rng, depth=0):
    r = rng.random()
    if depth < 3 and r < 0.12:
        return {random_string(rng)[:20] or "k": random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))}
    if depth < 3 and r < 0.24:
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if r < 0.3:
        return rng.choice([rng.randint(-10**6, 10**6), rng.uniform(-1e6, 1e6), 10.0 ** rng.randint(-8, 20),
                           True, False, None])
    return random_string(rng)


@pytest.mark.parametrize("seed", range(40))
def test_go_writer_matches_pyyaml(go_bin, seed):
    rng = random.Random(seed)
    doc = {
        "flavors": {"f": {random_string(rng)[:30] or "k": random_value(rng) for _ in range(6)}},
        "metadata": {f"k{i}": random_value(rng) for i in range(10)},
        "model_uuid": "u",
        "mlflow_version": "3.17.2",
        "utc_time_created": "2026-11-25 12:00:00.000001",
    }
    want = Model(**doc).to_yaml()
    got = subprocess.run([str(go_bin("ffmlmodel"))], input=json.dumps(doc), capture_output=True, text=True, check=True).stdout
    assert got == want


@pytest.mark.parametrize("seed", range(40))
def test_go_parser_resolves_like_pyyaml(go_bin, seed):
    """Go parses what PyYAML wrote, in block and in flow style, and writes
    it back exactly as PyYAML would: every scalar kept its type."""
    rng = random.Random(1000 + seed)
    doc = {
        "flavors": {"f": {random_string(rng)[:30] or "k": random_value(rng) for _ in range(6)}},
        "metadata": {f"k{i}": random_value(rng) for i in range(10)},
        "model_uuid": "u",
        "mlflow_version": "3.17.2",
        "utc_time_created": "2026-11-25 12:00:00.000001",
    }
    model = Model(**doc)
    want = model.to_yaml()
    for text in (want, yaml.safe_dump(model.to_dict(), default_flow_style=True, width=60)):
        got = subprocess.run([str(go_bin("ffmlmodel")), "-parse"], input=text, capture_output=True, text=True,
                             check=True).stdout
        assert got == want
