"""stage2.export.sample: an export's score on a fixed sample, recorded atomically in its report."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

from stage2.export.sample import record_sample, sample_labels, sample_score, sample_settings

SHIPPED = Path(__file__).resolve().parents[2] / "exports" / "ner-fast"
ROWS = [
    {"tokens": ["Angela", "Merkel", "met", "Macron", "."], "tags": ["B-PER", "I-PER", "O", "B-PER", "O"]},
    {"tokens": ["She", "flew", "to", "Paris", "."], "tags": ["O", "O", "O", "B-LOC", "O"]},
]


@pytest.fixture
def data(tmp_path, monkeypatch):
    """A two-sentence ``conll2003`` dev split in a data folder of its own."""
    folder = tmp_path / "data" / "conll2003"
    folder.mkdir(parents=True)
    with gzip.open(folder / "dev.jsonl.gz", "wt", encoding="utf-8") as f:
        f.write("\n".join(json.dumps(r) for r in ROWS) + "\n")
    monkeypatch.setenv("STAGE2_DATA", str(tmp_path / "data"))


def test_settings_are_checked_and_labels_read():
    sample = {"data": "conll2003", "split": "dev", "first": 2, "labels": "own", "score": 1.0, "date": "x"}
    assert sample_settings(sample) == {"data": "conll2003", "split": "dev", "first": 2, "labels": "own"}
    assert sample_labels(sample) is None
    assert sample_labels({"labels": [{"key": "PER", "name": "person"}]}).keys == ["PER"]
    with pytest.raises(ValueError, match="'first'"):
        sample_settings({"data": "conll2003", "split": "dev", "first": 0})
    with pytest.raises(ValueError, match="'split'"):
        sample_settings({"data": "conll2003", "first": 2})


@pytest.mark.skipif(not SHIPPED.is_dir(), reason="exports/ner-fast is not in this checkout")
def test_record_adds_the_sample_and_changes_nothing_else(tmp_path, data):
    import stage2.runtime as rt

    export = tmp_path / "ner-fast"
    shutil.copytree(SHIPPED, export)
    before = json.loads((export / "export_report.json").read_text(encoding="utf-8"))
    before.pop("sample", None)
    recorded = record_sample(export, {"data": "conll2003", "split": "dev", "first": 2}, "python x.py", threads=1)
    after = json.loads((export / "export_report.json").read_text(encoding="utf-8"))
    assert after.pop("sample") == recorded and after == before
    assert recorded["metric"] == "entity F1" and {"git_commit", "command", "date"} <= set(recorded)
    assert sample_score(rt.load(export, threads=1), recorded) == recorded["score"]
    assert [p.name for p in export.iterdir() if p.name.startswith(".")] == []  # no temporary file left
    with pytest.raises(ValueError, match="2 examples, the sample asks for 3"):
        sample_score(rt.load(export, threads=1), {"data": "conll2003", "split": "dev", "first": 3})
