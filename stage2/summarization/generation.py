"""Greedy and beam search in numpy, shared by the torch model and the ONNX runtime so that both decode
with the same rules (length penalty, no repeated n-grams, a minimum length), and the written summary's
post-processing: casing taken from the source and the ``unsupported`` terms.

A ``steps`` object supplies ``source(text)`` (what the decoder reads), ``step(ids, positions, past, source)``
(log-probabilities ``[B, V]`` and the new past, batch on axis 2), ``decode(ids)``, and ``start_id``,
``end_id``, ``pad_id``.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from stage2.io import as_batch

NEG = -1e9


@dataclass
class SearchSettings:
    """How a summary is searched for. The defaults (beam 4, length penalty 1.2, repetition penalty 1.2) scored the
    best ROUGE-1 of the settings tried on SAMSum validation (evaluation/results/abstractive_decoding.json)."""

    num_beams: int = 4
    max_new: int = 64
    min_new: int = 4
    length_penalty: float = 1.2
    no_repeat_ngram: int = 3
    repetition_penalty: float = 1.2  # > 1: a subword already written has its log-probability multiplied by it


def _banned(tokens: list[int], n: int) -> list[int]:
    """Next tokens that would repeat an ``n``-gram already in ``tokens``."""
    if n <= 0 or len(tokens) < n:
        return []
    prefix = tuple(tokens[len(tokens) - n + 1 :])
    return [tokens[i + n - 1] for i in range(len(tokens) - n + 1) if tuple(tokens[i : i + n - 1]) == prefix]


def _mask(logp: np.ndarray, beams: list[list[int]], steps: Any, s: SearchSettings) -> np.ndarray:
    logp[:, [steps.pad_id, steps.start_id]] = NEG
    for row, tokens in enumerate(beams):
        if len(tokens) - 1 < s.min_new:
            logp[row, steps.end_id] = NEG
        if s.repetition_penalty != 1.0 and len(tokens) > 1:
            written = np.unique(np.array(tokens[1:]))
            logp[row, written] *= s.repetition_penalty
        banned = _banned(tokens[1:], s.no_repeat_ngram)
        if banned:
            logp[row, banned] = NEG
    return logp


def _repeat(source: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    return {k: np.repeat(v, n, axis=0) for k, v in source.items()}


def _first(source: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    return {k: v[:n] for k, v in source.items()}


def greedy(steps: Any, source: dict[str, np.ndarray], s: SearchSettings) -> list[int]:
    """The most likely next subword at every step (the parity check's decoder)."""
    tokens = [steps.start_id]
    past = None
    for t in range(s.max_new):
        logp, past = steps.step(np.array([[tokens[-1]]], dtype=np.int64), np.array([[t]], dtype=np.int64), past, source)
        best = int(_mask(logp, [tokens], steps, s)[0].argmax())
        if best == steps.end_id:
            break
        tokens.append(best)
    return tokens[1:]


def beam_search(steps: Any, source: dict[str, np.ndarray], s: SearchSettings) -> list[int]:
    """Beam search with a length penalty (scores divided by length ** ``length_penalty``)."""
    if s.num_beams <= 1:
        return greedy(steps, source, s)
    k = s.num_beams
    beams: list[list[int]] = [[steps.start_id]]
    scores = np.zeros(1, dtype=np.float64)
    past = None
    wide = _repeat(source, k)
    done: list[tuple[float, list[int]]] = []
    for t in range(s.max_new):
        ids = np.array([[b[-1]] for b in beams], dtype=np.int64)
        positions = np.full((len(beams), 1), t, dtype=np.int64)
        logp, past = steps.step(ids, positions, past, source if len(beams) == 1 else _first(wide, len(beams)))
        total = scores[:, None] + _mask(logp.astype(np.float64), beams, steps, s)
        flat = total.ravel()
        width = min(2 * k, flat.size)
        top = np.argpartition(flat, flat.size - width)[flat.size - width :]  # a full sort costs ~4 ms a step
        order = top[np.argsort(-flat[top], kind="stable")]
        keep_rows, nxt, nxt_scores = [], [], []
        for rank, flat in enumerate(order):
            row, token = divmod(int(flat), total.shape[1])
            if total[row, token] <= NEG / 2:
                break
            if token == steps.end_id:
                if rank < k:
                    done.append((total[row, token] / (t + 1) ** s.length_penalty, beams[row][1:]))
                continue
            keep_rows.append(row)
            nxt.append([*beams[row], token])
            nxt_scores.append(total[row, token])
            if len(nxt) == k:
                break
        if not nxt:
            break
        best_live = max(nxt_scores) / (t + 2) ** s.length_penalty
        if len(done) >= k and best_live < min(score for score, _ in sorted(done, reverse=True)[:k]):
            break
        beams, scores = nxt, np.array(nxt_scores)
        past = past[:, :, keep_rows]
    else:
        done += [(sc / s.max_new**s.length_penalty, b[1:]) for b, sc in zip(beams, scores, strict=True)]
    if not done:
        done = [(0.0, beams[0][1:])]
    return max(done, key=lambda pair: pair[0])[1]


_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")
_STARTS = re.compile(r"(?:^|[.!?:]\s+|\n\s*)$")


def source_casing(source: str) -> dict[str, str]:
    """Lower-cased word -> its most frequent casing in ``source`` where it does not start a sentence or turn
    (a speaker's name before a colon counts)."""
    counts: dict[str, dict[str, int]] = {}
    for m in _WORD.finditer(source):
        if len(m.group()) == 1:  # a speaker called "A" must not turn every "a" into "A"
            continue
        speaker = source[m.end() : m.end() + 1] == ":"  # "Amanda: ..." names a dialogue's speaker
        if not speaker and (m.start() == 0 or _STARTS.search(source[max(0, m.start() - 3) : m.start()])):
            continue
        forms = counts.setdefault(m.group().lower(), {})
        forms[m.group()] = forms.get(m.group(), 0) + 1
    return {low: max(forms, key=lambda f: forms[f]) for low, forms in counts.items()}


def recase(summary: str, source: str) -> str:
    """Give an uncased model's summary the source's casing, sentence-initial capitals and a capital I."""
    casing = source_casing(source)
    text = _WORD.sub(lambda m: casing.get(m.group().lower(), "I" if m.group() == "i" else m.group()), summary)
    return re.sub(r"(^|[.!?]\s+)([a-z])", lambda m: m.group(1) + m.group(2).upper(), text)


def detokenize(text: str) -> str:
    """Undo WordPiece spacing around punctuation: ``don ' t`` -> ``don't``, ``word .`` -> ``word.``."""
    text = re.sub(r"(\d)\s*([.,:])\s*(\d)", r"\1\2\3", text)
    text = re.sub(r"\s+([.,!?;:%)])", r"\1", text)
    text = re.sub(r"([($])\s+", r"\1", text)
    return re.sub(r"\s*'\s*(s|t|re|ve|ll|d|m)\b", r"'\1", text)


def write_summaries(
    steps: Any,
    document: str | Sequence[str],
    max_sentences: int | None = None,
    max_words: int | None = None,
    ratio: float | None = None,
    focus: str | None = None,
    num_beams: int = 4,
    settings: SearchSettings | None = None,
    unsupported: bool = True,
    names: Callable[[], Any] | None = None,
) -> dict[str, Any] | list[dict[str, Any]]:
    """Write a summary per document: ``{"summary", "sentences": [], "abstractive": True, "unsupported"}``.

    One budget at most: ``max_words``, ``ratio`` (of the document's words) or ``max_sentences`` (25 words
    each); without one the model writes as long as it was trained to (about 1.4 subwords a word are
    generated at most, and the text is cut to the budget's words). ``unsupported`` lists the summary's names
    and numbers that the source does not contain (:func:`stage2.summarization.faithfulness.unsupported_terms`, names
    found by the NER model ``names()`` gives, asked for only when ``unsupported``).
    A ``focus`` question is refused: the written model learnt general summaries only.
    """
    from stage2.summarization.faithfulness import unsupported_terms
    from stage2.summarization.selection import check_budget

    check_budget(max_sentences, max_words, ratio, focus)
    if focus:
        raise ValueError(
            "the written summariser answers no focus question (it learnt general summaries only); "
            "use the extractive summariser (summarizer-default) for a focused summary"
        )
    docs, single = as_batch(document, "document")
    out = []
    for doc in docs:
        if not doc.strip():
            out.append({"summary": "", "sentences": [], "abstractive": True, "unsupported": []})
            continue
        words = max_words or (max(1, round(ratio * len(doc.split()))) if ratio else None)
        words = words or (25 * max_sentences if max_sentences else None)
        s = settings or SearchSettings(num_beams=num_beams)
        if words is not None:
            longest = min(s.max_new, math.ceil(1.4 * words) + 2)
            s = dataclasses.replace(s, max_new=longest, min_new=min(s.min_new, longest))
        ids = beam_search(steps, steps.source(doc), s)
        text = recase(detokenize(steps.decode(ids)), doc)
        if words is not None:
            text = " ".join(text.split()[:words])
        row: dict[str, Any] = {"summary": text, "sentences": [], "abstractive": True}
        row["unsupported"] = unsupported_terms(text, doc, names() if names else None) if unsupported else []
        out.append(row)
    return out[0] if single else out
