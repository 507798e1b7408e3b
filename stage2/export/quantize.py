"""int8 and float16 graphs: SmoothQuant before int8, dynamic quantisation, and the search that keeps
the most sensitive matrices in float32 while the dev metric drops too much."""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from stage2.export.convert import runtime
from stage2.export.smoothquant import smooth_encoder
from stage2.export.spec import PARITY_DOCUMENT, PARITY_TEXTS, ExportSpec
from stage2.export.validate import metric, task_metric_key

logger = logging.getLogger(__name__)

QUANTIZATIONS = ("int8", "fp16")
MAX_METRIC_DROP = {"ner": 0.5, "extractive-summarization": 0.3}
"""int8 is refused when the task metric (entity F1, ROUGE-1) drops by more than this."""
SMOOTHING_TOLERANCE = 1e-3
"""Smoothing must leave the float32 outputs this close (max abs difference) or it is not used."""
CALIBRATION_SIZE = 200
"""Dev items (sentences, or documents' sentences) whose activations calibrate int8 smoothing."""


def smoothed_source(spec: ExportSpec, examples: Sequence[Any] | None, alpha: float) -> tuple[Any, dict[str, Any]]:
    """A smoothed copy of the model to trace for int8 and the smoothing report; the model itself when
    smoothing would change its float32 outputs (an architecture whose hooked module uses its input
    elsewhere too)."""
    source = copy.deepcopy(spec.model)
    report = smooth_encoder(source.encoder, _calibration(spec, source, examples), alpha)
    gap = _smoothing_gap(spec, source)
    if gap > SMOOTHING_TOLERANCE:
        logger.warning("smoothing changed this encoder's outputs by %.2e: int8 export without it", gap)
        return spec.model, {**report, "smoothed": [], "skipped": f"not exact ({gap:.2e})"}
    return source, report


def _smoothing_gap(spec: ExportSpec, smoothed: Any) -> float:
    """Max abs difference of the float32 graph outputs of the model and its smoothed copy on the parity texts."""
    model = spec.model
    texts = PARITY_TEXTS if spec.task == "ner" else [PARITY_DOCUMENT]
    batch = model.tokenizer(list(texts), padding=True, truncation=True, max_length=64, return_tensors="pt")
    inputs = [batch["input_ids"], batch["attention_mask"]]
    if spec.task == "ner":
        inputs.append(torch.zeros_like(batch["input_ids"]))
    graphs: list[nn.Module] = [spec.graph(), spec.graph(smoothed)]
    with torch.no_grad():
        mine, theirs = (g(*inputs) for g in graphs)
    mine = mine if isinstance(mine, tuple) else (mine,)
    theirs = theirs if isinstance(theirs, tuple) else (theirs,)
    return max(float((a - b).abs().max()) for a, b in zip(mine, theirs, strict=True))


def _calibration(spec: ExportSpec, model: Any, examples: Sequence[Any] | None) -> Callable[[], Any]:
    """What runs ``model`` on typical inputs for smoothing: dev items (or the parity sample), one at a
    time so that no padding enters their statistics, plus the label or intent prompts the graph encodes
    (the label prompts as one padded batch: a handful of short texts).
    """
    from stage2.ner.data import tokenize_words
    from stage2.summarization.segmenting import split_sentences

    items = list(examples or [])[:CALIBRATION_SIZE]
    if spec.task == "ner":
        sentences = [e.tokens for e in items] or [[w for w, _, _ in tokenize_words(t)] for t in PARITY_TEXTS]
        return lambda: model.predict_words(sentences, spec.labels, batch_size=1)
    documents = [e.document for e in items[:20]] or [PARITY_DOCUMENT]
    texts = [s.text for d in documents for s in split_sentences(d)][: CALIBRATION_SIZE * 5]
    texts += [model.intent_prompt(d) for d in documents]
    return lambda: model.embed(texts, batch_size=1)


