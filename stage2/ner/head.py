"""The NER heads' math, written once for the torch model (tensors, with gradients) and the torch-free
runtime (numpy arrays, with the weights of ``head.npz``); see :mod:`stage2.arrays`.

The label-semantic head scores unit begin/inside token vectors against unit label vectors (the label
prompts' pooled embeddings, projected): cosine times a learnt scale plus a B/I bias, beside the ``O``
logit. The token side (``O`` logit, unit begin/inside vectors) runs inside the encoder's graph.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from stage2.arrays import Array, like, linear, namespace, unit

MAX_SCALE = 100.0
"""Upper bound of the label-semantic head's cosine scale (``exp(logit_scale)``), as in CLIP."""


def tag_scale(logit_scale: Array) -> Array:
    """The cosine scale ``min(exp(logit_scale), 100)`` of the label-semantic head (``head.npz`` holds it
    as ``logit_scale``, already applied).

    >>> float(tag_scale(np.array(5.0)))
    100.0
    """
    xp = namespace(logit_scale)
    return xp.clip(xp.exp(logit_scale), None, MAX_SCALE)


def label_vectors(pooled: Array, weight: Array, bias: Array) -> Array:
    """Unit label vectors ``[..., L, D]`` from pooled label embeddings ``[..., L, H]`` and the label
    projection (``label_proj.weight`` ``[D, H]``, ``label_proj.bias`` ``[D]``).

    >>> label_vectors(np.ones((2, 3)), np.eye(3), np.zeros(3)).shape
    (2, 3)
    """
    return unit(linear(pooled, weight, bias))


def prefix_label_vectors(pool: np.ndarray, hidden: Array, weight: Array, bias: Array) -> Array:
    """Joint label reading: unit label vectors ``[B, L, D]`` from the hidden states ``[B, T, H]`` of a
    pass whose label prefix (``P`` subwords) follows the first token; ``pool`` ``[L, P]`` averages each
    label's positions (:meth:`stage2.ner.joint.JointPrefix.pool_matrix`).

    >>> prefix_label_vectors(np.ones((1, 2)) / 2, np.ones((1, 4, 3)), np.eye(3), np.zeros(3)).shape
    (1, 1, 3)
    """
    return label_vectors(like(pool, hidden) @ hidden[:, 1 : 1 + pool.shape[1]], weight, bias)


def label_scores(outside: Array, begin: Array, inside: Array, labels: Array, scale: Array, bias: Array) -> Array:
    """Tag logits ``[..., 1 + 2L]`` (``O``, then B and I of each label) from the token outputs (``O``
    logits ``[...]``, unit ``begin``/``inside`` ``[..., D]``), unit label vectors ``[L, D]`` (or
    ``[B, L, D]`` beside ``[B, T, D]``), the cosine scale (:func:`tag_scale`) and the B/I bias ``[2]``.

    >>> label_scores(np.zeros(4), np.ones((4, 2)), np.ones((4, 2)), np.ones((3, 2)), 1.0, np.zeros(2)).shape
    (4, 7)
    """
    xp = namespace(begin)
    flip = labels.swapaxes(-1, -2)
    pair = xp.stack([begin @ flip * scale + bias[0], inside @ flip * scale + bias[1]], axis=-1)
    pair = pair.reshape(*pair.shape[:-2], -1)  # B0, I0, B1, I1, ...
    return xp.concatenate([outside[..., None], pair], axis=-1)


def merge_passes(scores: Sequence[Array]) -> Array:
    """Joint label reading: tag logits over all labels from one pass per label prefix (each ``[..., 1 + 2L_k]``,
    from :func:`label_scores`): every pass gives its labels' columns, and ``O`` is the mean over passes.

    >>> merge_passes([np.zeros((4, 3)), np.ones((4, 5))]).shape
    (4, 7)
    """
    xp = namespace(scores[0])
    outside = xp.stack([s[..., 0] for s in scores]).mean(0)
    return xp.concatenate([outside[..., None], *(s[..., 1:] for s in scores)], axis=-1)


def linear_columns(index: Sequence[int]) -> list[int]:
    """Linear head: the logit columns (``O``, then B/I) of a subset of its labels, by their positions in its
    own label set.

    >>> linear_columns([2, 0])
    [0, 5, 6, 1, 2]
    """
    return [0] + [c for j in index for c in (1 + 2 * j, 2 + 2 * j)]
