"""Pure-numpy NER decoding shared by the torch model and the ONNX runtime: merging window scores
and BIO-constrained Viterbi decoding (word shapes and windows are in :mod:`stage2.ner.windows`).

Tag layout for a label set of size L: index 0 is ``O``; label j has ``B`` at 1 + 2j and ``I`` at 2 + 2j.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from stage2.labels import Span

DEFAULT_THRESHOLD: float | None = None
"""``threshold=`` when none is given: the model's own rule. A sigmoid-scored model decides each word-label
pair at its ``decision_threshold`` (chosen on the zero-shot transfer protocol and kept in its config); a
softmax-scored model keeps a span wherever an entity tag beats ``O`` and cuts nothing (every softmax design
run was best uncut on the protocol's threshold curves, ``evaluation/results/ner_zero_shot_transfer.json``)."""

MIN_DECISION = 1e-6
"""The lowest decision threshold a sigmoid-scored model reads (0 and 1 have no finite logit)."""


def check_threshold(threshold: float | None) -> float | None:
    """``threshold`` as a float in [0, 1] (None: the model's own rule), or a ValueError naming it."""
    if threshold is None:
        return None
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be a number from 0 to 1 (an entity's score), got {threshold!r}")
    return float(threshold)


def threshold_rule(threshold: float | None, scoring: str, decision_threshold: float) -> tuple[float, float]:
    """How a prediction applies ``threshold``: the ``O`` logit decoding adds and the score below which spans are
    then cut.

    A sigmoid-scored model decides every word-label pair on its own, so the threshold is the pair probability
    from which a word is an entity (GLiNER's knob: lower finds more): ``O`` is scored ``logit(threshold)``
    (default: the model's ``decision_threshold``) and nothing is cut afterwards. A softmax-scored model cuts
    the spans scoring below ``threshold`` (default: none).

    >>> threshold_rule(None, "sigmoid", 0.5)
    (0.0, 0.0)
    >>> threshold_rule(0.3, "softmax", 0.5)
    (0.0, 0.3)
    """
    if scoring != "sigmoid":
        return 0.0, threshold or 0.0
    t = decision_threshold if threshold is None else threshold
    t = min(max(t, MIN_DECISION), 1.0 - MIN_DECISION)
    return math.log(t / (1.0 - t)), 0.0


def above_threshold(found: list[list[tuple[Span, float]]], threshold: float) -> list[list[tuple[Span, float]]]:
    """The scored spans of each sentence whose score is at least ``threshold``."""
    if threshold <= 0.0:
        return found
    return [[(span, score) for span, score in spans if score >= threshold] for spans in found]


def num_tags(num_labels: int) -> int:
    """Number of BIO tags for ``num_labels`` entity types."""
    return 1 + 2 * num_labels


def merge_windows(n_words: int, windows: Sequence[tuple[int, int]], scores: Sequence[np.ndarray]) -> np.ndarray:
    """Merge per-window word scores ``[end - start, T]`` into ``[n_words, T]``, taking each word from
    the window where it sits farthest from an edge (where its context is fullest).
    """
    out = np.zeros((n_words, scores[0].shape[-1]), dtype=np.float32)
    best = np.full(n_words, -1, dtype=np.int64)
    for (start, end), score in zip(windows, scores, strict=True):
        for w in range(start, end):
            margin = min(w - start, end - 1 - w)
            if margin > best[w]:
                best[w] = margin
                out[w] = score[w - start]
    return out


def log_softmax(x: np.ndarray) -> np.ndarray:
    """Numerically stable log-softmax over the last axis."""
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


@functools.lru_cache(maxsize=64)
def _transitions(n_labels: int) -> tuple[np.ndarray, np.ndarray]:
    t = num_tags(n_labels)
    allowed = np.ones((t, t), dtype=bool)  # [previous, current]
    start_ok = np.ones(t, dtype=bool)
    for j in range(n_labels):
        inside = 2 + 2 * j
        allowed[:, inside] = False
        allowed[1 + 2 * j, inside] = True
        allowed[inside, inside] = True
        start_ok[inside] = False
    trans = np.where(allowed, 0.0, -np.inf).astype(np.float32)
    start = np.where(start_ok, 0.0, -np.inf).astype(np.float32)
    trans.flags.writeable = False  # cached and shared
    start.flags.writeable = False
    return trans, start


def _allowed(path: np.ndarray, trans: np.ndarray, start: np.ndarray) -> bool:
    """Whether a tag path breaks no BIO constraint."""
    return bool(np.isfinite(start[path[0]]) and np.isfinite(trans[path[:-1], path[1:]]).all())


def viterbi(log_probs: np.ndarray) -> list[int]:
    """Best tag sequence under the BIO constraint (``I-X`` only after ``B-X`` or ``I-X``)."""
    n, t = log_probs.shape
    if n == 0:
        return []
    trans, start = _transitions((t - 1) // 2)
    best = log_probs.argmax(axis=1)
    if _allowed(best, trans, start):  # each word's best tag already obeys BIO: no path scores higher
        return [int(b) for b in best]
    score = start + log_probs[0]
    back = np.zeros((n, t), dtype=np.int64)
    for i in range(1, n):
        cand = score[:, None] + trans
        back[i] = cand.argmax(axis=0)
        score = cand.max(axis=0) + log_probs[i]
    path = [int(score.argmax())]
    for i in range(n - 1, 0, -1):
        path.append(int(back[i, path[-1]]))
    return path[::-1]


def decode_spans(log_probs: np.ndarray, keys: Sequence[str]) -> list[tuple[Span, float]]:
    """Viterbi-decode word log-probabilities into spans with a confidence score each
    (mean probability of the chosen tags over the span's words).
    """
    path = viterbi(log_probs)
    probs = np.exp(log_probs)
    out: list[tuple[Span, float]] = []
    i = 0
    while i < len(path):
        tag = path[i]
        if tag == 0 or tag % 2 == 0:  # O, or a stray I (cannot happen after viterbi)
            i += 1
            continue
        j = (tag - 1) // 2
        end = i + 1
        while end < len(path) and path[end] == 2 + 2 * j:
            end += 1
        score = float(np.mean([probs[w, path[w]] for w in range(i, end)]))
        out.append((Span(keys[j], i, end), score))
        i = end
    return out


def decode_sentences(
    lengths: Sequence[int],
    windows: Sequence[tuple[int, int, int]],
    scores: Sequence[np.ndarray],
    keys: Sequence[str],
    outside: float = 0.0,
) -> list[list[tuple[Span, float]]]:
    """Merge per-window word logits (``windows`` are ``(sentence, start, end)``) and decode each
    sentence of ``lengths`` words into scored spans (``outside`` is added to every ``O`` logit:
    :func:`threshold_rule`).
    """
    parts: list[list[tuple[tuple[int, int], np.ndarray]]] = [[] for _ in lengths]
    for (sentence, start, end), score in zip(windows, scores, strict=True):
        parts[sentence].append(((start, end), score))
    results: list[list[tuple[Span, float]]] = []
    for n, part in zip(lengths, parts, strict=True):
        if n == 0 or not part:
            results.append([])
            continue
        merged = merge_windows(n, [p[0] for p in part], [p[1] for p in part])
        if outside:
            merged[:, 0] += outside
        results.append(decode_spans(log_softmax(merged), keys))
    return results


def entities(
    text: str, words: Sequence[tuple[str, int, int]], spans: Sequence[tuple[Span, float]]
) -> list[dict[str, Any]]:
    """The public entity dicts of one text from spans on its ``(word, start, end)`` tokens."""
    out: list[dict[str, Any]] = []
    for span, score in spans:
        cs, ce = words[span.start][1], words[span.end - 1][2]
        out.append(
            {
                "label": span.label,
                "score": round(float(score), 4),
                "text": text[cs:ce],
                "word_start": span.start,
                "word_end": span.end,
                "char_start": cs,
                "char_end": ce,
            }
        )
    return out


def predict_texts(
    predict_words: Any,
    text: str | Sequence[str],
    labels: Any,
    batch_size: int,
    threshold: float | None = DEFAULT_THRESHOLD,
) -> list[dict[str, Any]] | list[list[dict[str, Any]]]:
    """``predict`` of the torch model and the runtime: split texts into words, tag them with
    ``predict_words(sentences, labels, batch_size, threshold=threshold)``, and return entity dicts (one
    list per text).
    """
    from stage2.io import as_batch, warn_if_not_latin
    from stage2.ner.data import tokenize_words

    texts, single = as_batch(text, "text")
    warn_if_not_latin(texts)
    tokenized = [tokenize_words(t) for t in texts]
    found = predict_words([[w for w, _, _ in tk] for tk in tokenized], labels, batch_size, threshold=threshold)
    results = [entities(t, tk, spans) for t, tk, spans in zip(texts, tokenized, found, strict=True)]
    return results[0] if single else results
