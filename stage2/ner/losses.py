"""The training losses of NER tag logits ``[B, T, 1 + 2L]``: against gold tags, and against a teacher's logits
(knowledge distillation), for softmax and sigmoid scoring alike."""

from __future__ import annotations

import torch

from stage2.ner.config import Scoring

__all__ = ["distillation_loss", "tag_loss"]


def tag_loss(logits: torch.Tensor, gold: torch.Tensor, scoring: str) -> torch.Tensor:
    """Training loss of tag logits ``[B, T, 1 + 2L]`` against gold tags ``[B, T]`` (-100: ignored).

    ``softmax``: cross-entropy over all tags. ``sigmoid``: every B/I column is a yes/no question of
    its own (binary cross-entropy, summed over the columns, averaged over the words); O is no column.
    """
    flat, target = logits.reshape(-1, logits.shape[-1]), gold.reshape(-1)
    if scoring != Scoring.SIGMOID.value:
        return torch.nn.functional.cross_entropy(flat, target, ignore_index=-100)
    keep = target != -100
    if not bool(keep.any()):
        return flat.sum() * 0.0
    flat, target = flat[keep], target[keep]
    onehot = torch.nn.functional.one_hot(target, flat.shape[-1]).to(flat.dtype)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(flat[:, 1:], onehot[:, 1:], reduction="none")
    return bce.sum(-1).mean()


def distillation_loss(
    student: torch.Tensor,
    teacher: torch.Tensor,
    mask: torch.Tensor,
    temperature: float,
    scoring: str = Scoring.SOFTMAX.value,
) -> torch.Tensor:
    """``T^2 * KL(teacher || student)`` at temperature ``T``, averaged over the positions in ``mask`` (the
    words' first subwords).

    ``softmax``: KL of the tag distributions. ``sigmoid``: every B/I column is a yes/no question of its own,
    so the KL of each column's Bernoulli distribution, summed over the columns (O is no column).
    """
    t = temperature
    if scoring == Scoring.SIGMOID.value:
        s_logit, t_logit = student[mask][:, 1:].float() / t, teacher[mask][:, 1:].float() / t
        if not s_logit.numel():
            return student.sum() * 0.0
        target = torch.sigmoid(t_logit)
        bce = torch.nn.functional.binary_cross_entropy_with_logits
        # KL(q || p) = cross-entropy(q, p) - entropy(q): zero exactly when the student matches
        kl = bce(s_logit, target, reduction="none") - bce(t_logit, target, reduction="none")
        return kl.sum(-1).mean() * t * t
    log_student = torch.log_softmax(student[mask].float() / t, dim=-1)
    log_teacher = torch.log_softmax(teacher[mask].float() / t, dim=-1)
    kl = (log_teacher.exp() * (log_teacher - log_student)).sum(-1)
    return kl.mean() * t * t if kl.numel() else student.sum() * 0.0
