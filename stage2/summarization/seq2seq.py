"""Abstractive summarisation with a user-supplied seq2seq checkpoint (any Hugging Face id or path),
trained, generated and evaluated through the same API and loop as the extractive summariser.

No seq2seq weights can be had offline here, so no abstractive quality is claimed by this project.
"""

from __future__ import annotations

import json
import logging
import math
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from stage2._version import __version__
from stage2.formats import MODEL_FORMAT, migrate_model
from stage2.io import as_batch
from stage2.loop import TrainingConfig, TrainResult, data_fingerprint, run_loop, shuffled_batches
from stage2.registry import TORCH_CONFIG, read_config
from stage2.summarization.data import SummaryExample
from stage2.summarization.segmenting import split_sentences
from stage2.summarization.selection import check_budget

logger = logging.getLogger(__name__)


class Seq2SeqSummarizer(nn.Module):
    """Wraps ``AutoModelForSeq2SeqLM``. Documents longer than ``max_source_length`` tokens are
    summarised chunk by chunk (whole sentences per chunk) and the chunk summaries joined, with a
    log message: nothing is cut off silently.
    """

    def __init__(self, model: Any, tokenizer: Any, max_source_length: int = 512, prefix: str = "") -> None:
        super().__init__()
        self.model = model
        self.tokenizer = tokenizer
        self.max_source_length = max_source_length
        self.prefix = prefix
        self.card: dict[str, Any] = {}

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path, **kwargs: Any) -> Seq2SeqSummarizer:
        """Load a seq2seq checkpoint (hub id or folder, a stage2-saved one included)."""
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        from stage2.backbone import check_source

        folder = Path(name_or_path)
        offline = check_source(str(name_or_path))  # fail now, not in retries
        settings: dict[str, Any] = {}
        if (folder / TORCH_CONFIG).exists():
            settings = migrate_model(read_config(folder / TORCH_CONFIG), folder / TORCH_CONFIG)
        model = AutoModelForSeq2SeqLM.from_pretrained(
            str(name_or_path), trust_remote_code=False, local_files_only=offline
        )
        tokenizer = AutoTokenizer.from_pretrained(str(name_or_path), trust_remote_code=False, local_files_only=offline)
        prefix = kwargs.get("prefix", settings.get("prefix", "summarize: " if model.config.model_type == "t5" else ""))
        out = cls(model, tokenizer, kwargs.get("max_source_length", settings.get("max_source_length", 512)), prefix)
        out.card = settings.get("card", {})
        return out.eval()

    def save_pretrained(self, path: str | Path) -> None:
        """Save the seq2seq model, its tokenizer and stage2's settings."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(str(path))
        self.tokenizer.save_pretrained(str(path))
        settings = {
            "task": "abstractive-summarization",
            "format": MODEL_FORMAT,
            "prefix": self.prefix,
            "max_source_length": self.max_source_length,
            "card": self.card,
            "stage2_version": __version__,
        }
        (path / TORCH_CONFIG).write_text(json.dumps(settings, indent=2), encoding="utf-8")

    @property
    def device(self) -> torch.device:
        """Where the weights live."""
        return next(self.parameters()).device

    def _count(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _chunks(self, document: str, focus: str | None = None) -> list[str]:
        """Whole sentences per chunk; a sentence longer than a chunk is split between words."""
        sents = [s.text for s in split_sentences(document)] or [document]
        budget = self.max_source_length - 8 - self._count(self.prefix + (f"{focus}: " if focus else ""))
        budget = max(budget, 8)
        pieces: list[tuple[str, int]] = []
        for sent in sents:
            n = self._count(sent)
            if n <= budget:
                pieces.append((sent, n))
                continue
            part: list[str] = []
            used = 0
            for word in sent.split():
                w = self._count(" " + word)
                if part and used + w > budget:
                    pieces.append((" ".join(part), used))
                    part, used = [], 0
                part.append(word)
                used += w
            if part:
                pieces.append((" ".join(part), used))
        chunks: list[str] = []
        current: list[str] = []
        used = 0
        for sent, n in pieces:
            if current and used + n > budget:
                chunks.append(" ".join(current))
                current, used = [], 0
            current.append(sent)
            used += n
        if current:
            chunks.append(" ".join(current))
        return chunks

    @torch.no_grad()
    def summarize(
        self,
        document: str | Sequence[str],
        max_sentences: int | None = None,
        max_words: int | None = None,
        ratio: float | None = None,
        focus: str | None = None,
        num_beams: int = 4,
    ) -> dict[str, Any] | list[dict[str, Any]]:
        """Generate a summary per document: ``{"summary": str, "sentences": []}`` (no source offsets)."""
        check_budget(max_sentences, max_words, ratio)
        docs, single = as_batch(document, "document")
        self.eval()
        out = []
        for doc in docs:
            if not doc.strip():
                out.append({"summary": "", "sentences": []})
                continue
            words = max_words or (round(ratio * len(doc.split())) if ratio else 25 * (max_sentences or 3))
            chunks = self._chunks(doc, focus)
            if len(chunks) > 1:
                logger.info("document of %d words summarised in %d chunks", len(doc.split()), len(chunks))
            parts = []
            for chunk in chunks:
                text = self.prefix + (f"{focus}: " if focus else "") + chunk
                # chunks fit the window; truncation only guards tokenizer-count mismatches of a few tokens
                enc = self.tokenizer(text, return_tensors="pt", truncation=True, max_length=self.max_source_length).to(
                    self.device
                )
                ids = self.model.generate(
                    **enc, max_new_tokens=max(8, math.ceil(2 * words / len(chunks))), num_beams=num_beams
                )
                parts.append(self.tokenizer.decode(ids[0], skip_special_tokens=True).strip())
            out.append({"summary": " ".join(p for p in parts if p), "sentences": []})
        return out[0] if single else out


def _teacher_forced_loss(model: Seq2SeqSummarizer, batch: list[SummaryExample], max_target_length: int) -> Any:
    """The model's cross-entropy on the reference summaries of ``batch``, sources and targets cut to length."""
    enc = model.tokenizer(
        [model.prefix + e.document for e in batch],
        truncation=True,
        max_length=model.max_source_length,
        padding=True,
        return_tensors="pt",
    )
    tgt = model.tokenizer(
        text_target=[e.summary for e in batch],
        truncation=True,
        max_length=max_target_length,
        padding=True,
        return_tensors="pt",
    )
    labels = tgt["input_ids"].masked_fill(tgt["attention_mask"] == 0, -100)
    return model.model(**{k: v.to(model.device) for k, v in enc.items()}, labels=labels.to(model.device)).loss


