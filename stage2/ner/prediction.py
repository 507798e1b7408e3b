"""Prediction for :class:`~stage2.ner.modeling.NERModel`: sentences cut into windows of subwords, scored
in length-sorted batches, decoded to spans (with scores), to entity dicts, or to seqeval scores.

:class:`PredictionMixin` holds these methods; the model supplies ``config``, ``tokenizer``,
``resolve_labels`` and ``logits_for`` (and ``nn.Module``'s ``training``, ``eval`` and ``train``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from stage2.batching import length_batches
from stage2.io import tokenizable
from stage2.labels import LabelSet, LabelsInput
from stage2.ner.config import NERConfig
from stage2.ner.data import NERExample
from stage2.ner.decoding import (
    DEFAULT_THRESHOLD,
    above_threshold,
    check_threshold,
    decode_sentences,
    predict_texts,
    threshold_rule,
)
from stage2.ner.windows import Context, Window, sentence_windows

LabelsArg = LabelsInput | None

__all__ = ["LabelsArg", "PredictionMixin"]


class PredictionMixin:
    """Featurising and prediction of the NER model (see the module docstring)."""

    if TYPE_CHECKING:  # provided by the model
        config: NERConfig
        tokenizer: Any
        training: bool

        def resolve_labels(self, labels: LabelsArg) -> LabelSet: ...

        def logits_for(self, batch: dict[str, torch.Tensor], label_set: LabelSet) -> torch.Tensor: ...

        def eval(self) -> Any: ...

        def train(self, mode: bool = True) -> Any: ...

    # ----------------------------------------------------------------- featurising
    def word_subwords(self, words: Sequence[str]) -> list[list[int]]:
        """Subword ids of each word, exactly aligned (an empty tokenisation becomes ``[UNK]``)."""
        if not words:
            return []
        enc = self.tokenizer(tokenizable(words), is_split_into_words=True, add_special_tokens=False)
        pieces: list[list[int]] = [[] for _ in words]
        for tok_id, w in zip(enc["input_ids"], enc.word_ids(), strict=True):
            if w is not None:
                pieces[w].append(tok_id)
        unk = self.tokenizer.unk_token_id if self.tokenizer.unk_token_id is not None else 0
        return [p if p else [unk] for p in pieces]

    def make_windows(self, index: int, words: Sequence[str], context: Context | None = None) -> list[Window]:
        """Windows of at most ``config.max_length`` subwords covering every word of a sentence;
        ``context`` (words before, words after) adds up to ``config.max_context`` subwords a side.
        """
        tok = self.tokenizer
        return sentence_windows(
            index,
            words,
            self.word_subwords,
            max_length=self.config.max_length,
            overlap=self.config.window_overlap,
            max_context=self.config.max_context,
            cls_id=tok.cls_token_id if tok.cls_token_id is not None else tok.bos_token_id,
            sep_id=tok.sep_token_id if tok.sep_token_id is not None else tok.eos_token_id,
            context=context,
        )

    # ----------------------------------------------------------------- prediction
    @torch.no_grad()
    def predict_words(
        self,
        sentences: Sequence[Sequence[str]],
        labels: LabelsArg = None,
        batch_size: int = 32,
        contexts: Sequence[Context | None] | None = None,
        threshold: float | None = DEFAULT_THRESHOLD,
    ) -> list[list[tuple[Any, float]]]:
        """Spans with scores for pre-tokenised sentences: ``[[(Span, score), ...], ...]``.

        ``contexts`` gives each sentence's neighbouring words (before, after) as unlabelled input;
        ``threshold`` (0 to 1, None: the model's own) is applied as :func:`stage2.ner.decoding.threshold_rule`
        says: a sigmoid-scored model's decision threshold, a softmax-scored model's cut.
        """
        label_set = self.resolve_labels(labels)
        outside, cut = threshold_rule(check_threshold(threshold), self.config.scoring, self.config.decision_threshold)
        if contexts is not None and len(contexts) != len(sentences):
            raise ValueError(f"{len(contexts)} contexts for {len(sentences)} sentences")
        was_training = self.training
        self.eval()
        try:
            return above_threshold(self._predict_words(sentences, label_set, batch_size, contexts, outside), cut)
        finally:
            self.train(was_training)

    def _predict_words(
        self,
        sentences: Sequence[Sequence[str]],
        label_set: LabelSet,
        batch_size: int,
        contexts: Sequence[Context | None] | None,
        outside: float = 0.0,
    ) -> list[list[tuple[Any, float]]]:
        from stage2.ner.collator import collate_windows

        windows = [
            w
            for i, words in enumerate(sentences)
            for w in self.make_windows(i, words, contexts[i] if contexts is not None else None)
        ]
        word_scores: list[np.ndarray | None] = [None] * len(windows)
        for part in length_batches([len(w.input_ids) for w in windows], batch_size):
            batch = collate_windows([windows[i] for i in part], self.tokenizer.pad_token_id or 0)
            logits = self.logits_for(batch, label_set).float().cpu().numpy()
            for row, i in enumerate(part):
                word_scores[i] = logits[row, windows[i].first_subword]
        scores = [s for s in word_scores if s is not None]
        return decode_sentences(
            [len(words) for words in sentences],
            [(w.example, w.start, w.end) for w in windows],
            scores,
            label_set.keys,
            outside,
        )

    def predict(
        self,
        text: str | Sequence[str],
        labels: LabelsArg = None,
        batch_size: int = 32,
        threshold: float | None = DEFAULT_THRESHOLD,
    ) -> list[dict[str, Any]] | list[list[dict[str, Any]]]:
        """Find entities in one text (returns a list of dicts) or a batch (a list of such lists).

        Each entity is ``{"label", "score", "text", "word_start", "word_end", "char_start", "char_end"}``
        (``*_end`` exclusive). ``labels`` is ``{"name": "description"}``, ``["name", ...]`` or None
        for the model's own labels. ``threshold`` (0 to 1; None: the model's own): for a sigmoid-scored
        model, the probability from which a word is an entity of a label (lower finds more); for a
        softmax-scored one, entities scoring below it are dropped. Empty or
        whitespace-only text gives no entities.
        """
        return predict_texts(self.predict_words, text, labels, batch_size, threshold)

    def evaluate(
        self, examples: Sequence[NERExample], labels: LabelsArg = None, batch_size: int = 32
    ) -> dict[str, Any]:
        """seqeval strict IOB2 micro P/R/F1 (percent) and per-type F1 on labelled examples."""
        from stage2.ner.metrics import ner_scores

        label_set = self.resolve_labels(labels)
        contexts = [e.context for e in examples]
        has_context = any(c is not None for c in contexts)
        preds = self.predict_words(
            [e.tokens for e in examples], label_set, batch_size, contexts if has_context else None
        )
        return ner_scores(examples, [[s for s, _ in p] for p in preds])
