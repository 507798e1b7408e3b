"""Export a stage2 model to ONNX Runtime, with a parity check against torch and the task metric
before and after quantisation, written to ``export_report.json``.

The ONNX graph holds the encoder and the token-level head; the small label/sentence-level head goes
to ``head.npz`` and runs in numpy (:mod:`stage2.runtime`), so one graph serves tokens and label
prompts and run-time labels keep working.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import platform
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from stage2 import __version__
from stage2.registry import EXPORT_CONFIG
from stage2.runtime._base import FORMAT_VERSION
from stage2.smoothing import DEFAULT_ALPHA, smooth_encoder

logger = logging.getLogger(__name__)

OPSET = 17
QUANTIZATIONS = ("int8", "fp16")
MAX_METRIC_DROP = {"ner": 0.5, "summarization": 0.3}
"""int8 is refused when the task metric (entity F1, ROUGE-1) drops by more than this."""

PARITY_TEXTS = [
    "Angela Merkel met Emmanuel Macron in Paris on Tuesday.",
    "APPLE INC. reported record revenue, said CEO Tim Cook.",
    "the quick brown fox jumps over the lazy dog",
    "Dr. Ada Lovelace worked with Charles Babbage at the University of London in 1843.",
    "Shares of Toyota Motor Corp rose 3.5% in Tokyo; Nissan fell.",
    "@john_doe loved the new Star Wars film #maytheforce",
]
PARITY_DOCUMENT = (
    "The city council approved a new budget on Monday. The plan raises spending on schools by 4%. "
    "Critics said the increase was too small. The mayor, Jane Smith, defended the decision. "
    '"We have done what we can," she said. A final vote is expected next month. '
    "Local businesses welcomed the tax freeze. Teachers' unions called for more."
)


SMOOTHING_TOLERANCE = 1e-3
"""Smoothing must leave the float32 outputs this close (max abs difference) or it is not used."""
CALIBRATION_SIZE = 200
"""Dev items (sentences, or documents' sentences) whose activations calibrate int8 smoothing."""


class ExportError(ValueError):
    """The export failed a check (parity or the quantised task metric)."""


class _NERGraph(nn.Module):
    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, shape_ids: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        hidden = self.model.encode_tokens(input_ids, attention_mask, shape_ids)
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        if self.model.config.head == "linear":
            return self.model.classifier(hidden), pooled
        outside, begin, inside = self.model.token_outputs(hidden)
        return outside, begin, inside, pooled


class _SentenceGraph(nn.Module):
    def __init__(self, encoder: Any) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)


def load_for_export(model_or_path: Any) -> tuple[str, Any]:
    """``(task, model)`` from a torch model object or a saved model folder/name."""
    from stage2.loading import load
    from stage2.ner.modeling import NERModel
    from stage2.summarization.modeling import Summarizer

    model = model_or_path
    if not isinstance(model, NERModel | Summarizer):
        model = load(model_or_path, tasks=("ner", "extractive-summarization"))
    return ("ner" if isinstance(model, NERModel) else "summarization"), model


def _special_ids(tokenizer: Any) -> dict[str, int]:
    def first(*ids: int | None) -> int:
        return next(i for i in (*ids, 0) if i is not None)

    return {
        "cls": first(tokenizer.cls_token_id, tokenizer.bos_token_id),
        "sep": first(tokenizer.sep_token_id, tokenizer.eos_token_id),
        "pad": first(tokenizer.pad_token_id),
        "unk": first(tokenizer.unk_token_id),
    }


def _onnx_export(graph: nn.Module, inputs: dict[str, torch.Tensor], outputs: list[str], path: Path) -> None:
    dynamic = {name: {0: "batch", 1: "sequence"} for name in inputs}
    for name in outputs:
        dynamic[name] = {0: "batch"} if name == "pooled" else {0: "batch", 1: "sequence"}
    with torch.no_grad():
        torch.onnx.export(
            graph,
            tuple(inputs.values()),
            str(path),
            input_names=list(inputs),
            output_names=outputs,
            dynamic_axes=dynamic,
            opset_version=OPSET,
            dynamo=False,
            do_constant_folding=True,
        )


