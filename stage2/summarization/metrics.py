"""Summarisation metrics through rouge-score (F1 with stemming), and the score of a summariser on
reference summaries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

ROUGE_TYPES = ("rouge1", "rouge2", "rougeLsum")


def rouge_scores(references: Sequence[str], predictions: Sequence[str]) -> dict[str, float]:
    """Mean rouge-score F1 (percent) of ``rouge1``, ``rouge2`` and ``rougeLsum`` with stemming.

    ``rougeLsum`` works on sentences separated by newlines; a text without any newline is split
    with stage2's sentence segmenter first (as the usual nltk ``sent_tokenize`` step does).

    >>> rouge_scores(["the cat sat"], ["the cat sat"])["rouge1"]
    100.0
    """
    from rouge_score import rouge_scorer

    if len(references) != len(predictions):
        raise ValueError(f"{len(references)} references but {len(predictions)} predictions")
    if not references:
        raise ValueError("no summaries to score")
    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)
    totals = dict.fromkeys(ROUGE_TYPES, 0.0)
    for ref, pred in zip(references, predictions, strict=True):
        result = scorer.score(_sentence_lines(ref), _sentence_lines(pred))
        for key in ROUGE_TYPES:
            totals[key] += result[key].fmeasure
    return {key: round(100 * totals[key] / len(references), 2) for key in ROUGE_TYPES}


def summary_scores(model: Any, examples: Sequence[Any], budget: dict[str, Any] | None = None) -> dict[str, float]:
    """:func:`rouge_scores` of ``model``'s summaries (torch or runtime; its chosen sentences one per line)
    of ``examples`` (with ``document`` and ``summary``, and ``focus`` if they have one) under ``budget``
    (``summarize`` keyword arguments)."""
    focused = [getattr(e, "focus", None) for e in examples]
    if any(focused):
        preds = [model.summarize(e.document, focus=f, **(budget or {})) for e, f in zip(examples, focused, strict=True)]
    else:
        preds = model.summarize([e.document for e in examples], **(budget or {}))
    hyps = ["\n".join(s["text"] for s in p["sentences"]) if p["sentences"] else p["summary"] for p in preds]
    return rouge_scores([e.summary for e in examples], hyps)


def _sentence_lines(text: str) -> str:
    if "\n" in text.strip():
        return text
    from stage2.summarization.segmenting import split_sentences

    return "\n".join(sent.text for sent in split_sentences(text)) or text