def _warn_long(model: Seq2SeqSummarizer, examples: list[SummaryExample], max_target_length: int) -> None:
    """Log how many documents and summaries are longer than the model reads (they are cut for training)."""
    long = sum(
        1 for e in examples if len(model.tokenizer(model.prefix + e.document)["input_ids"]) > model.max_source_length
    )
    long_targets = sum(
        1 for e in examples if len(model.tokenizer(text_target=e.summary)["input_ids"]) > max_target_length
    )
    if long_targets:
        logger.warning(
            "%d of %d reference summaries exceed %d tokens and are cut to it for training",
            long_targets,
            len(examples),
            max_target_length,
        )
    if long:
        logger.warning(
            "%d of %d training documents exceed %d tokens and are cut to it for training",
            long,
            len(examples),
            model.max_source_length,
        )


def train_seq2seq(
    model: Seq2SeqSummarizer,
    train_data: Sequence[SummaryExample],
    dev_data: Sequence[SummaryExample] | None = None,
    config: TrainingConfig | None = None,
    max_target_length: int = 128,
) -> TrainResult:
    """Teacher-forced fine-tuning of the seq2seq model on document/summary pairs (shared loop).

    Sources longer than ``max_source_length`` are cut to it for training, with a logged count.
    Every weight trains at ``config.learning_rate`` (there is no separate head).
    """
    from stage2.summarization.metrics import rouge_scores

    cfg = config or TrainingConfig(batch_size=4, learning_rate=3e-4, head_learning_rate=3e-4)
    examples = [e for e in train_data if e.document.strip() and e.summary.strip()]
    if not examples:
        raise ValueError("no training pair has both a document and a summary")
    _warn_long(model, examples, max_target_length)
    per_epoch = math.ceil(len(examples) / cfg.batch_size)
    steps = cfg.total_steps(per_epoch)
    schedule = shuffled_batches(len(examples), cfg.batch_size, steps, cfg.seed)

    def batch_loss(step: int, rng: random.Random) -> torch.Tensor:
        return _teacher_forced_loss(model, [examples[i] for i in schedule[step]], max_target_length)

    def evaluate() -> dict[str, Any]:
        assert dev_data is not None
        preds = model.summarize([e.document for e in dev_data])
        assert isinstance(preds, list)
        return rouge_scores([e.summary for e in dev_data], [p["summary"] for p in preds])

    result = run_loop(
        model,
        cfg,
        steps,
        batch_loss,
        evaluate if dev_data else None,
        cfg.eval_points(steps, per_epoch),
        "rouge1",
        is_encoder=lambda name: True,
        fingerprint=data_fingerprint([[e.document, e.summary] for e in examples]),
    )
    model.card.setdefault("training", []).append(
        {"documents": len(examples), "steps": steps, "seconds": round(result.seconds, 1), "seed": cfg.seed}
    )
    return result
