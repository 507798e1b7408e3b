"""The few array operations numpy and torch spell differently, picked by the argument's type.

A head's math (:mod:`stage2.ner.head`, :mod:`stage2.summarization.head`) is written once against what numpy
arrays and torch tensors share (``@``, ``*``, ``+``, indexing, ``swapaxes``, ``reshape``, ``mean``) and these
helpers: on tensors they call torch, so training keeps its gradients; on arrays, numpy, so the runtime stays
torch-free. This module never imports torch: a tensor argument means torch is loaded already.
"""

from __future__ import annotations

import sys
from typing import Any, TypeAlias

import numpy as np

Array: TypeAlias = Any
"""A numpy array or a torch tensor."""


def is_tensor(x: Array) -> bool:
    """Whether ``x`` is a torch tensor (or parameter), told without importing torch.

    >>> is_tensor(np.zeros(2))
    False
    """
    return type(x).__module__.partition(".")[0] == "torch"


def namespace(x: Array) -> Any:
    """The module whose functions take ``x``: ``torch`` for tensors, else ``numpy``; both accept
    ``stack``/``concatenate``/``exp``/``clip`` with ``axis=``.

    >>> namespace(np.zeros(2)).__name__
    'numpy'
    """
    return sys.modules["torch"] if is_tensor(x) else np


def unit(x: Array) -> Array:
    """``x`` over its length along the last axis (at least 1e-12), as ``torch.nn.functional.normalize``.

    >>> unit(np.array([3.0, 4.0])).tolist()
    [0.6, 0.8]
    """
    if is_tensor(x):
        return sys.modules["torch"].nn.functional.normalize(x, dim=-1)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def linear(x: Array, weight: Array, bias: Array) -> Array:
    """``x @ weight.T + bias``, as ``torch.nn.Linear`` (which it calls on tensors).

    >>> linear(np.ones((1, 2)), np.eye(2), np.array([0.0, 1.0])).tolist()
    [[1.0, 2.0]]
    """
    if is_tensor(x):
        return sys.modules["torch"].nn.functional.linear(x, weight, bias)
    return x @ weight.T + bias


def gelu(x: Array) -> Array:
    """Exact (erf) GELU, as ``torch.nn.GELU()`` (which it calls on tensors); in numpy erf comes from
    Abramowitz and Stegun 7.1.26 (error < 2e-7).

    >>> float(gelu(np.array(0.0)))
    0.0
    """
    if is_tensor(x):
        return sys.modules["torch"].nn.functional.gelu(x)
    z = np.abs(x) / np.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    erf = np.sign(x) * (1.0 - poly * np.exp(-z * z))
    return 0.5 * x * (1.0 + erf)


def to_numpy(x: Array) -> np.ndarray:
    """A float32 numpy copy of a tensor (detached: what is computed from it gets no gradient); arrays as they are.

    >>> to_numpy(np.zeros(2)).shape
    (2,)
    """
    return x.detach().float().cpu().numpy() if is_tensor(x) else np.asarray(x)


def like(values: np.ndarray, x: Array) -> Array:
    """``values`` as an array of ``x``'s kind, dtype and device (a constant: no gradient).

    >>> like(np.ones(2), np.zeros(2, dtype=np.float32)).dtype
    dtype('float32')
    """
    if is_tensor(x):
        return sys.modules["torch"].from_numpy(values).to(device=x.device, dtype=x.dtype)
    return values.astype(x.dtype, copy=False)
