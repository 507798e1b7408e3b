"""The written (abstractive) summariser on ONNX Runtime: ``source.onnx`` reads the document once,
``step.onnx`` writes one subword at a time with a key/value cache; greedy and beam search run in numpy
(:mod:`stage2.summarization.generation`, the same search as the torch model's)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from stage2.batching import chunk_ids
from stage2.registry import EXPORT_CONFIG
from stage2.runtime._base import Tokens, _inside, _require, pad, providers, read_export_config


class OnnxSteps:
    """Decoding steps of an export (what :func:`stage2.summarization.generation.beam_search` drives)."""

    def __init__(self, source: Any, step: Any, tokens: Tokens, config: dict[str, Any]) -> None:
        self.source_session, self.step_session, self.tokens = source, step, tokens
        self.window = int(config["window"])
        self.layers = len(config["decoder_layers"])
        self.heads = int(config["heads"])
        self.head_size = int(config["hidden"]) // self.heads
        self.start_id, self.end_id, self.pad_id = tokens.cls_id, tokens.sep_id, tokens.pad_id
        self.names = [f"cross_{kind}{i}" for i in range(self.layers) for kind in ("k", "v")]

    def source(self, text: str) -> dict[str, np.ndarray]:
        """The cross keys/values of ``text``'s windows, joined (``cross_k*`` ``[1, heads, d, S]``, ``cross_v*``
        ``[1, heads, S, d]``), and its copy ids ``[1, S]``."""
        tok = self.tokens
        windows, _ = chunk_ids(tok.ids([text]), self.window - 2, tok.cls_id, tok.sep_id, tok.unk_id)
        ids, mask = pad(windows, tok.pad_id)
        outputs = self.source_session.run(self.names, {"input_ids": ids, "attention_mask": mask})
        lengths = [len(w) for w in windows]
        out = {}
        for name, value in zip(self.names, outputs, strict=True):
            axis = 3 if name.startswith("cross_k") else 2  # window w's own positions, then the windows joined
            parts = [np.take(value[w], np.arange(n), axis=axis - 1) for w, n in enumerate(lengths)]
            out[name] = np.concatenate(parts, axis=axis - 1)[None]
        joined = np.concatenate(windows)
        copy = np.where((joined == tok.cls_id) | (joined == tok.sep_id), tok.pad_id, joined)
        return {**out, "source_ids": copy[None].astype(np.int64)}

    def step(
        self, ids: np.ndarray, positions: np.ndarray, past: np.ndarray | None, source: dict[str, np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Log-probabilities ``[B, V]`` of the next subword and the new past."""
        batch = ids.shape[0]
        if past is None:
            past = np.zeros((self.layers, 2, batch, self.heads, 0, self.head_size), dtype=np.float32)
        feeds = {
            "ids": ids,
            "positions": positions,
            "past": past,
            "source_ids": source["source_ids"],
            "source_mask": np.ones(source["source_ids"].shape, dtype=np.int64),
            **{name: source[name] for name in self.names},
        }
        logp, present = self.step_session.run(["logp", "present"], feeds)
        return logp, present

    def decode(self, ids: list[int]) -> str:
        """Text of generated subwords (specials dropped)."""
        return str(self.tokens.tokenizer.decode(ids, skip_special_tokens=True))


class WrittenSummarizerRuntime:
    """An exported written summariser; ``summarize`` matches :meth:`stage2.AbstractiveSummarizer.summarize`."""

    task = "written-summarization"

    def __init__(
        self,
        folder: str | Path,
        threads: int | None = None,
        provider: str | None = None,
        names: Callable[[], Any] | None = None,
    ) -> None:
        """``names`` gives the NER model of the ``unsupported`` check (:func:`stage2.runtime.name_finder` when
        opened by ``stage2.load``; without it, capitalisation stands in for names)."""
        import onnxruntime as ort

        self.folder = Path(folder)
        meta_path = self.folder / EXPORT_CONFIG
        self.meta = read_export_config(self.folder)
        _require(self.meta, meta_path, ("task", "model_config", "graphs", "special"))
        if self.meta["task"] != self.task:
            raise ValueError(f"{self.folder} is a {self.meta['task']!r} export, not {self.task!r}")
        self.config: dict[str, Any] = self.meta["model_config"]
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or min(2, os.cpu_count() or 1)
        options.inter_op_num_threads = 1
        chosen = [provider] if provider else providers()
        sessions = {}
        for role in ("source", "step"):
            path = _inside(self.folder, self.meta["graphs"].get(role), meta_path, f"graphs.{role}")
            if not path.is_file():
                raise FileNotFoundError(f"{path}: missing; the export is incomplete (re-run `stage2 export`)")
            try:
                sessions[role] = ort.InferenceSession(str(path), options, providers=chosen)
            except Exception as err:  # onnxruntime's errors share no public base class
                first = str(err).splitlines()[0][:200] if str(err) else type(err).__name__
                raise ValueError(f"{path}: not a loadable ONNX model ({first}); re-run `stage2 export`") from None
        self.tokens = Tokens(self.folder, self.meta["special"])
        self.steps = OnnxSteps(sessions["source"], sessions["step"], self.tokens, self.config)
        self.card = self.meta.get("card", {})
        self.names = names

    def summarize(
        self,
        document: str | Sequence[str],
        max_sentences: int | None = None,
        max_words: int | None = None,
        ratio: float | None = None,
        focus: str | None = None,
        num_beams: int = 4,
        **kwargs: Any,
    ) -> dict[str, Any] | list[dict[str, Any]]:
        """Write a summary per document: ``{"summary", "sentences": [], "abstractive": True, "unsupported"}``."""
        from stage2.summarization.generation import write_summaries

        return write_summaries(
            self.steps, document, max_sentences, max_words, ratio, focus, num_beams, names=self.names, **kwargs
        )
