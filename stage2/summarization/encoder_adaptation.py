"""Few-shot adaptation of the extractive summariser's encoder: its top layers, fine-tuned on a few documents.

The six feature weights of the zero-shot prior were chosen on thousands of documents, and a salience
direction fitted on ten documents does not help (see :mod:`stage2.summarization.adaptation`). What ten
documents can still teach is how the new corpus's sentences look to the encoder: :func:`fit_encoder`
fine-tunes the encoder's top :data:`LAYERS` transformer layers (everything else stays frozen: the lower
layers, the embeddings, the feature weights and the residual) with the pairwise ranking loss of
:func:`~stage2.summarization.training.ranking_loss` on greedy-oracle labels, :data:`STEPS` steps of
:data:`DOCUMENTS_PER_STEP` documents, AdamW at :data:`LEARNING_RATE` without weight decay and with
dropout off. The adapted encoder also embeds the intent prompt (same encoder), and exports like any other.

Long documents (meetings of hundreds of turns) would make each step a forward and backward pass over
every sentence: a step re-embeds with gradients at most :data:`SENTENCES_PER_STEP` sentences of a
document (its oracle sentences first, the others drawn at random) and takes the other sentences'
embeddings from the encoder as it was before training; the loss ranks the re-embedded sentences.

The fit is checked on the documents themselves, as the salience fit is: ``folds``-fold cross-validation
compares held-out ROUGE-1 before and after fine-tuning on the other folds; when it does not help the
prior is kept. Every decision goes into the model card.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from stage2.summarization.data import SummaryExample
from stage2.summarization.objectives import oracle_labels, ranking_loss

logger = logging.getLogger(__name__)

LAYERS = 4
"""Top encoder layers fine-tuned (SAMSum validation, 10 dialogues, seeds 1-3: 1 layer +0.0, 2 +0.7, 3 +1.3,
4 +1.7, all 6 +1.4 ROUGE-1)."""
LEARNING_RATE = 1e-4
STEPS = 60
DOCUMENTS_PER_STEP = 4
SENTENCES_PER_STEP = 64
"""Sentences of one document re-embedded with gradients per step (longer documents are sampled)."""
MIN_DOCUMENTS = 5
"""Fewer documents keep the prior: cross-validation needs at least one held-out document per fold."""

HARM_Z = 1.645
"""The fine-tuned encoder is rejected when the held-out ranking accuracy falls by more than this many
standard errors (a one-sided 95% test of harm)."""

_LAYER_INDEX = re.compile(r"(?:^|\.)(?:layer|layers|block|h)\.(\d+)\.")


def top_layer_parameters(model: Any, layers: int) -> dict[str, torch.nn.Parameter]:
    """The parameters of the encoder's top ``layers`` transformer layers, by name (BERT, MPNet, RoBERTa,
    DeBERTa, T5 and GPT-style encoders number their layers ``layer.N``, ``layers.N``, ``block.N`` or ``h.N``)."""
    numbered: dict[str, tuple[int, torch.nn.Parameter]] = {}
    for name, p in model.encoder.named_parameters():
        found = _LAYER_INDEX.findall(name)
        if found:
            numbered[name] = (int(found[-1]), p)
    if not numbered:
        raise ValueError(f"cannot find numbered transformer layers in the encoder {type(model.encoder).__name__}")
    depth = max(i for i, _ in numbered.values()) + 1
    if layers < 1:
        raise ValueError(f"layers must be at least 1, got {layers}")
    return {f"encoder.{n}": p for n, (i, p) in numbered.items() if i >= depth - min(layers, depth)}


def fit_encoder(
    model: Any,
    examples: Sequence[SummaryExample],
    budget: dict[str, Any] | None = None,
    folds: int = 5,
    seed: int = 0,
    layers: int = LAYERS,
    learning_rate: float = LEARNING_RATE,
    steps: int = STEPS,
    min_documents: int = MIN_DOCUMENTS,
    harm_z: float = HARM_Z,
    progress: bool = False,
) -> dict[str, Any]:
    """Fine-tune the top ``layers`` of ``model``'s encoder (a Summarizer, changed in place) on ``examples``
    unless ``folds``-fold cross-validation on them shows harm: the held-out pairwise ranking accuracy of
    the oracle sentences falls, per document, by more than ``harm_z`` standard errors of its mean change.
    Held-out ROUGE-1 at ``budget`` (``summarize`` keyword arguments, default 3 sentences) is reported
    too. Returns the report, also appended to the model card's ``training`` list.
    """
    from stage2.summarization.adaptation import few_shot_documents

    docs = few_shot_documents(examples)
    params = top_layer_parameters(model, layers)
    start = {n: p.detach().clone() for n, p in params.items()}
    settings = {"layers": layers, "learning_rate": learning_rate, "steps": steps}
    report: dict[str, Any] = {"adaptation": "encoder", "documents": len(docs), **settings}
    began = time.perf_counter()
    labels = oracle_labels(docs) if len(docs) >= min_documents else []
    if len(docs) < min_documents:
        report["kept"] = f"prior (fewer than {min_documents} documents)"
    elif not _reaches_encoder(model, docs, labels, params):
        report["kept"] = "prior (no gradient reaches the encoder: the prior's weights do not use its relevance)"
    else:
        budget = budget or {"max_sentences": 3}
        tune: dict[str, Any] = {"learning_rate": learning_rate, "steps": steps, "progress": progress, "embedded": {}}
        cv = _cross_validate(model, docs, labels, params, start, budget, folds, seed, tune)
        report |= {f"cv_{k}": v for k, v in cv.items()} | {"harm_z": harm_z}
        if cv["ranking_change"] + harm_z * cv["ranking_change_se"] >= 0:
            _tune(model, docs, labels, params, seed=seed, **tune)
            report["kept"] = "encoder"
        else:
            report["kept"] = "prior (cross-validation: the ranking of held-out documents got worse)"
        logger.info(
            "few-shot encoder on %d documents: held-out ROUGE-1 %.2f -> %.2f, ranking accuracy %.2f -> %.2f "
            "(change %.2f, standard error %.2f); kept %s",
            len(docs),
            cv["rouge1_prior"],
            cv["rouge1_adapted"],
            cv["ranking_prior"],
            cv["ranking_adapted"],
            cv["ranking_change"],
            cv["ranking_change_se"],
            report["kept"],
        )
    report["seconds"] = round(time.perf_counter() - began, 1)
    model.config.card.setdefault("training", []).append(report)
    return report


def _restore(model: Any, params: dict[str, torch.nn.Parameter], start: dict[str, torch.Tensor]) -> None:
    with torch.no_grad():
        for name, p in params.items():
            p.copy_(start[name])
    model._prompt_cache.clear()


def _cross_validate(
    model: Any,
    docs: list[SummaryExample],
    labels: list[list[int]],
    params: dict[str, torch.nn.Parameter],
    start: dict[str, torch.Tensor],
    budget: dict[str, Any],
    folds: int,
    seed: int,
    tune: dict[str, Any],
) -> dict[str, float]:
    """Held-out ROUGE-1 (mean of folds) and ranking accuracy (mean of documents) of the prior and of the
    encoder fine-tuned on the other folds, and the mean per-document change of ranking accuracy with its
    standard error; the model ends at the prior."""
    from stage2.summarization.metrics import summary_scores

    order = list(range(len(docs)))
    random.Random(seed).shuffle(order)
    n = min(folds, len(docs))
    rouge: dict[str, list[float]] = {"prior": [], "adapted": []}
    ranking: dict[str, list[float]] = {"prior": [], "adapted": []}
    for f, held in enumerate(order[i::n] for i in range(n)):
        fit = [i for i in order if i not in held]
        test, test_labels = [docs[i] for i in held], [labels[i] for i in held]
        for when in ("prior", "adapted"):
            if when == "adapted":
                _tune(model, [docs[i] for i in fit], [labels[i] for i in fit], params, seed=seed + f + 1, **tune)
            rouge[when].append(summary_scores(model, test, budget)["rouge1"])
            ranking[when] += [100 * a for a in ranking_accuracies(model, test, test_labels)]
        _restore(model, params, start)
    pairs = [(a, b) for a, b in zip(ranking["prior"], ranking["adapted"], strict=True) if not np.isnan(a)]
    change = np.array([b - a for a, b in pairs]) if pairs else np.zeros(1)
    se = float(change.std(ddof=1) / np.sqrt(len(change))) if len(change) > 1 else 0.0
    out = {f"rouge1_{k}": float(np.mean(v)) for k, v in rouge.items()}
    out |= {f"ranking_{k}": float(np.mean([p[i] for p in pairs])) if pairs else 50.0 for i, k in enumerate(ranking)}
    out |= {"ranking_change": float(change.mean()), "ranking_change_se": se, "held_out_documents": len(pairs)}
    return {k: round(v, 2) for k, v in out.items()}


def ranking_accuracies(model: Any, docs: Sequence[SummaryExample], labels: Sequence[Sequence[int]]) -> list[float]:
    """Per document, the fraction of (oracle sentence, other sentence) pairs that the model orders
    correctly (ties count half); NaN for a document without such a pair."""
    out = []
    with torch.no_grad():
        for e, y in zip(docs, labels, strict=True):
            target = torch.tensor(y, dtype=torch.bool)
            if target.all() or not target.any():
                out.append(float("nan"))
                continue
            s = _logits(model, e).cpu()
            diff = s[target][:, None] - s[~target][None, :]
            out.append(float(((diff > 0).float() + 0.5 * (diff == 0).float()).mean()))
    return out


def _logits(model: Any, e: SummaryExample, emb: torch.Tensor | None = None) -> torch.Tensor:
    """The model's scores of ``e``'s sentences (from ``emb``, its sentence embeddings, if given)."""
    from stage2.summarization.segmenting import is_dialogue

    texts = [s.text for s in e.sentences]
    prompt = model._prompt_embedding(model.intent_prompt(e.document, e.focus))
    boost = float(model.config.focus_weight) if e.focus else 0.0
    emb = model.embed(texts) if emb is None else emb
    return model.score_embeddings(emb, prompt, texts, boost, is_dialogue(e.document), focus=e.focus)


def _reaches_encoder(
    model: Any, docs: Sequence[SummaryExample], labels: Sequence[Sequence[int]], params: dict[str, torch.nn.Parameter]
) -> bool:
    """Whether the ranking loss of (up to four of) ``docs`` that have an oracle and a non-oracle sentence has
    a non-zero gradient for ``params`` (none when the prior's weights do not use the encoder's relevance, as
    on prose without a focus)."""

    grads = [p.grad for p in params.values()]
    flags = [p.requires_grad for p in params.values()]
    try:
        for p in params.values():
            p.grad = None
            p.requires_grad_(True)
        ranked = [(e, y) for e, y in zip(docs, labels, strict=True) if 0 < sum(y) < len(y)][:4]
        if not ranked:
            return False
        loss = torch.stack([ranking_loss(_logits(model, e), y) for e, y in ranked])
        if not loss.requires_grad:
            return False
        found = torch.autograd.grad(loss.mean(), list(params.values()), allow_unused=True)
        return any(g is not None and bool(g.abs().sum() > 0) for g in found)
    finally:
        for p, g, flag in zip(params.values(), grads, flags, strict=True):
            p.grad = g
            p.requires_grad_(flag)
        model._prompt_cache.clear()


def _tune(
    model: Any,
    docs: Sequence[SummaryExample],
    labels: Sequence[Sequence[int]],
    params: dict[str, torch.nn.Parameter],
    learning_rate: float,
    steps: int,
    seed: int,
    progress: bool = False,
    embedded: dict[str, torch.Tensor] | None = None,
) -> None:
    """``steps`` steps of the ranking loss on ``docs``, training ``params`` only, dropout off. A long
    document's embeddings before training are taken from (and added to) ``embedded``, by document text:
    runs that all start from the prior share them."""
    from tqdm.auto import tqdm

    trainable = {id(p) for p in params.values()}
    before = {name: p.requires_grad for name, p in model.named_parameters()}
    for p in model.parameters():
        p.requires_grad_(id(p) in trainable)
    model.eval()  # the frozen embeddings of long documents, before any step
    embedded = {} if embedded is None else embedded
    with torch.no_grad():
        for e in docs:
            if len(e.sentences) > SENTENCES_PER_STEP and e.document not in embedded:
                embedded[e.document] = model.embed([s.text for s in e.sentences])
    frozen = {i: embedded[e.document] for i, e in enumerate(docs) if len(e.sentences) > SENTENCES_PER_STEP}
    torch.manual_seed(seed)
    rng = random.Random(seed)
    optimizer = torch.optim.AdamW(list(params.values()), lr=learning_rate, weight_decay=0.0)
    model.train()
    model.encoder.eval()  # no dropout: ten documents are too few to regularise by noise
    try:
        for _ in tqdm(range(steps), desc="adapting encoder", unit="step", disable=not progress):
            losses = []
            for i in rng.sample(range(len(docs)), min(DOCUMENTS_PER_STEP, len(docs))):
                if i not in frozen:
                    losses.append(ranking_loss(_logits(model, docs[i]), labels[i]))
                    continue
                picked = _sample(labels[i], rng)
                index = torch.tensor(picked, device=model.device)
                sampled = model.embed([docs[i].sentences[j].text for j in picked])
                logits = _logits(model, docs[i], frozen[i].index_copy(0, index, sampled))
                losses.append(ranking_loss(logits[index], [labels[i][j] for j in picked]))
            loss = torch.stack(losses).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    finally:
        for name, p in model.named_parameters():
            p.requires_grad_(before[name])
        model.eval()
        model._prompt_cache.clear()


def _sample(labels: Sequence[int], rng: random.Random) -> list[int]:
    """At most :data:`SENTENCES_PER_STEP` sentence indices, sorted: oracle sentences first (at most half),
    the rest drawn at random from the others."""
    positives = [j for j, y in enumerate(labels) if y]
    negatives = [j for j, y in enumerate(labels) if not y]
    positives = rng.sample(positives, min(len(positives), SENTENCES_PER_STEP // 2))
    negatives = rng.sample(negatives, min(len(negatives), SENTENCES_PER_STEP - len(positives)))
    return sorted(positives + negatives)
