from __future__ import annotations

import pytest

from stage2.labels import Span
from stage2.ner.data import NERExample
from stage2.ner.metrics import ner_scores

GOLD = [
    NERExample(
        ["Ada", "Lovelace", "met", "Bob", "in", "London"], [Span("PER", 0, 2), Span("PER", 3, 4), Span("LOC", 5, 6)]
    ),
    NERExample(["It", "rained"], []),
]


def test_perfect_match_is_100():
    scores = ner_scores(GOLD, [e.spans for e in GOLD])
    assert scores["precision"] == scores["recall"] == scores["f1"] == 100.0
    assert scores["per_type"] == {"LOC": 100.0, "PER": 100.0}
    assert scores["sentences"] == 2


def test_one_wrong_label_lowers_scores():
    pred = [[Span("PER", 0, 2), Span("LOC", 3, 4), Span("LOC", 5, 6)], []]
    scores = ner_scores(GOLD, pred)
    assert scores["precision"] == scores["recall"] == pytest.approx(66.67)
    assert scores["f1"] == pytest.approx(66.67)
    assert scores["per_type"]["PER"] == pytest.approx(66.67)
    assert scores["per_type"]["LOC"] == pytest.approx(66.67)


def test_strict_boundaries_and_missed_entities():
    # A partial span earns nothing (strict), a missed one lowers recall only.
    pred = [[Span("PER", 0, 1), Span("PER", 3, 4)], []]
    scores = ner_scores(GOLD, pred)
    assert scores["precision"] == 50.0
    assert scores["recall"] == pytest.approx(33.33)
    assert scores["per_type"]["LOC"] == 0.0


def test_no_predictions_is_zero():
    scores = ner_scores(GOLD, [[], []])
    assert scores["f1"] == scores["precision"] == scores["recall"] == 0.0


def test_length_mismatch_raises():
    with pytest.raises(ValueError, match="2 gold sentences but 1 predictions"):
        ner_scores(GOLD, [[]])


def test_prediction_outside_sentence_raises():
    with pytest.raises(ValueError, match="outside"):
        ner_scores(GOLD[1:], [[Span("PER", 1, 5)]])
