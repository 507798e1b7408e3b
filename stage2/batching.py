"""Batching of variable-length inputs (pure Python), shared by the torch models and the runtime."""

from __future__ import annotations

from collections.abc import Sequence


def length_batches(lengths: Sequence[int], batch_size: int, max_tokens: int = 2048) -> list[list[int]]:
    """Indices grouped for padded batches: sorted by length, at most ``batch_size`` items and about
    ``max_tokens`` padded positions each, so short inputs are not padded to a long neighbour's length.
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        if current and (len(current) >= batch_size or (len(current) + 1) * lengths[i] > max_tokens):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches
