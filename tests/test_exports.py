"""Every folder in exports/ loads on the torch-free runtime and does its job: a known sentence's people and
place for NER exports, a two-sentence extract for summarisers; its export report records a tight parity,
and the score on a small fixed sample of real data that it records is the score the runtime gets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import stage2.runtime as rt
from stage2.export.sample import sample_file, sample_score
from stage2.registry import EXPORT_CONFIG

EXPORTS = Path(__file__).resolve().parents[1] / "exports"
FOLDERS = sorted(p for p in EXPORTS.iterdir() if (p / EXPORT_CONFIG).is_file()) if EXPORTS.is_dir() else []
SAMPLE_TOLERANCE = 0.01
"""How far a recomputed sample score may be from the recorded one (int8 may round differently on another CPU)."""
SENTENCE = "Angela Merkel met Emmanuel Macron in Paris."
DIALOGUE = "Amanda: I baked cookies. Do you want some?\nJerry: Sure!\nAmanda: I'll bring you some tomorrow :-)"
ARTICLE = (
    "The European Central Bank raised its main interest rate on Thursday. The increase of a quarter point was "
    "expected by most economists. Inflation in the euro area fell to 2.9 percent in October. Markets in Frankfurt "
    "and Paris closed higher."
)


@pytest.mark.parametrize("folder", FOLDERS, ids=[p.name for p in FOLDERS])
def test_each_shipped_export_loads_and_works(folder):
    report = json.loads((folder / "export_report.json").read_text(encoding="utf-8"))
    model = rt.load(folder)
    if isinstance(model, rt.WrittenSummarizerRuntime):  # parity: the same greedy subwords as torch
        assert report["parity"]["identical_greedy"] == report["parity"]["documents"] >= 100
        result = model.summarize(DIALOGUE)
        assert result["abstractive"] and result["summary"] and "Amanda" in result["summary"], result
        return
    assert report["parity"]["max_abs_diff"] <= 1e-3
    if isinstance(model, rt.NERRuntime):
        open_labels = model.config["open_labels"]
        labels = ["person", "location"] if open_labels else ["PER", "LOC"]
        found = {(e["text"], e["label"]) for e in model.predict(SENTENCE, labels=labels)}
        assert {("Angela Merkel", labels[0]), ("Paris", labels[1])} <= found, found
    else:
        result = model.summarize(ARTICLE, max_sentences=2)
        assert len(result["sentences"]) == 2 and all(s["text"] in ARTICLE for s in result["sentences"])


@pytest.mark.parametrize("folder", FOLDERS, ids=[p.name for p in FOLDERS])
def test_each_export_scores_what_its_report_records_on_its_sample(folder):
    report = json.loads((folder / "export_report.json").read_text(encoding="utf-8"))
    assert "sample" in report, f"{folder}: no sample score recorded; run evaluation/export_samples.py {folder.name}"
    sample = report["sample"]
    if not sample_file(sample).is_file():
        pytest.skip(f"{sample_file(sample)} not found: the shared data folder is unavailable (set STAGE2_DATA)")
    score = sample_score(rt.load(folder, threads=1), sample)
    recorded = f"{folder.name}: {sample['metric']} {score} recomputed, {sample['score']} recorded"
    assert round(abs(score - sample["score"]), 6) <= SAMPLE_TOLERANCE, recorded
