"""Batching of encoder windows into padded tensors."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from stage2.ner.windows import Window

IGNORE_INDEX = -100


def collate_windows(
    windows: Sequence[Window], pad_id: int, tags: Sequence[Sequence[int]] | None = None
) -> dict[str, torch.Tensor]:
    """Pad windows to one length. ``tags`` (one tag id per window word) fill ``labels`` at each
    word's first subword; every other position is ``IGNORE_INDEX``.
    """
    length = max(len(w.input_ids) for w in windows)
    n = len(windows)
    input_ids = torch.full((n, length), pad_id, dtype=torch.long)
    mask = torch.zeros((n, length), dtype=torch.long)
    shapes = torch.zeros((n, length), dtype=torch.long)
    labels = torch.full((n, length), IGNORE_INDEX, dtype=torch.long)
    for i, w in enumerate(windows):
        k = len(w.input_ids)
        input_ids[i, :k] = torch.tensor(w.input_ids)
        mask[i, :k] = 1
        shapes[i, :k] = torch.tensor(w.shape_ids)
        if tags is not None:
            labels[i, w.first_subword] = torch.tensor(list(tags[i]), dtype=torch.long)
    batch = {"input_ids": input_ids, "attention_mask": mask, "shape_ids": shapes}
    if tags is not None:
        batch["labels"] = labels
    return batch
