"""Batching of variable-length inputs (pure Python), shared by the torch models and the runtime:
length-grouped batches and chunks of token ids for the encoder."""

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


def chunk_ids(
    ids: list[list[int]], budget: int, cls_id: int, sep_id: int, unk_id: int
) -> tuple[list[list[int]], list[int]]:
    """Encoder inputs of at most ``budget`` subwords (plus specials) covering each text's ``ids``,
    and the text each chunk belongs to: a long sentence is read in pieces, never cut.
    """
    chunks: list[list[int]] = []
    owner: list[int] = []
    for i, seq in enumerate(ids):
        seq = seq or [unk_id]
        for b in range(0, len(seq), budget):
            chunks.append([cls_id, *seq[b : b + budget], sep_id])
            owner.append(i)
    return chunks, owner