def quantize_graph(
    src: Path, dst: Path, kind: str, keep_float32: Sequence[str] = (), embedding_bits: int = 8
) -> list[str]:
    """Write the quantised graph (int8: dynamic, per-channel weights; ``keep_float32`` names nodes
    left alone; ``embedding_bits`` 4: the word embeddings in 4 bits); returns what was quantised (op types
    and weights).
    """
    import onnx

    if kind == "int8":
        from onnxruntime.quantization import QuantType, quantize_dynamic

        root = logging.getLogger()
        level = root.level
        root.setLevel(max(level, logging.WARNING))  # the quantiser logs every tensor at INFO on the root logger
        try:
            quantize_dynamic(
                str(src),
                str(dst),
                weight_type=QuantType.QInt8,
                per_channel=True,
                nodes_to_exclude=list(keep_float32),
            )
        finally:
            root.setLevel(level)
        table = int4_word_embeddings(dst, src) if embedding_bits == 4 else None
        model = onnx.load(str(dst))
        int8 = {onnx.TensorProto.INT8, onnx.TensorProto.UINT8}
        weights = sorted(i.name for i in model.graph.initializer if i.data_type in int8 and len(i.dims) >= 2)
        quantized_ops = ("MatMulInteger", "DynamicQuantizeLinear", "DequantizeLinear", "QGemm", "GatherBlockQuantized")
        ops = sorted({n.op_type for n in model.graph.node if n.op_type in quantized_ops})
        four = [f"{table} in 4 bits (blocks of {EMBEDDING_BLOCK})"] if table else []
        return [f"ops: {', '.join(ops)}", f"{len(weights)} int8 weight matrices", *weights, *four]
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(src)), keep_io_types=True)
    onnx.save(model, str(dst))
    return ["all float weights and activations to float16 (inputs and outputs stay float32)"]


EMBEDDING_BLOCK = 32
"""int4 word embeddings: one scale per this many values of a row."""


