"""What the summariser learns from: greedy ROUGE-oracle sentence labels and the pairwise ranking
loss over them. Shared by full training (:mod:`stage2.summarization.training`) and the few-shot
adaptations (:mod:`~stage2.summarization.adaptation`, :mod:`~stage2.summarization.encoder_adaptation`),
which sit below it."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from stage2.summarization.data import SummaryExample, greedy_oracle

__all__ = ["oracle_labels", "ranking_loss"]


def oracle_labels(examples: Sequence[SummaryExample]) -> list[list[int]]:
    """0/1 per sentence: the greedy ROUGE oracle of each document against its reference."""
    out = []
    for ex in examples:
        texts = [s.text for s in ex.sentences]
        chosen = set(greedy_oracle(texts, ex.summary))
        out.append([1 if i in chosen else 0 for i in range(len(texts))])
    return out


def ranking_loss(logits: torch.Tensor, labels: Sequence[int]) -> torch.Tensor:
    """Pairwise logistic ranking loss of one document: the mean of ``softplus(s_neg - s_pos)`` over
    every (oracle sentence, other sentence) pair; zero (with a graph) when no pair exists.
    """
    target = torch.tensor(labels, dtype=torch.bool, device=logits.device)
    pairs = target[:, None] & ~target[None, :]
    if not bool(pairs.any()):
        return logits.sum() * 0.0
    return torch.nn.functional.softplus(logits[None, :] - logits[:, None])[pairs].mean()
