"""Checks of an export against its torch model: output parity on fixed sample texts, and the task
metric (entity F1, ROUGE-1) on dev data."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stage2.export.convert import ExportError
from stage2.export.spec import PARITY_DOCUMENT, PARITY_TEXTS, ExportSpec


def parity(spec: ExportSpec, runtime: Any) -> float:
    """Max abs difference of the torch model's and the export's outputs on the parity sample."""
    if spec.task == "ner":
        return _ner_parity(spec.model, runtime, spec.labels)
    return _summarizer_parity(spec.model, runtime)


def parity_sample(task: str) -> str:
    """Where the parity sample is defined (for the report)."""
    return "stage2.export.spec.PARITY_TEXTS" if task == "ner" else "stage2.export.spec.PARITY_DOCUMENT"


def _ner_parity(model: Any, runtime: Any, labels: Any) -> float:
    """Max abs difference of the tag logits of torch and ONNX on the parity texts, as one padded batch."""
    from stage2.ner.collator import collate_windows
    from stage2.ner.data import tokenize_words

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


def task_metric_key(task: str) -> str:
    """The report's name of a task's metric value."""
    return "f1" if task == "ner" else "rouge1"


def task_metric_name(task: str) -> str:
    """The report's readable name of a task's metric (``entity F1`` or ``ROUGE-1``)."""
    return "entity F1" if task == "ner" else "ROUGE-1"


def metric(spec: ExportSpec, predictor: Any, dev: Sequence[Any], budget: dict[str, Any]) -> float:
    """The task metric of ``predictor`` (the torch model or a runtime) on ``dev``, rounded to 3 places."""
    return task_score(spec.task, predictor, dev, spec.labels, budget)


def task_score(
    task: str, predictor: Any, dev: Sequence[Any], labels: Any = None, budget: dict[str, Any] | None = None
) -> float:
    """The metric of ``task`` (entity F1 with ``labels``, or ROUGE-1 of summaries within ``budget``) of
    ``predictor`` (a torch model or a runtime) on ``dev``, rounded to 3 places; e.g.
    ``task_score("ner", stage2.runtime.load("ner-default"), stage2.benchmarks.load_ner("conll2003", "dev", 100))``.
    """
    from stage2.ner.metrics import ner_scores
    from stage2.summarization.metrics import rouge_scores

    if task == "ner":
        preds = predictor.predict_words([e.tokens for e in dev], labels)
        return round(float(ner_scores(dev, [[s for s, _ in p] for p in preds])["f1"]), 3)
    outs = predictor.summarize([e.document for e in dev], **(budget or {}))
    return round(float(rouge_scores([e.summary for e in dev], [o["summary"] for o in outs])["rouge1"]), 3)


def load_dev(task: str, dev: Any, limit: int) -> list[Any]:
    """The first ``limit`` dev examples of a labelled file (NER or summarisation data) or a sequence."""
    if isinstance(dev, (str, Path)):
        if task == "ner":
            from stage2.ner.data import load_ner_data

            examples: list[Any] = load_ner_data(dev)
        else:
            from stage2.summarization.data import load_summarization_data

            examples = load_summarization_data(dev)
    else:
        examples = list(dev)
    return examples[:limit]