def int4_word_embeddings(graph: Path, fp32: Path, block: int = EMBEDDING_BLOCK) -> str:
    """Store the word-embedding table of the int8 ``graph`` in 4 bits (symmetric, one float32 scale per
    ``block`` values of a row), from the float32 values in the ``fp32`` graph: the table is most of a small
    encoder's bytes (11.7M of MiniLM's 22.7M parameters), and a row is only looked up, never multiplied.

    The lookup is plain ONNX (a Gather of the packed bytes, the two halves of each byte split in float, a
    Gather of the rows' scales): as fast as the 8-bit table on the CPU, where ONNX Runtime's
    ``GatherBlockQuantized`` cost about 4% of a 3-layer model's speed. Returns the table's name."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    model, source = onnx.load(str(graph)), onnx.load(str(fp32))
    gathered = {n.input[0] for n in source.graph.node if n.op_type == "Gather"}
    tables = [i for i in source.graph.initializer if i.name in gathered and len(i.dims) == 2]
    if not tables:
        raise ValueError(f"{fp32}: no embedding table (a Gather of a 2-d initializer)")
    name = max(tables, key=lambda t: t.dims[0] * t.dims[1]).name
    values = numpy_helper.to_array(next(t for t in tables if t.name == name)).astype(np.float32)
    rows, width = values.shape
    if width % block:
        raise ValueError(f"{name}: width {width} is not a multiple of the block size {block}")
    blocks = values.reshape(rows, width // block, block)
    scale = np.abs(blocks).max(axis=-1, keepdims=True) / 7.0
    scale[scale == 0] = 1.0
    q = (np.clip(np.round(blocks / scale), -8, 7).astype(np.int16) + 8).reshape(rows, width)  # 0..15
    packed = (q[:, 0::2] | (q[:, 1::2] << 4)).astype(np.uint8)  # two values a byte, the first in the low bits
    nodes = model.graph.node
    gather = next((n for n in nodes if n.op_type == "Gather" and n.input[0] == f"{name}_quantized"), None)
    dequant = next((n for n in nodes if gather is not None and n.input and n.input[0] == gather.output[0]), None)
    if gather is None or dequant is None or dequant.op_type != "DequantizeLinear":
        raise ValueError(f"{graph}: {name} is not read by a quantised Gather then DequantizeLinear")
    lookup, constants = _int4_lookup(name, gather.input[1], dequant.output[0], width, block)
    at = list(nodes).index(gather)
    nodes.remove(gather)
    nodes.remove(dequant)
    for offset, node in enumerate(lookup):
        nodes.insert(at + offset, node)
    stale = {f"{name}_quantized", *dequant.input[1:]}
    kept = [i for i in model.graph.initializer if i.name not in stale]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept + constants)
    model.graph.initializer.append(numpy_helper.from_array(packed, f"{name}_int4"))
    model.graph.initializer.append(numpy_helper.from_array(scale.reshape(rows, -1), f"{name}_int4_scale"))
    onnx.save(model, str(graph))
    return name


def _int4_lookup(name: str, ids: str, out: str, width: int, block: int) -> tuple[list[Any], list[Any]]:
    """The nodes and constants that look rows of the packed 4-bit table ``{name}_int4`` up as float32 ``out``."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    p = f"/{name}/int4/"
    constants = [
        numpy_helper.from_array(np.array(16, dtype=np.float32), p + "16"),
        numpy_helper.from_array(np.array(8, dtype=np.float32), p + "8"),
        numpy_helper.from_array(np.array([-1], dtype=np.int64), p + "last"),
        numpy_helper.from_array(np.array([0, 0, width // block, block], dtype=np.int64), p + "blocks"),
        numpy_helper.from_array(np.array([0, 0, width], dtype=np.int64), p + "rows"),
    ]
    node = helper.make_node
    nodes = [
        node("Gather", [f"{name}_int4", ids], [p + "bytes"]),
        node("Cast", [p + "bytes"], [p + "b"], to=TensorProto.FLOAT),
        node("Div", [p + "b", p + "16"], [p + "b16"]),
        node("Floor", [p + "b16"], [p + "high"]),
        node("Mul", [p + "high", p + "16"], [p + "high16"]),
        node("Sub", [p + "b", p + "high16"], [p + "low"]),
        node("Unsqueeze", [p + "low", p + "last"], [p + "low1"]),
        node("Unsqueeze", [p + "high", p + "last"], [p + "high1"]),
        node("Concat", [p + "low1", p + "high1"], [p + "pairs"], axis=-1),
        node("Reshape", [p + "pairs", p + "blocks"], [p + "grouped"]),
        node("Sub", [p + "grouped", p + "8"], [p + "centred"]),
        node("Gather", [f"{name}_int4_scale", ids], [p + "scale"]),
        node("Unsqueeze", [p + "scale", p + "last"], [p + "scale1"]),
        node("Mul", [p + "centred", p + "scale1"], [p + "scaled"]),
        node("Reshape", [p + "scaled", p + "rows"], [out]),
    ]
    return nodes, constants


def quantize_with_search(
    spec: ExportSpec,
    fp32_path: Path,
    final: Path,
    kind: str,
    dev: Sequence[Any] | None,
    torch_metric: float | None,
    budget: dict[str, Any],
    threads: int | None,
    target_drop: float | None = None,
    embedding_bits: int = 8,
) -> tuple[Any, dict[str, Any]]:
    """Quantise ``fp32_path`` to ``final``; returns the loaded export and its report entries.

    int8 with dev data: while the dev metric drops by more than ``target_drop`` (default: half the
    task's limit), keep the most sensitive matrices (the feed-forward output projections, bottom
    layer first) in float32."""
    target = MAX_METRIC_DROP[spec.task] / 2 if target_drop is None else target_drop
    candidates = _ffn_output_nodes(fp32_path) if kind == "int8" and dev is not None else []
    kept: list[str] = []
    search = []
    report: dict[str, Any] = {}
    while True:
        report["quantized"] = quantize_graph(fp32_path, final, kind, kept, embedding_bits)
        exported = runtime(spec, final.parent, threads)
        if dev is None or torch_metric is None:
            break
        report["exported"] = metric(spec, exported, dev, budget)
        search.append({"kept_float32": list(kept), task_metric_key(spec.task): report["exported"]})
        if torch_metric - report["exported"] <= target or not candidates:
            break
        kept.append(candidates.pop(0))
    report["kept_float32"] = kept
    report["target_drop"] = target
    if len(search) > 1:
        report["quantization_search"] = search
    return exported, report


def _ffn_output_nodes(path: Path) -> list[str]:
    """The encoder's feed-forward output MatMuls (large activations after GELU: the matrices int8 hurts
    most), in layer order.
    """
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    names = [
        n.name
        for n in model.graph.node
        if n.op_type == "MatMul" and "/output/dense/" in n.name and "/attention/" not in n.name
    ]

    def layer(name: str) -> int:
        match = re.search(r"layer[._](\d+)", name)
        return int(match.group(1)) if match else 0

    return sorted(names, key=layer)
