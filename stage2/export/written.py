"""Export of the written (abstractive) summariser: two ONNX graphs served by :mod:`stage2.runtime.written`.

- ``source.onnx``: encoder windows ``input_ids``/``attention_mask [W, L]`` -> per decoder layer ``cross_k{i}
  [W, heads, d, L]`` and ``cross_v{i} [W, heads, L, d]``, the cross-attention keys (transposed) and values,
  computed once per document (the runtime joins the windows);
- ``step.onnx``: one decoding step: ``ids``/``positions [B, 1]``, ``past [layers, 2, B, heads, P, d]``,
  ``source_ids``/``source_mask [B, S]`` and the ``cross_*`` of the source -> ``logp [B, V]`` and ``present`` (the
  past with this step added).

Parity with torch is checked as identical greedy tokens on the sample documents; int8 (dynamic, per-channel)
is kept only when its ROUGE-1 on ``dev`` stays within :data:`MAX_ROUGE_DROP` of float32 (else float32 ships).
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from stage2._version import __version__
from stage2.formats import EXPORT_FORMAT
from stage2.registry import EXPORT_CONFIG

logger = logging.getLogger(__name__)

SOURCE_GRAPH = "source.onnx"
STEP_GRAPH = "step.onnx"
MAX_ROUGE_DROP = 0.5
OPSET = 17


class SourceGraph(nn.Module):
    """Encoder windows -> the decoder's cross keys/values."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
        hidden = self.model.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        hidden = self.model.refine(hidden, ((1.0 - attention_mask.float()) * -1e4)[:, None, None, :])
        return tuple(self.model.decoder.cross_kv(hidden))


class StepGraph(nn.Module):
    """One decoding step with a key/value cache."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.decoder = model.decoder
        self.words = nn.Parameter(model.words.detach().clone(), requires_grad=False)

    def forward(
        self,
        ids: torch.Tensor,
        positions: torch.Tensor,
        past: torch.Tensor,
        source_ids: torch.Tensor,
        source_mask: torch.Tensor,
        *cross: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        logp, present = self.decoder(ids, positions, past, list(cross), source_ids, source_mask, self.words)
        return logp[:, -1], present


def trace_graphs(model: Any, folder: Path) -> None:
    """Write ``source.onnx`` and ``step.onnx`` (float32) for ``model`` into ``folder``."""
    import copy

    from stage2.summarization.abstractive import cross_names

    model = copy.deepcopy(model).eval()  # the caller's model is never changed
    setter = getattr(model.encoder, "set_attn_implementation", None)
    if setter is not None:
        setter("eager")
    cfg = model.cfg
    names = cross_names(len(cfg.decoder_layers))
    keys = {0: "windows", 1: "length"}
    ids = torch.tensor([[101, 2023, 2003, 102, 0], [101, 7592, 102, 0, 0]])
    # The tracer warns that the head size and the step length (always 1: no causal mask) become constants: both are.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(
            SourceGraph(model),
            (ids, (ids != 0).long()),
            str(folder / SOURCE_GRAPH),
            input_names=["input_ids", "attention_mask"],
            output_names=names,
            dynamic_axes={
                "input_ids": keys,
                "attention_mask": keys,
                **{n: {0: "windows", 3 if n.startswith("cross_k") else 2: "length"} for n in names},
            },
            opset_version=OPSET,
            dynamo=False,
            do_constant_folding=True,
        )
        b, s, p = 2, 6, 3
        d = cfg.hidden // cfg.heads
        cross = [
            torch.randn(b, cfg.heads, d, s) if n.startswith("cross_k") else torch.randn(b, cfg.heads, s, d)
            for n in names
        ]
        inputs = (
            torch.tensor([[2023], [7592]]),
            torch.tensor([[p], [p]]),
            torch.zeros(len(cfg.decoder_layers), 2, b, cfg.heads, p, d),
            torch.randint(1000, 2000, (b, s)),
            torch.ones(b, s, dtype=torch.long),
            *cross,
        )
        torch.onnx.export(
            StepGraph(model),
            inputs,
            str(folder / STEP_GRAPH),
            input_names=["ids", "positions", "past", "source_ids", "source_mask", *names],
            output_names=["logp", "present"],
            dynamic_axes={
                "ids": {0: "batch"},
                "positions": {0: "batch"},
                "past": {2: "batch", 4: "past"},
                "source_ids": {0: "batch", 1: "source"},
                "source_mask": {0: "batch", 1: "source"},
                "present": {2: "batch", 4: "steps"},
                **{n: {0: "batch", 3 if n.startswith("cross_k") else 2: "source"} for n in names},
            },
            opset_version=OPSET,
            dynamo=False,
            do_constant_folding=True,
        )


def write_config(model: Any, folder: Path, quantization: str | None, report: dict[str, Any]) -> None:
    """The runtime's settings (``stage2_export.json``) and the tokenizer."""
    tok = model.tokenizer
    tok.backend_tokenizer.save(str(folder / "tokenizer.json"))
    meta = {
        "task": "written-summarization",
        "format": EXPORT_FORMAT,
        "stage2_version": __version__,
        "graphs": {"source": SOURCE_GRAPH, "step": STEP_GRAPH},
        "quantization": quantization,
        "model_config": model.cfg.to_dict(),
        "special": {"cls": tok.cls_token_id, "sep": tok.sep_token_id, "pad": tok.pad_token_id, "unk": tok.unk_token_id},
        "card": model.card,
    }
    (folder / EXPORT_CONFIG).write_text(json.dumps(meta, indent=2), encoding="utf-8")
    (folder / "export_report.json").write_text(json.dumps(report, indent=2), encoding="utf-8")


