from __future__ import annotations

import numpy as np
import pytest

from stage2.summarization.selection import check_budget, select

SENTS = [
    "one two three four",  # 4 words
    "five six seven",  # 3
    "eight nine ten eleven twelve",  # 5
    "thirteen fourteen",  # 2
]
SCORES = np.array([0.1, 0.9, 0.5, 0.7])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_sentences": 2, "max_words": 10},
        {"max_sentences": 2, "ratio": 0.5},
        {"max_words": 10, "ratio": 0.5},
        {"max_sentences": 0},
        {"max_sentences": -1},
        {"max_words": 0},
        {"max_words": -5},
        {"ratio": 0.0},
        {"ratio": -0.2},
        {"ratio": 1.5},
    ],
)
def test_check_budget_rejects(kwargs):
    args = {"max_sentences": None, "max_words": None, "ratio": None, **kwargs}
    with pytest.raises(ValueError):
        check_budget(**args)


@pytest.mark.parametrize(
    "args", [(None, None, None), (1, None, None), (None, 1, None), (None, None, 1.0), (None, None, 0.01)]
)
def test_check_budget_accepts(args):
    check_budget(*args)


def test_max_sentences_in_document_order():
    assert select(SENTS, SCORES, max_sentences=2) == [1, 3]
    assert select(SENTS, SCORES, max_sentences=3) == [1, 2, 3]
    assert select(SENTS, SCORES) == [1, 2, 3]  # default: three sentences


def test_max_words_skips_what_overflows():
    # best first: 1 (3 words), then 3 (2 words) = 5; 2 (5 words) would overflow 8; 0 (4 words) too
    assert select(SENTS, SCORES, max_words=8) == [1, 3]
    assert select(SENTS, SCORES, max_words=9) == [0, 1, 3]
    assert select(SENTS, SCORES, max_words=100) == [0, 1, 2, 3]


def test_first_sentence_is_always_taken():
    assert select(SENTS, np.array([0.0, 0.0, 1.0, 0.0]), max_words=1) == [2]


def test_fewer_sentences_than_asked_returns_all():
    assert select(SENTS[:2], SCORES[:2], max_sentences=5) == [0, 1]
    assert select([], np.array([]), max_sentences=3) == []


def test_trigram_blocking_skips_near_duplicate():
    sents = ["the cat sat on the mat", "the cat sat on the mat today", "dogs bark at night"]
    scores = np.array([0.9, 0.8, 0.1])
    assert select(sents, scores, max_sentences=2, redundancy="trigram") == [0, 2]
    assert select(sents, scores, max_sentences=2, redundancy="none") == [0, 1]


def test_mmr_prefers_a_different_sentence():
    sents = ["a b c", "d e f", "g h i", "j k l"]
    scores = np.array([1.0, 0.95, 0.9, 0.1])
    emb = np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    assert select(sents, scores, max_sentences=2, redundancy="mmr", embeddings=emb) == [0, 2]
    assert select(sents, scores, max_sentences=2, redundancy="none") == [0, 1]
    assert select(sents, scores, max_sentences=4, redundancy="mmr", embeddings=emb) == [0, 1, 2, 3]
    assert select(sents, scores, max_words=6, redundancy="mmr", embeddings=emb) == [0, 2]


def _reference_select(sentences, scores, max_sentences, max_words, redundancy, embeddings, mmr_lambda=0.7):
    """The former greedy loop (re-sorted every pick: n^2 log n), kept to check the one-pass version."""
    from stage2.summarization.selection import _trigrams

    n = len(sentences)
    limit = min(max_sentences, n) if max_sentences is not None else n
    words = [len(s.split()) for s in sentences]
    chosen, used, seen, remaining = [], 0, set(), list(range(n))
    emb = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    z = (scores - scores.mean()) / (scores.std() + 1e-9)
    while remaining and len(chosen) < limit:
        if redundancy == "mmr" and chosen:
            sim = (emb[remaining] @ emb[chosen].T).max(axis=1)
            order = [remaining[j] for j in np.argsort(-(mmr_lambda * z[remaining] - (1 - mmr_lambda) * 3 * sim))]
        else:
            order = sorted(remaining, key=lambda i: -scores[i])
        pick = None
        for i in order:
            if max_words is not None and chosen and used + words[i] > max_words:
                continue
            if redundancy == "trigram" and chosen and _trigrams(sentences[i]) & seen:
                continue
            pick = i
            break
        if pick is None:
            break
        chosen.append(pick)
        remaining.remove(pick)
        used += words[pick]
        if redundancy == "trigram":
            seen |= _trigrams(sentences[pick])
    return sorted(chosen)


@pytest.mark.parametrize("redundancy", ["trigram", "mmr", "none"])
def test_one_pass_selection_chooses_what_the_greedy_loop_chose(redundancy):
    rng = np.random.default_rng(0)
    vocab = ["rates", "rise", "banks", "say", "the", "storm", "hits", "coast", "fans", "cheer"]
    for trial in range(40):
        n = int(rng.integers(1, 25))
        sentences = [" ".join(rng.choice(vocab, size=int(rng.integers(2, 9)))) for _ in range(n)]
        scores = rng.permutation(n).astype(float)  # no ties: the order is unique
        emb = rng.normal(size=(n, 6))
        max_sentences = [None, 3, 10][trial % 3]
        max_words = [40, None, 15][trial % 3]
        got = select(sentences, scores, max_sentences, max_words, redundancy, emb)
        assert got == _reference_select(sentences, scores, max_sentences, max_words, redundancy, emb)


@pytest.mark.parametrize("redundancy", ["trigram", "mmr"])
def test_selection_is_not_quadratic_in_sentences(redundancy):
    """Issue 23: a ratio budget over 10,000 one-word lines re-sorted every sentence per pick (n^2 log n)."""
    import time

    n = 10_000
    rng = np.random.default_rng(0)
    sentences = [f"w{i}" for i in range(n)]
    start = time.perf_counter()
    chosen = select(sentences, rng.normal(size=n), None, n, redundancy, rng.normal(size=(n, 8)).astype(np.float32))
    assert len(chosen) == n
    assert time.perf_counter() - start < 5.0  # the former loop took minutes
