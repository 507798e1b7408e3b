"""Export a stage2 model to ONNX Runtime, with a parity check against torch and the task metric
before and after quantisation, written to ``export_report.json``.

The ONNX graph holds the encoder and the token-level head; the small label/sentence-level head goes
to ``head.npz`` and runs in numpy (:mod:`stage2.runtime`), so one graph serves tokens and label
prompts and run-time labels keep working.

The stages, one module each: :mod:`~stage2.export.spec` (what is traced), :mod:`~stage2.export.convert`
(tracing and the runtime's files), :mod:`~stage2.export.validate` (parity and the task metric),
:mod:`~stage2.export.quantize` (SmoothQuant, int8/fp16 and the float32-kept search); :func:`export`
runs them and writes the bundle atomically.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stage2._version import __version__
from stage2.export.bundle import check_output, staging
from stage2.export.convert import (
    FP32_GRAPH,
    GRAPH,
    OPSET,
    ExportError,
    runtime,
    save_tokenizer,
    trace,
    write_config,
    write_head,
)
from stage2.export.quantize import MAX_METRIC_DROP, QUANTIZATIONS, quantize_with_search, smoothed_source
from stage2.export.smoothquant import DEFAULT_ALPHA
from stage2.export.spec import ExportSpec, load_for_export, make_spec
from stage2.export.validate import load_dev, metric, parity, parity_sample, task_metric_key, task_metric_name

__all__ = [
    "MAX_METRIC_DROP",
    "QUANTIZATIONS",
    "ExportError",
    "export",
    "load_for_export",
    "task_metric_key",
]

logger = logging.getLogger(__name__)


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
    target_drop: float | None = None,
    overwrite: bool = False,
    embedding_bits: int = 8,
) -> dict[str, Any]:
    """Export ``model`` (an NERModel, a Summarizer, or a saved folder/name) to ``out`` and return
    the report (also written to ``out/export_report.json``).

    ``quantize`` is None (float32), ``"int8"`` (dynamic quantisation) or ``"fp16"``. ``dev``
    (a labelled file or examples; its first ``dev_limit`` items) measures the task metric of torch,
    float32 ONNX and the quantised graph. An int8 export whose metric drops by more than
    :data:`MAX_METRIC_DROP` raises :class:`ExportError` unless ``allow_degraded`` (it is then
    flagged in the report). Before int8, the graph's activations are smoothed
    (:mod:`stage2.export.smoothquant`, strength ``smoothing``; None turns it off), calibrated on ``dev``
    or on built-in sample texts. With ``dev``, int8 keeps the most sensitive matrices in float32 while
    the metric drops by more than ``target_drop`` (default: half the limit; each one kept adds about
    1.7 MB). ``embedding_bits=4`` (int8 only) stores the word-embedding table in 4 bits
    (:func:`~stage2.export.quantize.int4_word_embeddings`), checked on ``dev`` like the rest. The caller's
    model is never changed.

    ``out`` must be new, empty, or (with ``overwrite``) a previous stage2 export, which is replaced;
    anything else there is never deleted (checked before any work).
    """
    if quantize not in (None, *QUANTIZATIONS):
        raise ValueError(f"quantize must be one of {QUANTIZATIONS} or None, got {quantize!r}")
    if embedding_bits not in (4, 8) or (embedding_bits == 4 and quantize != "int8"):
        raise ValueError(f"embedding_bits must be 8, or 4 with quantize='int8'; got {embedding_bits}")
    if _written(model):
        from stage2.export.written import export_written

        return export_written(
            model, out, quantize, _written_dev(dev, dev_limit), overwrite, embedding_bits=embedding_bits
        )
    check_output(Path(out), model, overwrite)
    spec = make_spec(model, labels)
    started = time.perf_counter()
    budget = budget or {}
    with staging(Path(out)) as tmp:
        examples, fp32, report = _stage_float32(spec, tmp, dev, dev_limit, quantize, smoothing, threads)
        scores = _dev_scores(spec, examples, dev, fp32, budget)
        _ship_graph(
            spec, tmp / FP32_GRAPH, quantize, examples, scores, report, budget, threads, target_drop, embedding_bits
        )
        _judge(report, scores, quantize, allow_degraded)
        _write_report(spec, tmp, report, started)
    logger.info("exported %s model to %s (%.1f MB)", spec.task, out, report["onnx_megabytes"])
    return report


def _stage_float32(
    spec: ExportSpec,
    tmp: Path,
    dev: str | Path | Sequence[Any] | None,
    dev_limit: int,
    quantize: str | None,
    smoothing: float | None,
    threads: int | None,
) -> tuple[list[Any] | None, Any, dict[str, Any]]:
    """Write the tokenizer, the float32 graph (smoothed first for int8 with ``smoothing``), its head and the
    final config into ``tmp``; returns the dev examples (None without ``dev``), the float32 export and the
    report so far."""
    save_tokenizer(spec, tmp)
    examples = load_dev(spec.task, dev, dev_limit) if dev is not None else None
    source, smoothed = spec.model, None
    if quantize == "int8" and smoothing:
        source, smoothed = smoothed_source(spec, examples, smoothing)
    fp32, report = _float32_export(spec, source, tmp / FP32_GRAPH, threads)
    report["quantization"] = quantize or "none"
    if smoothed is not None:
        report["smoothing"] = smoothed
    write_config(spec, tmp, GRAPH, quantize or "none")
    return examples, fp32, report


def _ship_graph(
    spec: ExportSpec,
    fp32_path: Path,
    quantize: str | None,
    examples: list[Any] | None,
    scores: dict[str, Any] | None,
    report: dict[str, Any],
    budget: dict[str, Any],
    threads: int | None,
    target_drop: float | None,
    embedding_bits: int = 8,
) -> None:
    """Put the graph the export ships at ``GRAPH`` beside ``fp32_path``: the float32 graph itself, or its
    ``quantize``d version (what the search kept and its parity go into ``report``, and the float32 graph
    is removed); the shipped graph's dev metric goes into ``scores`` as ``exported``."""
    if not quantize:
        fp32_path.rename(fp32_path.parent / GRAPH)
        if scores is not None:
            scores["exported"] = scores["onnx_fp32"]
        return
    torch_metric = scores["torch"] if scores is not None else None
    exported, found = quantize_with_search(
        spec,
        fp32_path,
        fp32_path.parent / GRAPH,
        quantize,
        examples,
        torch_metric,
        budget,
        threads,
        target_drop,
        embedding_bits,
    )
    if scores is not None:
        scores["exported"] = found.pop("exported")
    report.update(found)
    report["parity"]["quantized_max_abs_diff"] = parity(spec, exported)
    fp32_path.unlink()


