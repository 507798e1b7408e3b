"""stage2.arrays: each operation gives the same on numpy arrays and torch tensors, without importing torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stage2.arrays import gelu, is_tensor, like, linear, namespace, to_numpy, unit


def test_operations_agree_on_numpy_and_torch():
    rng = np.random.default_rng(0)
    x, w, b = (rng.normal(size=s).astype(np.float32) for s in ((3, 4), (5, 4), (5,)))
    x[0] = 0.0  # a zero row stays zero
    for op, args in ((unit, (x,)), (linear, (x, w, b)), (gelu, (x * 3,))):
        got = op(*args)
        want = op(*(torch.from_numpy(a) for a in args))
        assert isinstance(got, np.ndarray) and is_tensor(want)
        assert np.allclose(got, want.numpy(), rtol=1e-6, atol=1e-6), op.__name__
    assert namespace(x) is np and namespace(torch.nn.Parameter(torch.from_numpy(x))) is torch


def test_conversions_keep_kind_dtype_and_detach():
    t = torch.ones(2, dtype=torch.float64, requires_grad=True)
    assert to_numpy(t * 2).dtype == np.float32
    assert like(np.arange(2), t).dtype == torch.float64 and not like(np.arange(2), t).requires_grad
    assert like(np.arange(2), np.zeros(1, dtype=np.float32)).dtype == np.float32


@pytest.mark.parametrize("x", [np.zeros(2), 1.5, [1.0]])
def test_non_tensors_are_numpy(x):
    assert not is_tensor(x) and namespace(x) is np
