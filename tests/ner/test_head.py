"""stage2.ner.head: the label-semantic and linear heads' math, one function for torch (with gradients) and numpy."""

from __future__ import annotations

import numpy as np
import torch

from stage2.ner.head import (
    MAX_SCALE,
    label_scores,
    label_vectors,
    linear_columns,
    merge_passes,
    prefix_label_vectors,
    tag_scale,
)


def _arrays(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    shapes = {"outside": (2, 5), "begin": (2, 5, 4), "inside": (2, 5, 4), "pooled": (3, 6), "hidden": (2, 9, 6)}
    shapes |= {"weight": (4, 6), "bias": (4,), "tag_bias": (2,)}
    return {k: rng.normal(size=s).astype(np.float32) for k, s in shapes.items()}


def _both(fn, *args):
    """``fn`` on numpy arrays and on tensors (as numpy): they must agree."""
    got = np.asarray(fn(*args))
    want = fn(*(torch.from_numpy(a) if isinstance(a, np.ndarray) else a for a in args))
    assert isinstance(got, np.ndarray) and got.dtype == np.float32 and got.shape == tuple(want.shape)
    return got, want.detach().numpy()


def test_label_semantic_head_gives_the_same_on_numpy_and_torch():
    a = _arrays()
    pool = np.array([[0.5, 0.5, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], dtype=np.float32)  # 3 labels, 4-subword prefix
    for fn, args in (
        (label_vectors, (a["pooled"], a["weight"], a["bias"])),
        (lambda *x: prefix_label_vectors(pool, *x), (a["hidden"], a["weight"], a["bias"])),
        (tag_scale, (np.array(5.0, dtype=np.float32),)),
    ):
        got, want = _both(fn, *args)
        assert np.abs(got - want).max() < 1e-6
    labels = label_vectors(a["pooled"], a["weight"], a["bias"])
    joint = prefix_label_vectors(pool, a["hidden"], a["weight"], a["bias"])
    for lab in (labels, joint):  # one label set, or one per row (joint reading)
        got, want = _both(label_scores, a["outside"], a["begin"], a["inside"], lab, 20.0, a["tag_bias"])
        assert got.shape == (2, 5, 7) and np.abs(got - want).max() < 1e-5
    assert np.allclose(got[..., 0], a["outside"]) and np.allclose(
        got[1, :, 3], a["begin"][1] @ joint[1, 1] * 20.0 + a["tag_bias"][0], atol=1e-5
    )
    merged, want = _both(lambda x, y: merge_passes([x, y]), got, got[..., :3])
    assert merged.shape == (2, 5, 9) and np.array_equal(merged, want)
    assert np.allclose(merged[..., 0], a["outside"]) and np.array_equal(merged[..., 7:], got[..., 1:3])
    assert float(tag_scale(np.array(9.0))) == MAX_SCALE


def test_torch_path_keeps_gradients():
    a = {k: torch.from_numpy(v).requires_grad_() for k, v in _arrays().items()}
    logit_scale = torch.tensor(3.0, requires_grad=True)
    labels = label_vectors(a["pooled"], a["weight"], a["bias"])
    label_scores(a["outside"], a["begin"], a["inside"], labels, tag_scale(logit_scale), a["tag_bias"]).sum().backward()
    assert all(a[k].grad is not None for k in ("weight", "bias", "begin", "tag_bias")) and logit_scale.grad is not None


def test_linear_columns_select_o_then_b_i_of_each_label():
    assert linear_columns([1, 0]) == [0, 3, 4, 1, 2]
    assert linear_columns([]) == [0]
