"""Tracing the graph to ONNX and writing the runtime's files (graph, ``head.npz``, tokenizer,
``stage2_export.json``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stage2._version import __version__
from stage2.export.spec import ExportSpec
from stage2.formats import EXPORT_FORMAT
from stage2.registry import EXPORT_CONFIG

OPSET = 17
FP32_GRAPH = "model.fp32.onnx"
GRAPH = "model.onnx"


class ExportError(ValueError):
    """The export failed a check (parity or the quantised task metric)."""


def save_tokenizer(spec: ExportSpec, folder: Path) -> None:
    """Write the model's tokenizer; the runtime needs its fast version (``tokenizer.json``)."""
    spec.model.tokenizer.save_pretrained(str(folder))
    if not (folder / "tokenizer.json").exists():
        raise ExportError("the model's tokenizer has no fast (tokenizers) version; the runtime needs tokenizer.json")


def trace(spec: ExportSpec, source: Any, path: Path) -> None:
    """Trace ``source`` (the model or its smoothed copy) to an ONNX graph at ``path`` (dynamic batch and
    sequence axes) and check it."""
    import onnx

    inputs = spec.sample_inputs()
    dynamic = {name: {0: "batch", 1: "sequence"} for name in inputs}
    for name in spec.outputs:
        dynamic[name] = {0: "batch"} if name == "pooled" else {0: "batch", 1: "sequence"}
    graph = spec.graph(source)
    with torch.no_grad():
        torch.onnx.export(
            graph,
            tuple(inputs.values()),
            str(path),
            input_names=list(inputs),
            output_names=spec.outputs,
            dynamic_axes=dynamic,
            opset_version=OPSET,
            dynamo=False,
            do_constant_folding=True,
        )
    source.eval()  # the exporter leaves the module in training mode (dropout on)
    spec.model.eval()
    onnx.checker.check_model(str(path))


def write_head(spec: ExportSpec, folder: Path) -> None:
    """The numpy head weights (``head.npz``)."""
    np.savez(folder / "head.npz", **spec.head_arrays())  # type: ignore[arg-type]


def write_config(spec: ExportSpec, folder: Path, graph: str, quantization: str) -> None:
    """``stage2_export.json``: what the runtime reads to run ``graph``."""
    meta = {
        "format": EXPORT_FORMAT,
        "task": spec.task,
        "onnx": graph,
        "head": "head.npz",
        "quantization": quantization,
        "special": spec.special_ids(),
        "model_config": spec.model.config.to_dict(),
        "stage2_version": __version__,
    }
    (folder / EXPORT_CONFIG).write_text(json.dumps(meta, indent=2), encoding="utf-8")


def runtime(spec: ExportSpec, folder: Path, threads: int | None) -> Any:
    """The export in ``folder`` loaded by the torch-free runtime (CPU)."""
    from stage2.runtime import NERRuntime, SummarizerRuntime

    cls = NERRuntime if spec.task == "ner" else SummarizerRuntime
    return cls(folder, threads=threads, provider="CPUExecutionProvider")
