"""--labels parsing and the other options the commands share."""

from __future__ import annotations

import json

import pytest

from stage2.cli import parse_labels
from stage2.labels import Label, LabelSet


def test_parse_labels_forms(tmp_path):
    assert parse_labels(None) is None
    assert parse_labels("person, city ,") == LabelSet.from_user(["person", "city"])
    assert parse_labels('["person", "city"]') == LabelSet.from_user(["person", "city"])
    assert parse_labels('{"person": "a human being"}') == LabelSet.from_user({"person": "a human being"})
    nested = parse_labels('{"PER": {"name": "person", "description": "a human"}, "LOC": "a place"}')
    assert nested == LabelSet([Label("PER", "person", "a human"), Label("LOC", "LOC", "a place")])
    path = tmp_path / "labels.json"
    path.write_text('{"person": "a human being", "city": ""}', encoding="utf-8")
    assert parse_labels(str(path)).keys == ["person", "city"]


def test_parse_labels_long_json_string():
    descriptions = {f"type{i}": "a fairly long description of what this entity type covers" for i in range(8)}
    value = json.dumps(descriptions)
    assert len(value) > 255  # longer than a file name may be
    assert parse_labels(value) == LabelSet.from_user(descriptions)


def test_parse_labels_bad_json(tmp_path):
    with pytest.raises(ValueError, match="not valid JSON"):
        parse_labels('{"person": ')
    path = tmp_path / "labels.json"
    path.write_text("{oops", encoding="utf-8")
    with pytest.raises(ValueError, match=r"labels\.json: not valid JSON"):
        parse_labels(str(path))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("5", "expected a list of names"),
        ('"person"', "expected a list of names"),
        ('{"person": 5}', "label 'person': expected a description"),
        ("[1, 2]", "label 1 is not a string"),
        ("[]", "expected a list of names"),
        ('{"person": "a", "person": "b"}', r"duplicated key\(s\) \['person'\]"),
        ('{"PER": {"name": 3}}', "expected string 'name'"),
        ("[" * 100_000, "nested too deeply"),
    ],
)
def test_parse_labels_bad_files_name_the_file(tmp_path, content, message):
    """Wrong JSON shapes in a --labels file exit with a message naming the file, never a traceback."""
    path = tmp_path / "labels.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=message) as err:
        parse_labels(str(path))
    assert "labels.json" in str(err.value)


def test_parse_labels_missing_file_or_folder(tmp_path):
    with pytest.raises(ValueError, match="file not found"):
        parse_labels(str(tmp_path / "missing.json"))
    with pytest.raises(ValueError, match="is a folder"):
        parse_labels(str(tmp_path))
    with pytest.raises(ValueError, match="no label names"):
        parse_labels(" , ,")


@pytest.mark.parametrize(("load", "expected"), [(0.0, 2), (0.9, 2), (1.2, 1), (6.0, 1)])
def test_training_threads_default_to_the_free_cores(monkeypatch, load, expected):
    """Issue 24: with default torch threads on a busy 2-core machine a few-shot step took 4.4-9.6 s (0.9 s
    with one thread)."""
    import os

    from stage2.cli.common import free_cores

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(os, "getloadavg", lambda: (load, 0.0, 0.0), raising=False)
    assert free_cores() == expected
