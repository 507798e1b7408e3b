"""Choosing summary sentences from scores under a length budget, with redundancy control.
Pure Python + numpy, shared by the torch model and the ONNX runtime.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from stage2.summarization.config import intent_prompt
from stage2.summarization.data import _tokens, budget_in_words
from stage2.summarization.segmenting import Sentence, is_dialogue, split_sentences


def _trigrams(text: str) -> set[tuple[str, ...]]:
    toks = _tokens(text)
    return {tuple(toks[i : i + 3]) for i in range(len(toks) - 2)}


def check_budget(
    max_sentences: int | None, max_words: int | None, ratio: float | None, focus: str | None = None
) -> None:
    """Validate length arguments (at most one of them, each positive, ratio in (0, 1]) and ``focus``."""
    for name, value in (("max_sentences", max_sentences), ("max_words", max_words)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Integral)):
            raise TypeError(f"{name} must be an int or None, got {type(value).__name__} {value!r}")
    if ratio is not None and (isinstance(ratio, bool) or not isinstance(ratio, numbers.Real)):
        raise TypeError(f"ratio must be a number or None, got {type(ratio).__name__} {ratio!r}")
    if focus is not None and not isinstance(focus, str):
        raise TypeError(f"focus must be a string or None, got {type(focus).__name__} {focus!r}")
    given = [x for x in (max_sentences, max_words, ratio) if x is not None]
    if len(given) > 1:
        raise ValueError("give only one of max_sentences, max_words and ratio")
    if max_sentences is not None and max_sentences < 1:
        raise ValueError(f"max_sentences must be >= 1, got {max_sentences}")
    if max_words is not None and max_words < 1:
        raise ValueError(f"max_words must be >= 1, got {max_words}")
    if ratio is not None and not 0.0 < ratio <= 1.0:
        raise ValueError(f"ratio must lie in (0, 1], got {ratio}")


def select(
    sentences: Sequence[str],
    scores: np.ndarray,
    max_sentences: int | None = None,
    max_words: int | None = None,
    redundancy: str = "trigram",
    embeddings: np.ndarray | None = None,
    mmr_lambda: float = 0.7,
) -> list[int]:
    """Indices of the chosen sentences in document order.

    Sentences are taken best score first; with ``max_words`` a sentence that would overflow the
    budget is skipped (the first one is always taken). ``redundancy`` is ``trigram`` (skip a
    sentence sharing a trigram with the summary), ``mmr`` (maximal marginal relevance on
    ``embeddings``) or ``none``.

    >>> select(["a b c", "d e f", "g h i"], np.array([0.1, 0.9, 0.5]), max_sentences=2)
    [1, 2]
    """
    n = len(sentences)
    if n == 0:
        return []
    if max_sentences is None and max_words is None:
        max_sentences = 3
    limit = min(max_sentences, n) if max_sentences is not None else n
    words = [len(s.split()) for s in sentences]
    if redundancy == "mmr" and embeddings is not None:
        return _select_mmr(words, scores, limit, max_words, embeddings, mmr_lambda)
    # Best score first in one pass: a sentence skipped once (over the word budget, or sharing a trigram
    # with the summary) stays skipped, since the summary only grows.
    chosen: list[int] = []
    used_words = 0
    seen: set[tuple[str, ...]] = set()
    for i in sorted(range(n), key=lambda i: -scores[i]):
        if len(chosen) >= limit:
            break
        if max_words is not None and chosen and used_words + words[i] > max_words:
            continue
        grams = _trigrams(sentences[i]) if redundancy == "trigram" else set()
        if chosen and grams & seen:
            continue
        chosen.append(i)
        used_words += words[i]
        seen |= grams
    return sorted(chosen)


def _select_mmr(
    words: Sequence[int],
    scores: np.ndarray,
    limit: int,
    max_words: int | None,
    embeddings: np.ndarray,
    mmr_lambda: float,
) -> list[int]:
    """Maximal marginal relevance: each pick maximises ``lambda * z(score) - (1 - lambda) * 3 * max
    similarity to the summary``; the similarity to the summary is kept as it grows (linear per pick)."""
    n = len(words)
    emb = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-9)
    z = (scores - scores.mean()) / (scores.std() + 1e-9)
    closest = np.full(n, -np.inf)
    open_ = np.ones(n, dtype=bool)
    chosen: list[int] = []
    used_words = 0
    while len(chosen) < limit and open_.any():
        value = mmr_lambda * z - (1 - mmr_lambda) * 3 * (closest if chosen else 0.0)
        value = np.where(open_, value, -np.inf)
        pick = int(np.argmax(value))
        open_[pick] = False
        if max_words is not None and chosen and used_words + words[pick] > max_words:
            continue  # over the budget now and for good
        chosen.append(pick)
        used_words += words[pick]
        closest = np.maximum(closest, emb @ emb[pick])
    return sorted(chosen)


def summary_result(
    sents: Sequence[Sentence],
    scores: np.ndarray,
    max_sentences: int | None,
    max_words: int | None,
    ratio: float | None,
    redundancy: str,
    embed: Callable[[list[str]], np.ndarray] | None = None,
) -> dict[str, Any]:
    """Choose sentences under the budget and build the public result
    ``{"summary", "sentences": [{"index", "text", "start", "end", "score"}]}`` in document order.
    ``embed`` (texts to embeddings) is needed only for MMR.
    """
    texts = [s.text for s in sents]
    words = budget_in_words(sum(len(t.split()) for t in texts), max_words, ratio)
    emb = None
    if redundancy == "mmr":
        if embed is None:
            raise ValueError("MMR needs sentence embeddings")
        emb = embed(texts)
    chosen = select(texts, scores, max_sentences, words, redundancy, emb)
    picked: list[dict[str, Any]] = [
        {
            "index": i,
            "text": sents[i].text,
            "start": sents[i].start,
            "end": sents[i].end,
            "score": round(float(scores[i]), 4),
        }
        for i in chosen
    ]
    return {"summary": " ".join(str(p["text"]) for p in picked), "sentences": picked}


def summarize_document(
    doc: str,
    config: dict[str, Any],
    score: Callable[[list[str], str, float, bool, str | None], np.ndarray],
    embed: Callable[[list[str]], np.ndarray],
    max_sentences: int | None,
    max_words: int | None,
    ratio: float | None,
    focus: str | None,
) -> dict[str, Any]:
    """One document's extractive summary, shared by the torch model and the runtime: split it, score
    its sentences against the intent prompt (``score(texts, prompt, extra_relevance, dialogue, focus)``), and choose
    under the budget. ``config`` is a :class:`~stage2.summarization.config.SummarizerConfig` dict.
    """
    sents = split_sentences(doc)
    if not sents:
        return {"summary": "", "sentences": []}
    focus = (focus or "").strip() or None  # blank: no focus
    boost = float(config["focus_weight"]) if focus else 0.0
    dialogue = is_dialogue(doc)
    scores = score([s.text for s in sents], intent_prompt(config, dialogue, focus), boost, dialogue, focus)
    return summary_result(sents, scores, max_sentences, max_words, ratio, config["redundancy"], embed)
