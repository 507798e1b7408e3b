"""Joint label reading: the label prompts are read before the text, in one encoder sequence.

``[CLS] [MASK] person [MASK] political party [SEP] words of the window [SEP]``: every word attends to
every label and back (GLiNER-style), so whether a word is an entity can depend on what was asked for.
Each label's vector averages its marker and prompt positions. Label sets too long to sit beside a
window are read in several passes. Shared by the torch model and the torch-free runtime.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

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