def greedy_parity(model: Any, runtime: Any, documents: Sequence[str]) -> dict[str, Any]:
    """How many documents get the same greedy subwords from torch and the export."""
    from stage2.summarization.abstractive import TorchSteps
    from stage2.summarization.generation import SearchSettings, greedy

    settings = SearchSettings(num_beams=1)
    torch_steps, onnx_steps = TorchSteps(model), runtime.steps
    same = sum(
        greedy(torch_steps, torch_steps.source(d), settings) == greedy(onnx_steps, onnx_steps.source(d), settings)
        for d in documents
    )
    return {"documents": len(documents), "identical_greedy": same}


def export_written(
    model: Any,
    out: str | Path,
    quantize: str | None = None,
    dev: Sequence[Any] | None = None,
    overwrite: bool = False,
    parity_documents: int = 20,
    embedding_bits: int = 8,
) -> dict[str, Any]:
    """Export a written summariser (model or folder) to ``out``: float32, or int8 when its greedy ROUGE-1 on
    ``dev`` (examples with ``document``/``summary``) stays within :data:`MAX_ROUGE_DROP` of float32.
    ``embedding_bits=4`` (int8 only) also stores the word tables that are looked up (the encoder's and the
    decoder's input) in 4 bits, judged by the same gate; the output layer's copy stays int8."""
    from stage2.export.bundle import check_output, staging
    from stage2.loading import load
    from stage2.summarization.abstractive import AbstractiveSummarizer

    if embedding_bits not in (4, 8) or (embedding_bits == 4 and quantize != "int8"):
        raise ValueError(f"embedding_bits must be 8, or 4 with quantize='int8'; got {embedding_bits}")
    if quantize not in (None, "int8"):
        raise ValueError(f"a written summariser exports as float32 (None) or 'int8', got {quantize!r}")
    out = Path(out)
    check_output(out, model, overwrite)
    if not isinstance(model, AbstractiveSummarizer):
        model = AbstractiveSummarizer.from_pretrained(model)
    started = time.perf_counter()
    report: dict[str, Any] = {"task": "written-summarization", "requested": quantize}
    with staging(out) as tmp:
        trace_graphs(model, tmp)
        write_config(model, tmp, None, report)
        fp32 = load(tmp, backend="onnx", tasks=("written-summarization",))
        docs = [e.document for e in (dev or [])][:parity_documents] or ["Anna: See you at 5?\nTom: Sure, at the cafe."]
        report["parity"] = greedy_parity(model, fp32, docs)
        if quantize == "int8":
            _quantize(tmp, fp32, dev, report, embedding_bits)
        report["onnx_megabytes"] = round(sum(f.stat().st_size for f in tmp.glob("*.onnx")) / 1e6, 1)
        report["seconds"] = round(time.perf_counter() - started, 1)
        write_config(model, tmp, report.get("quantization"), report)
    logger.info("exported the written summariser to %s (%.1f MB)", out, report["onnx_megabytes"])
    return report


def _quantize(
    folder: Path, fp32: Any, dev: Sequence[Any] | None, report: dict[str, Any], embedding_bits: int = 8
) -> None:
    """Quantise both graphs (dynamic int8); put float32 back when ROUGE-1 drops by more than allowed."""
    import shutil

    from stage2.export.quantize import quantize_graph
    from stage2.loading import load
    from stage2.summarization.metrics import rouge_scores

    kept = folder / "float32"
    kept.mkdir()
    for name in (SOURCE_GRAPH, STEP_GRAPH):
        shutil.move(str(folder / name), str(kept / name))
        quantize_graph(kept / name, folder / name, "int8", embedding_bits=embedding_bits)
    report["embedding_bits"] = embedding_bits
    report["quantization"] = "int8"
    if not dev:
        report["metric_note"] = "no dev data: int8's ROUGE cost was not measured"
        shutil.rmtree(kept)
        return
    int8 = load(folder, backend="onnx", tasks=("written-summarization",))
    refs = [e.summary for e in dev]
    scores = {}
    for name, runtime in (("onnx_fp32", fp32), ("onnx_int8", int8)):
        preds = runtime.summarize([e.document for e in dev], num_beams=1, unsupported=False)
        assert isinstance(preds, list)
        scores[name] = rouge_scores(refs, [p["summary"] for p in preds])["rouge1"]
    scores["drop"] = round(scores["onnx_fp32"] - scores["onnx_int8"], 2)
    report["metric"] = {"name": "ROUGE-1 (greedy)", "examples": len(dev), **scores}
    if scores["drop"] > MAX_ROUGE_DROP:
        logger.warning("int8 costs %.2f ROUGE-1 (limit %.1f): the float32 graphs ship", scores["drop"], MAX_ROUGE_DROP)
        for name in (SOURCE_GRAPH, STEP_GRAPH):
            shutil.move(str(kept / name), str(folder / name))
        report["quantization"] = None
    shutil.rmtree(kept)
