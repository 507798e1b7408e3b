"""Extractive summarisation on ONNX Runtime: the encoder runs in ONNX, the small scoring head in numpy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from stage2.batching import chunk_ids
from stage2.io import as_batch, warn_if_not_latin
from stage2.registry import EXPORT_CONFIG
from stage2.runtime._base import RuntimeModel, pad
from stage2.summarization.features import feature_columns, focus_context, static_features
from stage2.summarization.selection import check_budget, summarize_document


def gelu(x: np.ndarray) -> np.ndarray:
    """Exact (erf) GELU, as ``torch.nn.GELU()``; erf from Abramowitz and Stegun 7.1.26 (error < 2e-7)."""
    z = np.abs(x) / np.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    erf = np.sign(x) * (1.0 - poly * np.exp(-z * z))
    return 0.5 * x * (1.0 + erf)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


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
        self._columns = feature_columns(self.config["features"])
        self._prompt_cache: dict[str, np.ndarray] = {}

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
        """Sentence scores from embeddings ``[n, H]`` and the prompt embedding ``[H]`` (the torch head);
        a ``focus`` adds its neighbourhood term (:func:`~stage2.summarization.features.focus_context`)."""
        h = self.head
        n = emb.shape[0]
        names = list(self.config["features"])
        unit = _unit(emb)
        all_feats = np.concatenate([(unit @ _unit(prompt))[:, None], static_features(sentences, unit)], axis=-1)
        feats = all_feats[:, self._columns].astype(np.float32)
        base = feats @ h["dialogue_prior" if dialogue else "prior"]
        salience = h.get("dialogue_salience" if dialogue else "salience")
        if salience is not None:  # exports before few-shot salience have none
            base = base + unit @ salience
        if extra_relevance and "relevance" in names:
            base = base + extra_relevance * feats[:, names.index("relevance")]
        if focus:
            base = base + focus_context(all_feats[:, 0], sentences, focus, self.config)
        buckets = int(self.config["position_buckets"])
        bucket = np.minimum(np.arange(n) * buckets // max(n, 1), buckets - 1)
        s = emb @ h["sentence_proj.weight"].T + h["sentence_proj.bias"]

        def context(x: np.ndarray) -> np.ndarray:
            return x @ h["context_proj.weight"].T + h["context_proj.bias"]

        x = np.concatenate([s * context(prompt), s * context(emb.mean(axis=0)), feats], axis=-1)
        hidden = gelu(x @ h["mlp.0.weight"].T + h["mlp.0.bias"])
        residual = (hidden @ h["mlp.2.weight"].T + h["mlp.2.bias"])[:, 0]
        return (base + h["position_bias.weight"][bucket, 0] + residual).astype(np.float32)

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
