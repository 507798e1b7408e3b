"""The int8-vs-torch agreement benchmark's texts and math (evaluation/agreement.py, evaluation/int8_agreement.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from stage2.labels import Span

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "evaluation"))
import agreement as ag

VOCAB = ["alpha", "beta", "Gamma", "delta", "EU", "x-ray"]


def test_word_salad_is_seeded_and_drawn_from_the_vocabulary():
    texts = ag.word_salad(VOCAB, 50, seed=3)
    assert texts == ag.word_salad(VOCAB, 50, seed=3)
    assert texts != ag.word_salad(VOCAB, 50, seed=4)
    lengths = [len(t.split()) for t in texts]
    assert min(lengths) >= 5 and max(lengths) <= 40
    lowered = {w.lower() for w in VOCAB}
    assert all(w.lower() in lowered for t in texts for w in t.split())
    words = [w for t in ag.word_salad(["alpha", "beta", "delta"], 20, seed=3) for w in t.split()]
    capitalised = sum(w[0].isupper() for w in words)
    assert 0 < capitalised < len(words)  # some, not all
    assert ag.salad_vocabulary([["Bob", ",", "ran"], ["1996", "ran", "U.S."]]) == ["Bob", "U.S.", "ran"]


def test_noisy_texts_are_seeded_and_noise_free_at_rate_zero():
    sentences = [["Angela", "Merkel", "visited", "Paris", "."], ["EU", "rejects", "German", "call"]]
    assert ag.noisy_texts(sentences, seed=1, rate=0.0) == ["Angela Merkel visited Paris .", "EU rejects German call"]
    noisy = ag.noisy_texts(sentences, seed=1, rate=0.5)
    assert noisy == ag.noisy_texts(sentences, seed=1, rate=0.5)
    assert noisy != ag.noisy_texts(sentences, seed=1, rate=0.0)
    assert all(t.strip() for t in noisy)


@pytest.mark.parametrize(
    ("score", "bucket"),
    [(0.0, "<0.3"), (0.29, "<0.3"), (0.3, "0.3-0.4"), (0.59, "0.5-0.6"), (0.8, ">=0.8"), (1.0, ">=0.8")],
)
def test_score_buckets(score, bucket):
    assert ag.score_bucket(score) == bucket


def test_span_agreement_jaccard_and_disagreement_buckets():
    torch = [
        [(Span("PER", 0, 1), 0.9), (Span("LOC", 3, 4), 0.45)],
        [],
        [(Span("ORG", 0, 2), 0.7)],
    ]
    int8 = [
        [(Span("PER", 0, 1), 0.88)],  # same span, another score: agrees
        [],
        [(Span("ORG", 0, 1), 0.55)],  # another boundary: two disagreeing spans
    ]
    out = ag.compare_spans(torch, int8)
    assert (out["texts"], out["agree_texts"], out["agree_rate"]) == (3, 1, round(1 / 3, 4))
    assert out["span_jaccard"] == 0.25  # 1 shared of 4 in either
    assert (out["spans_reference"], out["spans_other"], out["only_reference"], out["only_other"]) == (3, 2, 2, 1)
    assert out["max_disagreeing_score"] == 0.7
    assert out["disagreements_by_score"] == {
        "<0.3": 0,
        "0.3-0.4": 0,
        "0.4-0.5": 1,
        "0.5-0.6": 1,
        "0.6-0.8": 1,
        ">=0.8": 0,
    }
    same = ag.compare_spans(torch, torch)
    assert (same["agree_rate"], same["span_jaccard"], same["max_disagreeing_score"]) == (1.0, 1.0, None)
    assert ag.compare_spans([[], []], [[], []])["span_jaccard"] == 1.0  # nothing found by either


def test_logit_differences_flips_and_margins():
    torch = [np.array([[2.0, 0.0, -1.0]]), np.array([[0.0, 0.05, -1.0]])]  # margins 2.0 and 0.05
    int8 = [np.array([[1.9, 0.0, -1.0]]), np.array([[0.1, 0.05, -1.0]])]  # the second word flips to O
    out = ag.compare_logits(torch, int8, outside=0.0)
    assert out["words"] == 2
    assert out["max_abs_logit_diff"] == pytest.approx(0.1)
    assert out["mean_abs_logit_diff"] == pytest.approx(0.2 / 6, rel=1e-2)
    assert (out["word_flips"], out["max_margin_flipped"]) == (1, 0.05)
    assert out["near_boundary"] == {"<0.1": 0.5, "<0.25": 0.5, "<0.5": 0.5, "<1.0": 0.5}
    shifted = ag.compare_logits(torch, int8, outside=1.0)  # O raised by the threshold rule: no flip
    assert (shifted["word_flips"], shifted["max_margin_flipped"]) == (0, None)
    assert shifted["near_boundary"]["<1.0"] == 0.5  # 0.95 from the boundary


def test_command_line_defaults():
    import int8_agreement as ia

    args = ia.build_parser().parse_args([])
    assert args.n == 200 and len(args.rows) == len(ia.ENGINES) * len(ia.KINDS)
    assert args.results.name == "int8_agreement.json"
