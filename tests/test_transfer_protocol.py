"""The zero-shot transfer protocol's label sets and error analysis (evaluation/transfer_protocol.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from stage2.labels import Span
from stage2.ner.data import NERExample

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "evaluation"))
import transfer_protocol as tp


def test_held_out_sets_are_never_in_a_design_run():
    import importlib.util

    spec = importlib.util.spec_from_file_location("ner_zero", tp.ROOT / "models" / "ner-zero" / "recipe.py")
    assert spec is not None and spec.loader is not None
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    assert set(tp.TRANSFER_SETS) - {"fewnerd-inter"} <= set(recipe.CORPORA)  # the shipped model may read them
    assert len(tp.TRANSFER_SETS) >= 7


def test_general_types_are_offered_only_beside_more_specific_ones():
    labels = tp.transfer_labels("fewnerd-inter", general=True)
    names = [lb.name for lb in labels]
    assert names[-3:] == ["person", "organization", "miscellaneous"]  # "location" is one of its own types
    assert all(lb.key.startswith(tp.GENERAL_PREFIX) for lb in list(labels)[-3:])
    assert all(not lb.description for lb in labels)  # names alone, as a user types them
    assert [lb.name for lb in tp.transfer_labels("fewnerd-inter", general=False)] == names[:-3]


def test_analysis_counts_general_wins_misses_and_thresholds():
    gold = [
        NERExample(["Ada", "ran", "in", "Rome"], [Span("person-athlete", 0, 1), Span("location-other", 3, 4)]),
        NERExample(["Bob", "acts"], [Span("person-actor", 0, 1)]),
    ]
    predicted = [
        [(Span(tp.GENERAL_PREFIX + "person", 0, 1), 0.9)],  # the general type took the athlete; Rome missed
        [(Span("person-actor", 0, 1), 0.6)],
    ]
    out = tp.analyse("fewnerd-inter", gold, predicted)
    assert out["gold_entities"] == 3
    assert out["missed"] == pytest.approx(100 / 3, abs=0.01)
    assert (out["specific_exact"], out["general_exact"], out["general_wins"]) == (1, 1, 50.0)
    assert out["f1_at_threshold"]["0.0"] == pytest.approx(40.0)  # 1 right of 2 predicted, 3 gold
    assert out["f1_at_threshold"]["0.7"] == 0.0
