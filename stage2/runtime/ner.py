"""NER on ONNX Runtime: the same windows, label prompts and decoding as :class:`stage2.NERModel`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from stage2.labels import LabelSet, Span, resolve_label_set
from stage2.ner.decoding import (
    DEFAULT_THRESHOLD,
    above_threshold,
    check_threshold,
    decode_sentences,
    predict_texts,
    threshold_rule,
)
from stage2.ner.head import label_scores, label_vectors, linear_columns, merge_passes, prefix_label_vectors
from stage2.ner.joint import JointPrefix, PrefixCache, joint_budget
from stage2.ner.windows import Context, Window, sentence_windows
from stage2.registry import EXPORT_CONFIG
from stage2.runtime._base import RuntimeModel, pad


class NERRuntime(RuntimeModel):
    """An exported NER model. ``predict`` matches :meth:`stage2.NERModel.predict`."""

    task = "ner"

    def __init__(self, folder: Any, threads: int | None = None, provider: str | None = None) -> None:
        super().__init__(folder, threads, provider)
        from stage2.ner.config import NERConfig

        self.config = NERConfig.from_dict(self.config, self.folder / EXPORT_CONFIG).to_dict()  # checked field by field
        self.linear = self.config["head"] == "linear"
        self.labels = LabelSet.from_dict(self.config["labels"])
        self._label_cache: dict[tuple[str, ...], np.ndarray] = {}
        self.joint = self.config["label_reading"] == "joint"
        self._prefix_cache = PrefixCache()

    def resolve_labels(self, labels: Any) -> LabelSet:
        """The label set to use: the given one (validated) or the model's own."""
        fixed = self.linear or not self.config["open_labels"]
        return resolve_label_set(labels, self.labels, fixed, int(self.config["max_labels"]))

    def label_vectors(self, label_set: LabelSet) -> np.ndarray:
        """Unit label vectors ``[L, D]`` of the label-semantic head (cached per label set)."""
        prompts = tuple(label_set.prompts(self.config["template"]))
        with self._lock:
            cached = self._label_cache.get(prompts)
        if cached is not None:
            return cached
        budget = self.config["max_length"] - 2
        rows = [
            [self.tokens.cls_id, *(ids[:budget] or [self.tokens.unk_id]), self.tokens.sep_id]
            for ids in self.tokens.ids(prompts)
        ]
        ids, mask = pad(rows, self.tokens.pad_id)
        pooled = self.run({"input_ids": ids, "attention_mask": mask, "shape_ids": np.zeros_like(ids)})["pooled"]
        unit = label_vectors(pooled, self.head["label_proj.weight"], self.head["label_proj.bias"])
        with self._lock:
            if len(self._label_cache) > 64:
                self._label_cache.clear()
            self._label_cache[prompts] = unit
        return unit

    def label_prefixes(self, label_set: LabelSet) -> list[JointPrefix]:
        """Joint label reading: the label prompts as prefixes that fit beside a window (cached)."""
        positions = int(self.config["encoder_config"]["max_position_embeddings"])
        budget = joint_budget(positions, int(self.config["max_length"]))
        special = {k: int(v) for k, v in self.meta["special"].items()}
        return self._prefix_cache.get(label_set.prompts(self.config["template"]), self.tokens.ids, special, budget)

    def _joint_logits(self, windows: Sequence[Window], label_set: LabelSet) -> list[np.ndarray]:
        """Tag logits of each window's words with the label prompts read before the text (one pass per
        prefix; the O logit is the mean over passes, as in the torch model)."""
        proj = self.head["label_proj.weight"], self.head["label_proj.bias"]
        passes = []
        for prefix in self.label_prefixes(label_set):
            p = len(prefix.ids)
            ids, mask = pad([[w.input_ids[0], *prefix.ids, *w.input_ids[1:]] for w in windows], self.tokens.pad_id)
            shapes, _ = pad([[w.shape_ids[0], *([0] * p), *w.shape_ids[1:]] for w in windows], 0)
            out = self.run({"input_ids": ids, "attention_mask": mask, "shape_ids": shapes})
            lab = prefix_label_vectors(prefix.pool_matrix(), out["hidden"], *proj)  # [B, L, D]
            scores = self._label_scores(out, lab)
            passes.append([scores[row, [p + i for i in w.first_subword]] for row, w in enumerate(windows)])
        return [merge_passes(per_window) for per_window in zip(*passes, strict=True)]

    def _label_scores(self, out: dict[str, np.ndarray], labels: np.ndarray) -> np.ndarray:
        """Tag logits ``[B, T, 1 + 2L]`` of the graph's token outputs against unit label vectors."""
        scale, bias = self.head["logit_scale"], self.head["tag_bias"]
        return label_scores(out["outside"], out["begin"], out["inside"], labels, scale, bias)

    def make_windows(
        self,
        index: int,
        words: Sequence[str],
        context: Context | None = None,
        pieces: list[list[int]] | None = None,
    ) -> list[Window]:
        """The torch model's windows for a sentence (``pieces``: its words' subword ids, when already known)."""

        def subwords(text: Sequence[str]) -> list[list[int]]:
            return pieces if pieces is not None and text is words else self.tokens.word_subwords(text)

        return sentence_windows(
            index,
            words,
            subwords,
            max_length=self.config["max_length"],
            overlap=self.config["window_overlap"],
            max_context=self.config["max_context"],
            cls_id=self.tokens.cls_id,
            sep_id=self.tokens.sep_id,
            context=context,
        )

    def window_logits(self, windows: Sequence[Window], label_set: LabelSet) -> list[np.ndarray]:
        """Tag logits ``[words, 1 + 2L]`` of each window's words, for one batch of windows."""
        if self.joint and not self.linear:
            return self._joint_logits(windows, label_set)
        ids, mask = pad([w.input_ids for w in windows], self.tokens.pad_id)
        shapes, _ = pad([w.shape_ids for w in windows], 0)
        out = self.run({"input_ids": ids, "attention_mask": mask, "shape_ids": shapes})
        if self.linear:
            cols = linear_columns([self.labels.keys.index(k) for k in label_set.keys])
            return [out["logits"][row, w.first_subword][:, cols] for row, w in enumerate(windows)]
        scores = self._label_scores(out, self.label_vectors(label_set))
        return [scores[row, w.first_subword] for row, w in enumerate(windows)]

    def predict_words(
        self,
        sentences: Sequence[Sequence[str]],
        labels: Any = None,
        batch_size: int = 32,
        contexts: Sequence[Context | None] | None = None,
        threshold: float | None = DEFAULT_THRESHOLD,
    ) -> list[list[tuple[Span, float]]]:
        """Spans with scores for pre-tokenised sentences: ``[[(Span, score), ...], ...]`` (``threshold`` as in
        :meth:`stage2.NERModel.predict_words`)."""
        label_set = self.resolve_labels(labels)
        rule = threshold_rule(check_threshold(threshold), self.config["scoring"], self.config["decision_threshold"])
        if contexts is not None and len(contexts) != len(sentences):
            raise ValueError(f"{len(contexts)} contexts for {len(sentences)} sentences")
        pieces = self.tokens.word_subwords_many(sentences)  # one tokenizer call for the batch

        def spans(group: list[int]) -> list[list[tuple[Span, float]]]:
            around = [contexts[i] for i in group] if contexts is not None else None
            part = [sentences[i] for i in group]
            return self._spans(part, [pieces[i] for i in group], label_set, around, batch_size, rule[0])

        found: list[list[tuple[Span, float]]] = [[] for _ in sentences]
        for group, result in self.map_groups([sum(map(len, p)) for p in pieces], spans):
            for i, s in zip(group, result, strict=True):
                found[i] = s
        return above_threshold(found, rule[1])

    def _spans(
        self,
        sentences: Sequence[Sequence[str]],
        pieces: Sequence[list[list[int]]],
        label_set: LabelSet,
        contexts: Sequence[Context | None] | None,
        batch_size: int,
        outside: float,
    ) -> list[list[tuple[Span, float]]]:
        """Every scored span of each sentence (its words' subword ids ``pieces``), before the threshold."""
        windows = [
            w
            for i, words in enumerate(sentences)
            for w in self.make_windows(i, words, contexts[i] if contexts is not None else None, pieces[i])
        ]
        scores: list[np.ndarray] = [np.zeros(0)] * len(windows)
        batches = self.map_batches(
            [len(w.input_ids) for w in windows],
            batch_size,
            lambda part: self.window_logits([windows[i] for i in part], label_set),
        )
        for part, logits in batches:
            for i, s in zip(part, logits, strict=True):
                scores[i] = s
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
        labels: Any = None,
        batch_size: int = 32,
        threshold: float | None = DEFAULT_THRESHOLD,
    ) -> list[dict[str, Any]] | list[list[dict[str, Any]]]:
        """Entities of one text (a list of dicts) or of a batch (a list of such lists); see
        :meth:`stage2.NERModel.predict` for the fields.
        """
        return predict_texts(self.predict_words, text, labels, batch_size, threshold)
