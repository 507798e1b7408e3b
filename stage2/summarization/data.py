"""Summarisation data: readers (JSON lines with ``document`` and ``summary``, ``datasets.Dataset``),
greedy ROUGE-oracle sentence labels, and length budgets. Pure Python (rouge-score, no torch).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stage2.io import DataError, iter_jsonl
from stage2.summarization.segmenting import Sentence, split_sentences


@dataclass
class SummaryExample:
    """A document, its reference summary (may be empty at predict time), where it came from, and the
    question the summary answers (``focus``: None for a general summary, e.g. a QMSum query)."""

    document: str
    summary: str = ""
    source: str = ""
    sentences: list[Sentence] = field(default_factory=list)
    focus: str | None = None

    def __post_init__(self) -> None:
        if not self.sentences:
            self.sentences = split_sentences(self.document)


def read_summarization_jsonl(
    path: str | Path, document_field: str = "document", summary_field: str = "summary"
) -> list[SummaryExample]:
    """Read JSON lines (optionally gzipped) with a document and a summary per line, and an optional
    ``focus`` (a string, or null/absent for a general summary)."""
    path = Path(path)
    out = [_example(record, where, document_field, summary_field) for where, record in iter_jsonl(path)]
    if not out:
        raise DataError(f"{path}: no examples found (the file is empty)")
    return out


def _example(record: Any, where: str, document_field: str, summary_field: str) -> SummaryExample:
    if not isinstance(record, dict):
        raise DataError(f"{where}: expected a JSON object")
    for name in (document_field, summary_field):
        if name not in record:
            raise DataError(f"{where}: missing field {name!r} (expected {document_field!r} and {summary_field!r})")
        if not isinstance(record[name], str):
            raise DataError(f"{where}: field {name!r} must be a string")
    focus = record.get("focus")
    if focus is not None and not isinstance(focus, str):
        raise DataError(f"{where}: field 'focus' must be a string or null, got {type(focus).__name__}")
    return SummaryExample(record[document_field], record[summary_field], where, focus=focus or None)


def summarization_from_dataset(
    dataset: Iterable[Any], document_field: str = "document", summary_field: str = "summary"
) -> list[SummaryExample]:
    """Convert a ``datasets.Dataset`` (or any iterable of dicts) with document and summary columns."""
    out = [_example(dict(row), f"dataset row {i}", document_field, summary_field) for i, row in enumerate(dataset)]
    if not out:
        raise DataError("the dataset is empty")
    return out


def load_summarization_data(source: Any) -> list[SummaryExample]:
    """Load from a JSON-lines path, a ``datasets.Dataset`` or a list of :class:`SummaryExample`."""
    if isinstance(source, (str, Path)):
        if not Path(source).exists():
            raise FileNotFoundError(f"{source}: no such file")
        return read_summarization_jsonl(source)
    if isinstance(source, list) and source and all(isinstance(e, SummaryExample) for e in source):
        return source
    return summarization_from_dataset(source)


_TOKEN_RE = re.compile(r"[a-z0-9]+")


def _tokens(text: str) -> list[str]:
    return _TOKEN_RE.findall(text.lower())


def _ngrams(tokens: Sequence[str], n: int) -> dict[tuple[str, ...], int]:
    counts: dict[tuple[str, ...], int] = {}
    for i in range(len(tokens) - n + 1):
        gram = tuple(tokens[i : i + n])
        counts[gram] = counts.get(gram, 0) + 1
    return counts


def _f1(overlap: int, pred: int, ref: int) -> float:
    if not overlap or not pred or not ref:
        return 0.0
    p, r = overlap / pred, overlap / ref
    return 2 * p * r / (p + r)


def greedy_oracle(
    sentences: Sequence[str], reference: str, max_sentences: int | None = None, max_words: int | None = None
) -> list[int]:
    """Greedy ROUGE oracle: add the sentence that most raises ROUGE-1 + ROUGE-2 F1 (unstemmed
    n-gram overlap) against the reference, until nothing raises it, ``max_sentences`` are chosen, or
    no remaining sentence fits in ``max_words``. Returns indices in document order.

    >>> greedy_oracle(["the cat sat", "dogs bark loudly", "the cat sat down"], "the cat sat down")
    [2]
    """
    ref_tokens = _tokens(reference)
    ref_grams = [_ngrams(ref_tokens, 1), _ngrams(ref_tokens, 2)]
    sent_tokens = [_tokens(s) for s in sentences]
    chosen: list[int] = []
    best = 0.0
    picked_tokens: list[str] = []
    used_words = 0
    limit = max_sentences if max_sentences is not None else len(sentences)
    while len(chosen) < limit:
        best_i, best_score = -1, best
        for i, toks in enumerate(sent_tokens):
            if i in chosen or not toks:
                continue
            if max_words is not None and chosen and used_words + len(sentences[i].split()) > max_words:
                continue
            cand = picked_tokens + toks
            score = 0.0
            for n, ref in zip((1, 2), ref_grams, strict=True):
                grams = _ngrams(cand, n)
                overlap = sum(min(c, ref.get(g, 0)) for g, c in grams.items())
                score += _f1(overlap, max(1, len(cand) - n + 1), max(1, len(ref_tokens) - n + 1))
            if score > best_score:
                best_i, best_score = i, score
        if best_i < 0:
            break
        chosen.append(best_i)
        picked_tokens += sent_tokens[best_i]
        used_words += len(sentences[best_i].split())
        best = best_score
    return sorted(chosen)


def word_count(text: str) -> int:
    """Whitespace word count."""
    return len(text.split())


def budget_in_words(total_words: int, max_words: int | None, ratio: float | None) -> int | None:
    """The word budget from ``max_words`` or ``ratio`` of the document's words (None: no word budget)."""
    if max_words is not None:
        return max_words
    if ratio is not None:
        return max(1, round(ratio * total_words))
    return None
