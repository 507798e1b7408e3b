"""Activation smoothing before dynamic int8 quantisation (SmoothQuant, Xiao et al. 2023, arXiv 2211.10438).

Dynamic int8 quantises each activation tensor with one scale, so a few input channels with large values
(BERT-style encoders have them in their layer-norm outputs) leave the other channels a handful of int8
steps. Smoothing divides input channel ``j`` of a linear layer by ``s_j = max|x_j|^alpha / max|w_j|^(1-alpha)``
and multiplies the weights' column ``j`` by ``s_j``: the float32 function is unchanged, and the activation
range is spread onto the weights, which int8 quantises per output channel. The division is an explicit
multiplication in the graph (one per attention block and one per feed-forward block), because the
layer-norm output it applies to also feeds the residual path.

Only the query/key/value projections (one shared scale, as they read the same input) and the feed-forward
input projection are smoothed: smoothing the feed-forward output projection (input after GELU) made the
int8 error larger on CoNLL-2003 dev in our measurements.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

logger = logging.getLogger(__name__)

DEFAULT_ALPHA = 0.5
"""Migration strength: how much of the activations' range moves onto the weights (0 would move the
weights' range onto the activations; :func:`stage2.export.export` treats 0 as no smoothing)."""

_ATTENTION_INPUTS = (("query", "key", "value"), ("q", "k", "v"))
_FEED_FORWARD_INPUTS = ("intermediate.dense",)


class _ScaledInput(nn.Module):
    """``linear(x / s)``, with ``s`` already folded into the linear layer's weights."""

    def __init__(self, linear: nn.Linear, inverse: torch.Tensor) -> None:
        super().__init__()
        self.linear = linear
        self.inverse: torch.Tensor
        self.register_buffer("inverse", inverse)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x * self.inverse)


def smoothing_groups(encoder: nn.Module) -> dict[str, list[str]]:
    """``{module that reads the input: [linear layers that share it]}`` for the encoder's attention
    projections (pre-hooked on their parent) and feed-forward input projections; empty for an
    architecture whose layer names are not recognised.
    """
    groups: dict[str, list[str]] = {}
    for name, module in encoder.named_modules():
        children = dict(module.named_children())
        for names in _ATTENTION_INPUTS:
            if all(isinstance(children.get(n), nn.Linear) for n in names):
                groups[name] = [f"{name}.{n}" if name else n for n in names]
        if isinstance(module, nn.Linear) and name.endswith(_FEED_FORWARD_INPUTS):
            groups[name] = [name]
    return groups


def smooth_encoder(encoder: nn.Module, calibrate: Callable[[], Any], alpha: float = DEFAULT_ALPHA) -> dict[str, Any]:
    """Smooth ``encoder`` in place (use a copy: its graph gets extra multiplications) from the
    activations seen while ``calibrate()`` runs the model on typical inputs; returns what was done.

    >>> smoothed = copy.deepcopy(model)
    >>> smooth_encoder(smoothed.encoder, lambda: smoothed.predict_words(sentences, batch_size=1))
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    groups = smoothing_groups(encoder)
    linears: dict[str, nn.Linear] = {}
    for names in groups.values():
        for n in names:
            module = encoder.get_submodule(n)
            assert isinstance(module, nn.Linear)
            linears[n] = module
    peaks = {n: torch.zeros(lin.in_features) for n, lin in linears.items()}

    def record(name: str) -> Callable[..., None]:
        def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
            x = inputs[0].detach().float().abs().reshape(-1, inputs[0].shape[-1])
            peaks[name] = torch.maximum(peaks[name], x.amax(0).cpu())

        return hook

    hooks = [lin.register_forward_hook(record(n)) for n, lin in linears.items()]
    try:
        with torch.no_grad():
            calibrate()
    finally:
        for h in hooks:
            h.remove()
    if linears and not any(bool(p.any()) for p in peaks.values()):
        raise ValueError("calibration did not run the encoder: no activations were seen")
    for owner, names in groups.items():
        weight_peak = torch.stack([linears[n].weight.detach().float().abs().amax(0).cpu() for n in names]).amax(0)
        scale = peaks[names[0]].clamp(min=1e-5) ** alpha / weight_peak.clamp(min=1e-5) ** (1.0 - alpha)
        scale = scale.clamp(min=1e-2, max=1e2)
        with torch.no_grad():
            for n in names:
                w = linears[n].weight
                w.mul_(scale.to(w.device, w.dtype)[None, :])
        inverse = (1.0 / scale).to(linears[names[0]].weight.device)
        if len(names) == 1:
            parent, _, attr = owner.rpartition(".")
            setattr(encoder.get_submodule(parent), attr, _ScaledInput(linears[owner], inverse))
        else:
            encoder.get_submodule(owner).register_forward_pre_hook(_scale_hidden_states(inverse), with_kwargs=True)
    if not groups:
        logger.warning("no attention or feed-forward projections recognised: int8 export without smoothing")
    return {"method": "SmoothQuant", "alpha": alpha, "smoothed": sorted(linears)}


def _scale_hidden_states(inverse: torch.Tensor) -> Callable[..., Any]:
    def pre_hook(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if args:
            return (args[0] * inverse, *args[1:]), kwargs
        if "hidden_states" in kwargs:
            return args, {**kwargs, "hidden_states": kwargs["hidden_states"] * inverse}
        return None  # an input under another name: left alone, and the exporter's exactness check notices

    return pre_hook