def _head_arrays(task: str, model: Any) -> dict[str, np.ndarray]:
    state = {k: v.detach().float().cpu().numpy() for k, v in model.state_dict().items()}
    if task == "summarization":
        keep = [k for k in state if not k.startswith("encoder.")]
    elif model.config.head == "linear":
        keep = []
    else:
        keep = ["label_proj.weight", "label_proj.bias", "tag_bias"]
    arrays = {k: state[k] for k in keep}
    if task == "ner" and model.config.head != "linear":
        scale = float(model.logit_scale.detach().exp().clamp(max=100.0))
        arrays["logit_scale"] = np.array(scale, dtype=np.float32)
    return arrays


def _versions() -> dict[str, str]:
    import onnx
    import onnxruntime
    import transformers

    return {
        "stage2": __version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
        "python": platform.python_version(),
    }


def _quantize(src: Path, dst: Path, kind: str, keep_float32: Sequence[str] = ()) -> list[str]:
    """Write the quantised graph (int8: dynamic, per-channel weights; ``keep_float32`` names nodes
    left alone); returns what was quantised (op types and weights).
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
        model = onnx.load(str(dst))
        int8 = {onnx.TensorProto.INT8, onnx.TensorProto.UINT8}
        weights = sorted(i.name for i in model.graph.initializer if i.data_type in int8 and len(i.dims) >= 2)
        ops = sorted(
            {
                n.op_type
                for n in model.graph.node
                if n.op_type
                in ("MatMulInteger", "DynamicQuantizeLinear", "DequantizeLinear", "QGemm", "GatherBlockQuantized")
            }
        )
        return [f"ops: {', '.join(ops)}", f"{len(weights)} int8 weight matrices", *weights]
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(src)), keep_io_types=True)
    onnx.save(model, str(dst))
    return ["all float weights and activations to float16 (inputs and outputs stay float32)"]


def _ner_parity(model: Any, runtime: Any, labels: Any) -> float:
    """Max abs difference of the tag logits of torch and ONNX on the parity texts, as one padded batch."""
    from stage2.data import tokenize_words
    from stage2.ner.collator import collate_windows

    sentences = [[w for w, _, _ in tokenize_words(t)] for t in PARITY_TEXTS]
    label_set = model.resolve_labels(labels)
    windows = [w for i, words in enumerate(sentences) for w in model.make_windows(i, words)]
    mine = [w for i, words in enumerate(sentences) for w in runtime.make_windows(i, words)]
    if [w.input_ids for w in windows] != [w.input_ids for w in mine]:
        raise ExportError("the exported tokenizer splits the parity texts differently from the torch model's")
    batch = collate_windows(windows, model.tokenizer.pad_token_id or 0)
    with torch.no_grad():
        logits = model.logits_for(batch, label_set).float().cpu().numpy()
    theirs = runtime.window_logits(mine, label_set)
    return max(float(np.abs(logits[row, w.first_subword] - theirs[row]).max()) for row, w in enumerate(windows))


def _summarizer_parity(model: Any, runtime: Any) -> float:
    from stage2.summarization.segmenting import split_sentences

    texts = [s.text for s in split_sentences(PARITY_DOCUMENT)]
    prompt = model.intent_prompt(PARITY_DOCUMENT)
    with torch.no_grad():
        mine = model.score_sentences(texts, prompt).float().cpu().numpy()
        emb = model.embed(texts).float().cpu().numpy()
    theirs = runtime.score_sentences(texts, prompt)
    return max(float(np.abs(mine - theirs).max()), float(np.abs(emb - runtime.embed(texts)).max()))


def _metric(task: str, predictor: Any, dev: Sequence[Any], labels: Any, budget: dict[str, Any]) -> float:
    from stage2.metrics import ner_scores, rouge_scores

    if task == "ner":
        preds = predictor.predict_words([e.tokens for e in dev], labels)
        return float(ner_scores(dev, [[s for s, _ in p] for p in preds])["f1"])
    outs = predictor.summarize([e.document for e in dev], **budget)
    return float(rouge_scores([e.summary for e in dev], [o["summary"] for o in outs])["rouge1"])


def export(
    model: Any,
    out: str | Path,
    quantize: str | None = None,
    dev: str | Path | Sequence[Any] | None = None,
    dev_limit: int = 500,
    labels: Any = None,
    budget: dict[str, Any] | None = None,
    allow_degraded: bool = False,
    threads: int | None = None,
    smoothing: float | None = DEFAULT_ALPHA,
) -> dict[str, Any]:
    """Export ``model`` (an NERModel, a Summarizer, or a saved folder/name) to ``out`` and return
    the report (also written to ``out/export_report.json``).

    ``quantize`` is None (float32), ``"int8"`` (dynamic quantisation) or ``"fp16"``. ``dev``
    (a labelled file or examples; its first ``dev_limit`` items) measures the task metric of torch,
    float32 ONNX and the quantised graph. An int8 export whose metric drops by more than
    :data:`MAX_METRIC_DROP` raises :class:`ExportError` unless ``allow_degraded`` (it is then
    flagged in the report). Before int8, the graph's activations are smoothed
    (:mod:`stage2.smoothing`, strength ``smoothing``; None turns it off), calibrated on ``dev`` or on
    built-in sample texts. The caller's model is never changed.
    """
    import onnx

    from stage2.runtime import NERRuntime, SummarizerRuntime

    if quantize not in (None, *QUANTIZATIONS):
        raise ValueError(f"quantize must be one of {QUANTIZATIONS} or None, got {quantize!r}")
    task, original = load_for_export(model)
    model = copy.deepcopy(original).cpu().float().eval()
    _eager_attention(model)
    if task == "ner" and labels is None and not len(model.labels):
        labels = {"person": "the name of a person", "location": "a place", "organization": "a company or institution"}
    out = Path(out)
    started = time.perf_counter()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".export-", dir=out.parent))  # beside out: the final rename stays atomic
    try:
        model.tokenizer.save_pretrained(str(tmp))
        if not (tmp / "tokenizer.json").exists():
            raise ExportError(
                "the model's tokenizer has no fast (tokenizers) version; the runtime needs tokenizer.json"
            )
        example = model.tokenizer(["a b c", "d"], padding=True, return_tensors="pt")
        inputs = {"input_ids": example["input_ids"], "attention_mask": example["attention_mask"]}
        examples = _load_dev(task, dev, dev_limit) if dev is not None else None
        source, smoothed = model, None
        if quantize == "int8" and smoothing:
            source = copy.deepcopy(model)
            smoothed = smooth_encoder(source.encoder, _calibration(task, source, examples, labels), smoothing)
            gap = _smoothing_gap(task, model, source)
            if gap > SMOOTHING_TOLERANCE:  # an architecture whose hooked module uses its input elsewhere too
                logger.warning("smoothing changed this encoder's outputs by %.2e: int8 export without it", gap)
                source, smoothed = model, {**smoothed, "smoothed": [], "skipped": f"not exact ({gap:.2e})"}
        if task == "ner":
            inputs["shape_ids"] = torch.zeros_like(example["input_ids"])
            graph: nn.Module = _NERGraph(source)
            outputs = (
                ["logits", "pooled"] if model.config.head == "linear" else ["outside", "begin", "inside", "pooled"]
            )
        else:
            graph = _SentenceGraph(source.encoder)
            outputs = ["pooled"]
        fp32_path = tmp / "model.fp32.onnx"
        _onnx_export(graph, inputs, outputs, fp32_path)
        source.eval()  # the exporter leaves the module in training mode (dropout on)
        model.eval()
        onnx.checker.check_model(str(fp32_path))
        np.savez(tmp / "head.npz", **_head_arrays(task, model))  # type: ignore[arg-type]
        meta = {
            "format": FORMAT_VERSION,
            "task": task,
            "onnx": "model.fp32.onnx",
            "head": "head.npz",
            "quantization": "none",
            "special": _special_ids(model.tokenizer),
            "model_config": model.config.to_dict(),
            "stage2_version": __version__,
        }
        (tmp / EXPORT_CONFIG).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        runtime_cls = NERRuntime if task == "ner" else SummarizerRuntime
        fp32: Any = runtime_cls(tmp, threads=threads, provider="CPUExecutionProvider")
        parity = _ner_parity(model, fp32, labels) if task == "ner" else _summarizer_parity(model, fp32)
        logger.info("float32 parity: max abs difference %.2e", parity)
        report: dict[str, Any] = {
            "task": task,
            "opset": OPSET,
            "versions": _versions(),
            "quantization": quantize or "none",
            "parity": {
                "max_abs_diff": parity,
                "sample": "stage2.export.PARITY_TEXTS" if task == "ner" else "PARITY_DOCUMENT",
            },
        }
        if smoothed is not None:
            report["smoothing"] = smoothed
        final = tmp / "model.onnx"
        meta["onnx"] = final.name
        meta["quantization"] = quantize or "none"
        (tmp / EXPORT_CONFIG).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        metric: dict[str, Any] | None = None
        if examples is not None:
            metric = {
                "name": "entity F1" if task == "ner" else "ROUGE-1",
                "examples": len(examples),
                "source": str(dev) if isinstance(dev, (str, Path)) else "examples passed in",
                "torch": round(_metric(task, model, examples, labels, budget or {}), 3),
                "onnx_fp32": round(_metric(task, fp32, examples, labels, budget or {}), 3),
            }
        if not quantize:
            fp32_path.rename(final)
            exported = runtime_cls(tmp, threads=threads, provider="CPUExecutionProvider")
            if metric is not None:
                metric["exported"] = metric["onnx_fp32"]
        else:
            # int8: quantise everything; while the dev metric drops by more than half the limit, keep the
            # most sensitive matrices (the feed-forward output projections, bottom layer first) in float32.
            candidates = _ffn_output_nodes(fp32_path) if quantize == "int8" and metric is not None else []
            kept: list[str] = []
            search = []
            while True:
                report["quantized"] = _quantize(fp32_path, final, quantize, kept)
                exported = runtime_cls(tmp, threads=threads, provider="CPUExecutionProvider")
                if metric is None:
                    break
                metric["exported"] = round(_metric(task, exported, examples or [], labels, budget or {}), 3)
                search.append({"kept_float32": list(kept), task_metric_key(task): metric["exported"]})
                if metric["torch"] - metric["exported"] <= MAX_METRIC_DROP[task] / 2 or not candidates:
                    break
                kept.append(candidates.pop(0))
            report["kept_float32"] = kept
            if len(search) > 1:
                report["quantization_search"] = search
            report["parity"]["quantized_max_abs_diff"] = (
                _ner_parity(model, exported, labels) if task == "ner" else _summarizer_parity(model, exported)
            )
        report["metric"] = metric
        if metric is not None:
            drop = metric["torch"] - metric["exported"]
            metric["drop"] = round(drop, 3)
            limit = MAX_METRIC_DROP[task]
            if quantize == "int8" and drop > limit:
                message = f"int8 costs {drop:.2f} {metric['name']} on the dev sample (limit {limit})"
                report["flagged"] = message
                if not allow_degraded:
                    raise ExportError(message + "; export refused (pass allow_degraded / --allow-degraded to keep it)")
                logger.warning("%s: kept because allow_degraded was given", message)
        else:
            report["metric_note"] = "no dev data given: the task metric was not measured"
            if quantize == "int8":
                logger.warning("int8 export without dev data: its task metric cost is unknown")
        if fp32_path.exists():
            fp32_path.unlink()
        report["onnx_megabytes"] = round((tmp / "model.onnx").stat().st_size / 2**20, 2)
        report["seconds"] = round(time.perf_counter() - started, 1)
        report["machine"] = {"platform": platform.platform(), "cpus": os.cpu_count()}
        (tmp / "export_report.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
        (tmp / "README.md").write_text(_card(task, model, report), encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        tmp.chmod(0o755)
        tmp.rename(out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    logger.info("exported %s model to %s (%.1f MB)", task, out, report["onnx_megabytes"])
    return report


def task_metric_key(task: str) -> str:
    """The report's name of a task's metric value."""
    return "f1" if task == "ner" else "rouge1"


def _eager_attention(model: Any) -> None:
    """Trace attention as plain matmul/softmax: ONNX Runtime then runs a graph of about 20% fewer nodes
    (measured on MiniLM: the SDPA export adds masking ops), which matters for one-sentence calls.
    """
    setter = getattr(model.encoder, "set_attn_implementation", None)
    if setter is None:
        return
    try:
        setter("eager")
    except (ValueError, ImportError, NotImplementedError) as err:  # an architecture without it keeps its own
        logger.debug("keeping the encoder's attention implementation: %s", err)


def _smoothing_gap(task: str, model: Any, smoothed: Any) -> float:
    """Max abs difference of the float32 graph outputs of ``model`` and its smoothed copy on the parity texts."""
    texts = PARITY_TEXTS if task == "ner" else [PARITY_DOCUMENT]
    batch = model.tokenizer(list(texts), padding=True, truncation=True, max_length=64, return_tensors="pt")
    inputs = [batch["input_ids"], batch["attention_mask"]]
    graphs: list[nn.Module]
    if task == "ner":
        inputs.append(torch.zeros_like(batch["input_ids"]))
        graphs = [_NERGraph(model), _NERGraph(smoothed)]
    else:
        graphs = [_SentenceGraph(model.encoder), _SentenceGraph(smoothed.encoder)]
    with torch.no_grad():
        mine, theirs = (g(*inputs) for g in graphs)
    mine = mine if isinstance(mine, tuple) else (mine,)
    theirs = theirs if isinstance(theirs, tuple) else (theirs,)
    return max(float((a - b).abs().max()) for a, b in zip(mine, theirs, strict=True))


def _calibration(task: str, model: Any, examples: Sequence[Any] | None, labels: Any) -> Callable[[], Any]:
    """What runs ``model`` on typical inputs for smoothing: dev items (or the parity sample), one at a
    time so that no padding enters their statistics, plus the label or intent prompts the graph encodes
    (the label prompts as one padded batch: a handful of short texts).
    """
    from stage2.data import tokenize_words
    from stage2.summarization.segmenting import split_sentences

    items = list(examples or [])[:CALIBRATION_SIZE]
    if task == "ner":
        sentences = [e.tokens for e in items] or [[w for w, _, _ in tokenize_words(t)] for t in PARITY_TEXTS]
        return lambda: model.predict_words(sentences, labels, batch_size=1)
    documents = [e.document for e in items[:20]] or [PARITY_DOCUMENT]
    texts = [s.text for d in documents for s in split_sentences(d)][: CALIBRATION_SIZE * 5]
    texts += [model.intent_prompt(d) for d in documents]
    return lambda: model.embed(texts, batch_size=1)


def _load_dev(task: str, dev: Any, limit: int) -> list[Any]:
    if isinstance(dev, (str, Path)):
        if task == "ner":
            from stage2.data import load_ner_data

            examples: list[Any] = load_ner_data(dev)
        else:
            from stage2.summarization.data import load_summarization_data

            examples = load_summarization_data(dev)
    else:
        examples = list(dev)
    return examples[:limit]


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


def _card(task: str, model: Any, report: dict[str, Any]) -> str:
    metric = report.get("metric") or {}
    lines = [
        f"# stage2 {task} export",
        "",
        f"ONNX Runtime export of a stage2 {task} model (encoder `{model.config.encoder}`), "
        f"quantisation: {report['quantization']}, {report['onnx_megabytes']} MB.",
        "",
        "    import stage2.runtime as rt",
        '    model = rt.load("path/to/this/folder")',
        "",
        f"- Parity with torch (max abs difference, float32): {report['parity']['max_abs_diff']:.2e}",
    ]
    if metric:
        lines.append(
            f"- {metric['name']} on {metric['examples']} dev examples: "
            f"torch {metric['torch']}, export {metric['exported']}"
        )
    if task == "ner":
        labels = ", ".join(f"{lb['key']} ({lb.get('description') or lb['name']})" for lb in model.config.labels)
        lines.append(f"- Labels: {labels or 'none (pass labels at run time)'}")
    lines += ["", "See export_report.json for versions, opset and what was quantised.", ""]
    return "\n".join(lines)