def _float32_export(spec: ExportSpec, source: Any, path: Path, threads: int | None) -> tuple[Any, dict[str, Any]]:
    """Trace ``source`` to the float32 graph at ``path`` beside the head and config; returns the loaded
    export and the report so far (versions, parity with torch)."""
    trace(spec, source, path)
    write_head(spec, path.parent)
    write_config(spec, path.parent, path.name, "none")
    fp32 = runtime(spec, path.parent, threads)
    report: dict[str, Any] = {
        "task": spec.task,
        "opset": OPSET,
        "versions": _versions(),
        "parity": {"max_abs_diff": parity(spec, fp32), "sample": parity_sample(spec.task)},
    }
    logger.info("float32 parity: max abs difference %.2e", report["parity"]["max_abs_diff"])
    return fp32, report


def _write_report(spec: ExportSpec, folder: Path, report: dict[str, Any], started: float) -> None:
    """Size, time and machine into the report; ``export_report.json`` and the README card."""
    report["onnx_megabytes"] = round((folder / GRAPH).stat().st_size / 1e6, 2)  # MB: 10^6 bytes, as everywhere
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["machine"] = {"platform": platform.platform(), "cpus": os.cpu_count()}
    (folder / "export_report.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    (folder / "README.md").write_text(_card(spec, report), encoding="utf-8")


def _written(model: Any) -> bool:
    """Whether ``model`` (an object, a folder or a name) is a written (abstractive) summariser."""
    if type(model).__name__ == "AbstractiveSummarizer":
        return True
    if not isinstance(model, str | Path):
        return False
    from stage2.loading import model_task
    from stage2.registry import TORCH_CONFIG, find_model

    try:
        return model_task(find_model(model, TORCH_CONFIG)) == "written-summarization"
    except (FileNotFoundError, ValueError):
        return False


def _written_dev(dev: Any, limit: int) -> list[Any] | None:
    if dev is None or not isinstance(dev, str | Path):
        return list(dev)[:limit] if dev is not None else None
    from stage2.summarization.data import read_summarization_jsonl

    return read_summarization_jsonl(dev)[:limit]


def _dev_scores(
    spec: ExportSpec, examples: list[Any] | None, dev: Any, fp32: Any, budget: dict[str, Any]
) -> dict[str, Any] | None:
    """The task metric of torch and the float32 export on the dev examples (None without them)."""
    if examples is None:
        return None
    return {
        "name": task_metric_name(spec.task),
        "examples": len(examples),
        "source": str(dev) if isinstance(dev, (str, Path)) else "examples passed in",
        "torch": metric(spec, spec.model, examples, budget),
        "onnx_fp32": metric(spec, fp32, examples, budget),
    }


def _judge(report: dict[str, Any], scores: dict[str, Any] | None, quantize: str | None, allow: bool) -> None:
    """Record the metric's drop; refuse an int8 export that costs more than allowed (unless ``allow``)."""
    report["metric"] = scores
    if scores is None:
        report["metric_note"] = "no dev data given: the task metric was not measured"
        if quantize == "int8":
            logger.warning("int8 export without dev data: its task metric cost is unknown")
        return
    drop = scores["torch"] - scores["exported"]
    scores["drop"] = round(drop, 3)
    limit = MAX_METRIC_DROP[report["task"]]
    if quantize == "int8" and drop > limit:
        message = f"int8 costs {drop:.2f} {scores['name']} on the dev sample (limit {limit})"
        report["flagged"] = message
        if not allow:
            raise ExportError(message + "; export refused (pass allow_degraded / --allow-degraded to keep it)")
        logger.warning("%s: kept because allow_degraded was given", message)


def _versions() -> dict[str, str]:
    import onnx
    import onnxruntime
    import torch
    import transformers

    return {
        "stage2": __version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
        "python": platform.python_version(),
    }


def _card(spec: ExportSpec, report: dict[str, Any]) -> str:
    metric = report.get("metric") or {}
    lines = [
        f"# stage2 {spec.task} export",
        "",
        f"ONNX Runtime export of a stage2 {spec.task} model (encoder `{spec.model.config.encoder}`), "
        f"quantisation: {report['quantization']}, {report['onnx_megabytes']} MB.",
        "",
        "    import stage2  # torch-free for an export",
        '    model = stage2.load("path/to/this/folder")',
        "",
        f"- Parity with torch (max abs difference, float32): {report['parity']['max_abs_diff']:.2e}",
    ]
    if metric:
        lines.append(
            f"- {metric['name']} on {metric['examples']} dev examples: "
            f"torch {metric['torch']}, export {metric['exported']}"
        )
    if spec.task == "ner":
        labels = ", ".join(f"{lb['key']} ({lb.get('description') or lb['name']})" for lb in spec.model.config.labels)
        lines.append(f"- Labels: {labels or 'none (pass labels at run time)'}")
    lines += ["", "See export_report.json for versions, opset and what was quantised.", ""]
    return "\n".join(lines)
