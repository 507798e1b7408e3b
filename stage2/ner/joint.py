"""Joint label reading: the label prompts are read before the text, in one encoder sequence.

``[CLS] [MASK] person [MASK] political party [SEP] words of the window [SEP]``: every word attends to
every label and back (GLiNER-style), so whether a word is an entity can depend on what was asked for.
Each label's vector averages its marker and prompt positions. Label sets too long to sit beside a
window are read in several passes. Shared by the torch model and the torch-free runtime.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

JOINT_MARGIN = 3
"""Positions a joint sequence leaves unused below the encoder's limit: the prefix's [SEP] and room for
encoders that offset positions (RoBERTa counts from 2)."""


class JointPrefix:
    """One pass's label prefix: its subword ids (each label's marker and prompt, then [SEP]), the
    ``(start, end)`` positions each label averages over, and the indices of the labels it holds."""

    def __init__(self, ids: list[int], spans: list[tuple[int, int]], labels: list[int]) -> None:
        self.ids = ids
        self.spans = spans
        self.labels = labels
        self._pool: np.ndarray | None = None

    def pool_matrix(self) -> np.ndarray:
        """``[L, P]``: row j averages label j's positions of the prefix (built once: prefixes are cached
        per label set and read on every batch)."""
        if self._pool is None:
            pool = np.zeros((len(self.spans), len(self.ids)), dtype=np.float32)
            for j, (start, end) in enumerate(self.spans):
                pool[j, start:end] = 1.0 / (end - start)
            self._pool = pool
        return self._pool


def joint_budget(max_positions: int, max_length: int) -> int:
    """Subwords a label prefix may take beside a window of ``max_length`` in an encoder of
    ``max_positions`` positions."""
    budget = max_positions - max_length - JOINT_MARGIN
    if budget < 3:
        raise ValueError(
            f"joint label reading needs room for label prompts: max_length {max_length} leaves {budget} of the "
            f"encoder's {max_positions} positions (lower max_length)"
        )
    return budget


def joint_prefixes(prompts: Sequence[Sequence[int]], marker: int, sep: int, budget: int) -> list[JointPrefix]:
    """Tokenised label prompts as prefixes of at most ``budget`` subwords, in label order. A prompt
    longer than the budget alone is cut to fit (the caller warns)."""
    chunks: list[JointPrefix] = []
    ids: list[int] = []
    spans: list[tuple[int, int]] = []
    members: list[int] = []
    for j, prompt in enumerate(prompts):
        piece = [marker, *list(prompt)[: budget - 2]]
        if ids and len(ids) + len(piece) + 1 > budget:
            chunks.append(JointPrefix([*ids, sep], spans, members))
            ids, spans, members = [], [], []
        spans.append((len(ids), len(ids) + len(piece)))
        ids.extend(piece)
        members.append(j)
    if members:
        chunks.append(JointPrefix([*ids, sep], spans, members))
    return chunks


def special_ids(tokenizer: Any) -> dict[str, int]:
    """The special token ids a model reads (``cls``, ``sep``, ``pad``, ``unk`` and ``mask``, the label
    marker), with the fallbacks of tokenizers that lack some: chosen here once, so the torch model and
    an export (which records them) read the same ids."""

    def first(*ids: int | None) -> int:
        return next(int(i) for i in (*ids, 0) if i is not None)

    return {
        "cls": first(tokenizer.cls_token_id, tokenizer.bos_token_id),
        "sep": first(tokenizer.sep_token_id, tokenizer.eos_token_id),
        "pad": first(tokenizer.pad_token_id),
        "unk": first(tokenizer.unk_token_id),
        "mask": first(tokenizer.mask_token_id, tokenizer.sep_token_id, tokenizer.eos_token_id),
    }


class PrefixCache:
    """Label prefixes per label set (a label set is read on every batch; its prefixes are built once).
    Bounded and safe to share between threads; one per model, torch or runtime."""

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._cache: dict[tuple[str, ...], list[JointPrefix]] = {}
        self._lock = threading.Lock()

    def __reduce__(self) -> tuple[type[PrefixCache], tuple[int]]:
        """A copy (``copy.deepcopy`` of a model, pickling for Ray) starts empty: locks do not copy."""
        return PrefixCache, (self.size,)

    def get(
        self,
        prompts: Sequence[str],
        tokenize: Callable[[list[str]], list[list[int]]],
        special: dict[str, int],
        budget: int,
    ) -> list[JointPrefix]:
        """The prefixes of ``prompts`` (tokenised by ``tokenize`` on a miss) for ``special`` ids and a
        ``budget`` of subwords; a prompt too long for the budget is cut, with a warning."""
        key = tuple(prompts)
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None:
            return cached
        ids = tokenize(list(prompts))
        too_long = [p for p, i in zip(prompts, ids, strict=True) if len(i) + 2 > budget]
        if too_long:
            logger.warning("label prompts longer than %d subwords are cut to it: %s", budget - 2, too_long)
        prefixes = joint_prefixes(ids, special["mask"], special["sep"], budget)
        with self._lock:
            if len(self._cache) >= self.size:
                self._cache.clear()
            self._cache[key] = prefixes
        return prefixes
