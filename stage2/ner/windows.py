"""Encoder windows for NER, shared by the torch model and the ONNX runtime (pure Python): word
case shapes, splitting long sentences into overlapping windows, and document context.

A sentence becomes one or more windows of at most ``max_length`` subwords (specials included).
When a sentence fits in one window and the caller gives the words around it (the neighbouring
sentences of its document), up to ``max_context`` subwords of that context are added on each side
as unlabelled input: the encoder sees them, the head scores only the sentence's own words.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

NUM_SHAPES = 7
"""Word shape classes: 0 none (special tokens, labels), 1 lower, 2 Title, 3 UPPER, 4 mIxed, 5 digit, 6 symbol."""


@functools.lru_cache(maxsize=1 << 16)  # words repeat a lot; a serving process sees the same ones again
def word_shape(word: str) -> int:
    """The case-shape class of a word (see :data:`NUM_SHAPES`).

    >>> [word_shape(w) for w in ["ada", "Ada", "NASA", "iPhone", "2024", ","]]
    [1, 2, 3, 4, 5, 6]
    """
    if any(ch.isdigit() for ch in word):
        return 5
    letters = [ch for ch in word if ch.isalpha()]
    if not letters:
        return 6
    if all(ch.islower() for ch in letters):
        return 1
    if all(ch.isupper() for ch in letters):
        return 3 if len(letters) > 1 else 2
    if letters[0].isupper() and all(ch.islower() for ch in letters[1:]):
        return 2
    return 4


def make_windows(subword_counts: Sequence[int], max_subwords: int, overlap: int) -> list[tuple[int, int]]:
    """Split a sentence into word windows ``[start, end)`` of at most ``max_subwords`` subwords,
    consecutive windows sharing up to ``overlap`` words. Every word is in at least one window.

    >>> make_windows([1] * 10, 4, 1)
    [(0, 4), (3, 7), (6, 10)]
    """
    n = len(subword_counts)
    if n == 0:
        return []
    windows: list[tuple[int, int]] = []
    start = 0
    while True:
        end, total = start, 0
        while end < n and (total + subword_counts[end] <= max_subwords or end == start):
            total += subword_counts[end]
            end += 1
        windows.append((start, end))
        if end >= n:
            return windows
        start = max(end - min(overlap, (end - start) // 2), start + 1)  # always advance by half a window


Context = tuple[Sequence[str], Sequence[str]]
"""Words before and after a sentence (its neighbours in the document)."""


@dataclass
class Window:
    """One encoder input: a slice ``[start, end)`` of a sentence's words turned into subword ids."""

    example: int
    start: int
    end: int
    input_ids: list[int]
    shape_ids: list[int]
    first_subword: list[int]  # position of each word's first subword in input_ids


def _context_ids(
    pieces: Sequence[Sequence[int]], words: Sequence[str], budget: int, from_end: bool
) -> tuple[list[int], list[int]]:
    """Whole context words, nearest to the sentence first, until ``budget`` subwords are used."""
    ids: list[list[int]] = []
    shapes: list[list[int]] = []
    used = 0
    order = range(len(pieces) - 1, -1, -1) if from_end else range(len(pieces))
    for w in order:
        if used + len(pieces[w]) > budget:
            break
        used += len(pieces[w])
        ids.append(list(pieces[w]))
        shapes.append([word_shape(words[w])] * len(pieces[w]))
    if from_end:
        ids.reverse()
        shapes.reverse()
    return [i for p in ids for i in p], [s for p in shapes for s in p]


def build_windows(
    index: int,
    words: Sequence[str],
    pieces: Sequence[Sequence[int]],
    *,
    max_length: int,
    overlap: int,
    cls_id: int,
    sep_id: int,
    left: tuple[Sequence[str], Sequence[Sequence[int]]] | None = None,
    right: tuple[Sequence[str], Sequence[Sequence[int]]] | None = None,
    max_context: int = 0,
) -> list[Window]:
    """Windows covering every word of a sentence, from each word's subword ids ``pieces``.

    ``left``/``right`` are ``(words, pieces)`` of the text before and after the sentence; they are
    used only when the sentence fits in one window, never beyond ``max_context`` subwords a side.
    """
    budget = max_length - 2
    pieces = [list(p[:budget]) for p in pieces]  # a single word longer than a window keeps its head
    shapes = [word_shape(w) for w in words]
    spans = make_windows([len(p) for p in pieces], budget, overlap)
    left_ids: list[int] = []
    left_shapes: list[int] = []
    right_ids: list[int] = []
    right_shapes: list[int] = []
    if len(spans) == 1 and max_context > 0 and (left or right):
        room = budget - sum(len(p) for p in pieces)
        if left:
            left_ids, left_shapes = _context_ids(left[1], left[0], min(max_context, room // 2 if right else room), True)
        if right:
            right_ids, right_shapes = _context_ids(right[1], right[0], min(max_context, room - len(left_ids)), False)
    out = []
    for start, end in spans:
        ids, shp, first = [cls_id, *left_ids], [0, *left_shapes], []
        for w in range(start, end):
            first.append(len(ids))
            ids.extend(pieces[w])
            shp.extend([shapes[w]] * len(pieces[w]))
        ids.extend([*right_ids, sep_id])
        shp.extend([*right_shapes, 0])
        out.append(Window(index, start, end, ids, shp, first))
    return out


def sentence_windows(
    index: int,
    words: Sequence[str],
    subwords: Callable[[Sequence[str]], list[list[int]]],
    *,
    max_length: int,
    overlap: int,
    max_context: int,
    cls_id: int,
    sep_id: int,
    context: tuple[Sequence[str], Sequence[str]] | None = None,
) -> list[Window]:
    """:func:`build_windows` for a sentence given a word-to-subwords function and an optional
    ``context`` (words before, words after).
    """
    left = right = None
    if context is not None and max_context > 0:
        before = list(context[0])[-max_context:]  # a subword budget never needs more words than subwords
        after = list(context[1])[:max_context]
        left = (before, subwords(before)) if before else None
        right = (after, subwords(after)) if after else None
    return build_windows(
        index,
        words,
        subwords(words),
        max_length=max_length,
        overlap=overlap,
        cls_id=cls_id,
        sep_id=sep_id,
        left=left,
        right=right,
        max_context=max_context,
    )
