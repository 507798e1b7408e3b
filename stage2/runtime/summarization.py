"""Extractive summarisation on ONNX Runtime: the encoder runs in ONNX, the small scoring head in numpy."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from stage2.batching import chunk_ids
from stage2.io import as_batch, warn_if_not_latin
from stage2.registry import EXPORT_CONFIG
from stage2.runtime._base import RuntimeModel, one_blas_thread, pad
from stage2.summarization.head import sentence_scores
from stage2.summarization.selection import check_budget, summarize_document


class SummarizerRuntime(RuntimeModel):
    """An exported extractive summariser. ``summarize`` matches :meth:`stage2.Summarizer.summarize`."""

    task = "extractive-summarization"

    def __init__(self, folder: Any, threads: int | None = None, provider: str | None = None) -> None:
        super().__init__(folder, threads, provider)
        from stage2.summarization.config import SummarizerConfig

        self.config = SummarizerConfig.from_dict(
            self.config, self.folder / EXPORT_CONFIG
        ).to_dict()  # exports of older versions too
        self.head.setdefault("dialogue_prior", self.head["prior"])
        self._prompt_cache: dict[str, np.ndarray] = {}
        self.limit_blas = True
        """numpy's BLAS on one thread while the head runs (:func:`~stage2.runtime._base.one_blas_thread`)."""

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Mean-pooled embeddings ``[N, hidden]``; long texts in chunks averaged by token count."""
        hidden = int(self.config["encoder_config"].get("hidden_size", 0))
        if not texts:
            return np.zeros((0, hidden), dtype=np.float32)
        tok = self.tokens
        chunks, owner = chunk_ids(tok.ids(texts), self.config["max_length"] - 2, tok.cls_id, tok.sep_id, tok.unk_id)
        pooled = np.zeros((len(chunks), hidden), dtype=np.float32)
        weights = np.zeros(len(chunks), dtype=np.float32)

        def encode(part: list[int]) -> tuple[np.ndarray, np.ndarray]:
            ids, mask = pad([chunks[c] for c in part], tok.pad_id)
            return self.run({"input_ids": ids, "attention_mask": mask})["pooled"], mask.sum(axis=1)

        for part, (vectors, counts) in self.map_batches([len(c) for c in chunks], batch_size, encode):
            pooled[part] = vectors
            weights[part] = counts
        total = np.zeros((len(texts), hidden), dtype=np.float32)
        norm = np.zeros(len(texts), dtype=np.float32)
        np.add.at(total, owner, pooled * weights[:, None])
        np.add.at(norm, owner, weights)
        return total / norm[:, None]

    def _prompt_embedding(self, prompt: str) -> np.ndarray:
        with self._lock:
            cached = self._prompt_cache.get(prompt)
        if cached is None:
            cached = self.embed([prompt])[0]
            with self._lock:
                if len(self._prompt_cache) > 256:
                    self._prompt_cache.clear()
                self._prompt_cache[prompt] = cached
        return cached

    def score_embeddings(
        self,
        emb: np.ndarray,
        prompt: np.ndarray,
        sentences: Sequence[str],
        extra_relevance: float = 0.0,
        dialogue: bool = False,
        focus: str | None = None,
    ) -> np.ndarray:
        """Sentence scores from embeddings ``[n, H]`` and the prompt embedding ``[H]``: the torch model's
        head (:func:`~stage2.summarization.head.sentence_scores`) on the weights of ``head.npz``."""
        with one_blas_thread() if self.limit_blas else contextlib.nullcontext():
            scores = sentence_scores(
                self.head, emb, prompt, sentences, self.config, extra_relevance, dialogue, focus=focus
            )
        return scores.astype(np.float32)

    def score_sentences(
        self,
        sentences: Sequence[str],
        prompt: str,
        extra_relevance: float = 0.0,
        dialogue: bool = False,
        focus: str | None = None,
    ) -> np.ndarray:
        """One score per sentence (higher: belongs in the summary)."""
        if not sentences:
            return np.zeros(0, dtype=np.float32)
        emb = self.embed(sentences)
        return self.score_embeddings(emb, self._prompt_embedding(prompt), sentences, extra_relevance, dialogue, focus)

    def summarize(
        self,
        document: str | Sequence[str],
        max_sentences: int | None = None,
        max_words: int | None = None,
        ratio: float | None = None,
        focus: str | None = None,
    ) -> dict[str, Any] | list[dict[str, Any]]:
        """Summarise one document (a dict) or a batch (a list of dicts); see
        :meth:`stage2.Summarizer.summarize` for the fields.
        """
        check_budget(max_sentences, max_words, ratio, focus)
        docs, single = as_batch(document, "document")
        warn_if_not_latin(docs, "document")
        results = [
            summarize_document(
                doc, self.config, self.score_sentences, self.embed, max_sentences, max_words, ratio, focus
            )
            for doc in docs
        ]
        return results[0] if single else results
