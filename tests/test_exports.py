"""Every folder in exports/ loads on the torch-free runtime and does its job: a known sentence's people and
place for NER exports, a two-sentence extract for summarisers; its export report records a tight parity."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import stage2.runtime as rt
from stage2.registry import EXPORT_CONFIG

EXPORTS = Path(__file__).resolve().parents[1] / "exports"
FOLDERS = sorted(p for p in EXPORTS.iterdir() if (p / EXPORT_CONFIG).is_file()) if EXPORTS.is_dir() else []
SENTENCE = "Angela Merkel met Emmanuel Macron in Paris."
ARTICLE = (
    "The European Central Bank raised its main interest rate on Thursday. The increase of a quarter point was "
    "expected by most economists. Inflation in the euro area fell to 2.9 percent in October. Markets in Frankfurt "
    "and Paris closed higher."
)


@pytest.mark.parametrize("folder", FOLDERS, ids=[p.name for p in FOLDERS])
def test_each_shipped_export_loads_and_works(folder):
    report = json.loads((folder / "export_report.json").read_text(encoding="utf-8"))
    assert report["parity"]["max_abs_diff"] <= 1e-3
    model = rt.load(folder)
    if isinstance(model, rt.NERRuntime):
        open_labels = model.config["open_labels"]
        labels = ["person", "location"] if open_labels else ["PER", "LOC"]
        found = {(e["text"], e["label"]) for e in model.predict(SENTENCE, labels=labels)}
        assert {("Angela Merkel", labels[0]), ("Paris", labels[1])} <= found, found
    else:
        result = model.summarize(ARTICLE, max_sentences=2)
        assert len(result["sentences"]) == 2 and all(s["text"] in ARTICLE for s in result["sentences"])
