"""The pure part of ``int8_agreement.py``: seeded noisy texts (word salad, character noise) and the
agreement math of two engines' outputs on the same texts (spans, score buckets, word logits). No models,
no data files: numpy and the standard library only.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import numpy as np

from stage2.labels import Span

BUCKETS = ((0.3, "<0.3"), (0.4, "0.3-0.4"), (0.5, "0.4-0.5"), (0.6, "0.5-0.6"), (0.8, "0.6-0.8"), (2.0, ">=0.8"))
"""Upper edge (exclusive) and name of each score bucket of disagreeing spans."""
MARGINS = (0.1, 0.25, 0.5, 1.0)
"""Logit margins at which the share of the reference's near-boundary word decisions is reported."""
PUNCTUATION = ",.;:!?-'\"()/&"
Scored = list[list[tuple[Span, float]]]
"""Each text's scored spans, as ``predict_words`` returns them."""


# ------------------------------------------------------------------------------------------- texts
def salad_vocabulary(sentences: Sequence[Sequence[str]]) -> list[str]:
    """The distinct words (tokens with a letter) of ``sentences``, sorted so a seed draws the same words.

    >>> salad_vocabulary([["Bob", "ran", "."], ["ran", "42"]])
    ['Bob', 'ran']
    """
    return sorted({w for words in sentences for w in words if any(c.isalpha() for c in w)})


def word_salad(
    vocab: Sequence[str], n: int, seed: int, min_words: int = 5, max_words: int = 40, capitals: float = 0.3
) -> list[str]:
    """``n`` texts of ``min_words``-``max_words`` words drawn uniformly (with replacement) from ``vocab`` with
    ``random.Random(seed)``, in drawn order, a share ``capitals`` of them given a capital first letter
    (the rest keep their case).

    >>> len(word_salad(["a", "b"], 1, 0, 3, 3)[0].split())
    3
    """
    rng = random.Random(seed)
    texts = []
    for _ in range(n):
        words = [rng.choice(vocab) for _ in range(rng.randint(min_words, max_words))]
        words = [w[:1].upper() + w[1:] if rng.random() < capitals else w for w in words]
        texts.append(" ".join(words))
    return texts


def noisy_word(word: str, rng: random.Random, rate: float) -> str:
    """``word`` with, each at probability ``rate``: one character's case flipped, one dropped (words of two
    characters or more), one doubled, and a punctuation mark appended."""
    chars = list(word)
    if rng.random() < rate:
        i = rng.randrange(len(chars))
        chars[i] = chars[i].swapcase()
    if len(chars) > 1 and rng.random() < rate:
        del chars[rng.randrange(len(chars))]
    if rng.random() < rate:
        i = rng.randrange(len(chars))
        chars.insert(i, chars[i])
    if rng.random() < rate:
        chars.append(rng.choice(PUNCTUATION))
    return "".join(chars)


def noisy_texts(sentences: Sequence[Sequence[str]], seed: int, rate: float = 0.1) -> list[str]:
    """Each sentence's words with character noise (:func:`noisy_word`, ``random.Random(seed)``), joined by
    spaces."""
    rng = random.Random(seed)
    return [" ".join(noisy_word(w, rng, rate) for w in words if w) for words in sentences]


# ------------------------------------------------------------------------------------------- scoring
def score_bucket(score: float) -> str:
    """The name of the bucket of a span score.

    >>> score_bucket(0.45), score_bucket(0.8)
    ('0.4-0.5', '>=0.8')
    """
    return next(name for edge, name in BUCKETS if score < edge)


def compare_spans(reference: Scored, other: Scored) -> dict[str, Any]:
    """Agreement of two engines' scored spans on the same texts: texts whose span sets are equal, the span
    Jaccard overlap (micro: shared spans over spans in either, summed over texts; 1.0 when neither finds
    any), and the spans in exactly one set by score bucket (their score from the side that found them).
    """
    same_texts = shared = union = 0
    buckets = {name: 0 for _, name in BUCKETS}
    only = {"reference": 0, "other": 0}
    worst: float | None = None
    for ref, oth in zip(reference, other, strict=True):
        a, b = dict(ref), dict(oth)
        same_texts += a.keys() == b.keys()
        shared += len(a.keys() & b.keys())
        union += len(a.keys() | b.keys())
        for side, mine, theirs in (("reference", a, b), ("other", b, a)):
            for span in mine.keys() - theirs.keys():
                only[side] += 1
                buckets[score_bucket(mine[span])] += 1
                worst = mine[span] if worst is None else max(worst, mine[span])
    return {
        "texts": len(reference),
        "agree_texts": same_texts,
        "agree_rate": round(same_texts / len(reference), 4) if reference else 1.0,
        "span_jaccard": round(shared / union, 4) if union else 1.0,
        "spans_reference": sum(len(r) for r in reference),
        "spans_other": sum(len(o) for o in other),
        "only_reference": only["reference"],
        "only_other": only["other"],
        "max_disagreeing_score": None if worst is None else round(worst, 4),
        "disagreements_by_score": buckets,
    }


def decision_margins(logits: Sequence[np.ndarray], outside: float) -> np.ndarray:
    """Each word's margin between its best and second-best tag logit, ``outside`` added to ``O`` (as decoding
    does): how far the word's decision is from flipping."""
    rows = np.concatenate([np.asarray(x, dtype=np.float64) for x in logits if len(x)], axis=0)
    rows[:, 0] += outside
    top = np.sort(rows, axis=-1)
    return top[:, -1] - top[:, -2]


def compare_logits(reference: Sequence[np.ndarray], other: Sequence[np.ndarray], outside: float) -> dict[str, Any]:
    """Word tag logits of two engines: max and mean abs difference, words whose best tag differs, the
    largest reference margin among those, and the share of reference decisions within each of
    :data:`MARGINS`."""
    ref = np.concatenate([x for x in reference if len(x)], axis=0)
    oth = np.concatenate([x for x in other if len(x)], axis=0)
    margins = decision_margins(reference, outside)
    shift = np.zeros(ref.shape[-1])
    shift[0] = outside
    flipped = (ref + shift).argmax(-1) != (oth + shift).argmax(-1)
    return {
        "words": len(ref),
        "max_abs_logit_diff": float(f"{np.abs(ref - oth).max():.3g}"),  # float32 exports differ by ~1e-6
        "mean_abs_logit_diff": float(f"{np.abs(ref - oth).mean():.3g}"),
        "word_flips": int(flipped.sum()),
        "max_margin_flipped": round(float(margins[flipped].max()), 4) if flipped.any() else None,
        "near_boundary": {f"<{m}": round(float((margins < m).mean()), 4) for m in MARGINS},
    }


def shown(spans: Sequence[tuple[Span, float]], words: Sequence[str]) -> list[str]:
    """Scored spans as readable strings: ``PER 'Ada Lovelace' 0.912``."""
    return [f"{s.label} {' '.join(words[s.start : s.end])!r} {p:.3f}" for s, p in spans]


def examples(texts: Sequence[str], ref: Scored, oth: Scored, limit: int = 3) -> list[dict[str, Any]]:
    """The first ``limit`` texts whose span sets differ, with both engines' spans, for reading."""
    from stage2.ner.data import tokenize_words  # pure Python

    out = []
    for text, a, b in zip(texts, ref, oth, strict=True):
        if {s for s, _ in a} == {s for s, _ in b}:
            continue
        words = [w for w, _, _ in tokenize_words(text)]
        out.append({"text": text, "torch": shown(a, words), "export": shown(b, words)})
        if len(out) == limit:
            break
    return out
