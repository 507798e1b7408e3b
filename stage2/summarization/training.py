"""Training of the extractive summariser on greedy ROUGE-oracle sentence labels, through the
shared loop of :mod:`stage2.loop`: ten documents or fifteen thousand, one code path.

Each step scores every sentence of ``batch_size`` documents against the intent prompt and takes a
pairwise ranking loss: every greedy-oracle sentence should outscore every other sentence of its
document (:func:`~stage2.summarization.objectives.ranking_loss`). The feature weights of the
documents' kind (prose or dialogue) train at ``feature_learning_rate``, the residual at ``head_learning_rate``.

By default the encoder stays frozen: each training sentence is embedded once and only the scoring
head trains, so even 15,000 documents train in minutes on a CPU. ``train_encoder=True`` fine-tunes
the encoder too, at ``learning_rate`` (slow, and not better on BBC News or SAMSum). The residual
(position bias and MLP) trains by default only with at least :data:`RESIDUAL_MIN_DOCUMENTS`
documents. With fewer (a few-shot run) the default adaptation is :data:`~stage2.summarization.config.FEW_SHOT`:
``salience``, the salience direction of :mod:`stage2.summarization.adaptation` (closed form, kept only
when cross-validation on the documents says it helps), or ``encoder``, the encoder's top layers
fine-tuned by :mod:`stage2.summarization.encoder_adaptation` (kept unless cross-validation shows harm);
``adaptation="weights"`` fits the six feature weights with the ranking loss instead (the earliest
few-shot method: it did not beat the zero-shot prior on BBC News or SAMSum).
"""

from __future__ import annotations

import functools
import logging
import math
import random
from collections.abc import Callable, Sequence
from typing import Any

import torch

from stage2.loop import TrainingConfig, TrainResult, data_fingerprint, run_loop, shuffled_batches
from stage2.summarization.adaptation import fit_salience
from stage2.summarization.config import ADAPTATIONS, FEW_SHOT
from stage2.summarization.data import SummaryExample
from stage2.summarization.encoder_adaptation import fit_encoder
from stage2.summarization.objectives import oracle_labels, ranking_loss

logger = logging.getLogger(__name__)


RESIDUAL_MIN_DOCUMENTS = 1000
"""With fewer training documents only the feature weights are fitted by default (see ``residual``)."""

FEATURE_WEIGHTS = ("prior", "dialogue_prior")
SALIENCE = ("salience", "dialogue_salience")


def _cache_embeddings(model: Any, examples: Sequence[SummaryExample], progress: bool) -> list[torch.Tensor]:
    """Each document's sentence embeddings from the (frozen) encoder, a few documents per batch; a
    document given several times (queries about one meeting) is embedded once."""
    from tqdm.auto import tqdm

    unique: dict[str, int] = {}
    firsts: list[SummaryExample] = []
    for e in examples:
        if e.document not in unique:
            unique[e.document] = len(firsts)
            firsts.append(e)
    embedded: list[torch.Tensor] = []
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for start in tqdm(
                range(0, len(firsts), 32), desc="embedding sentences", unit="x32 docs", disable=not progress
            ):
                part = firsts[start : start + 32]
                emb = model.embed([s.text for e in part for s in e.sentences])
                sizes = [len(e.sentences) for e in part]
                embedded.extend(t.clone() for t in torch.split(emb, sizes))
    finally:
        model.train(was_training)
    return [embedded[unique[e.document]] for e in examples]


def train_summarizer(
    model: Any,
    train_data: Sequence[SummaryExample],
    dev_data: Sequence[SummaryExample] | None = None,
    config: TrainingConfig | None = None,
    eval_budget: dict[str, Any] | None = None,
    train_encoder: bool = False,
    residual: bool | None = None,
    adaptation: str = "auto",
) -> TrainResult:
    """Fine-tune a :class:`~stage2.summarization.modeling.Summarizer` in place (see the module docstring).

    ``train_encoder`` fine-tunes the encoder too; ``residual`` trains the residual (default: with at
    least :data:`RESIDUAL_MIN_DOCUMENTS` documents). With ``dev_data`` the best dev ROUGE-1 weights are
    kept; ``eval_budget`` (e.g. ``{"ratio": 0.4}``) is the summary length there (default 3 sentences).
    ``adaptation`` is ``auto`` (few-shot runs: :data:`~stage2.summarization.config.FEW_SHOT`; more
    documents: the ranking loss), ``salience``, ``encoder`` or ``weights`` (always the ranking loss).
    """
    if adaptation not in ADAPTATIONS:
        raise ValueError(f"adaptation must be one of {', '.join(ADAPTATIONS)}, got {adaptation!r}")
    cfg = config or TrainingConfig(batch_size=4)
    torch.manual_seed(cfg.seed)
    examples, labels, dialogue, prompts, texts = _documents(model, train_data)
    use_residual = len(examples) >= RESIDUAL_MIN_DOCUMENTS if residual is None else residual
    if adaptation in ("salience", "encoder") or (adaptation == "auto" and not (use_residual or train_encoder)):
        return _adapt_few_shot(model, examples, dev_data, eval_budget, cfg, adaptation)
    per_epoch = math.ceil(len(examples) / cfg.batch_size)
    steps = cfg.total_steps(per_epoch)
    schedule = shuffled_batches(len(examples), cfg.batch_size, steps, cfg.seed)
    frozen = _set_trainable(model, train_encoder, use_residual, {"dialogue_prior" if d else "prior" for d in dialogue})
    inputs = None if train_encoder else _frozen_inputs(model, examples, prompts, cfg)
    batch_loss = _ranking_batch_loss(model, schedule, examples, labels, dialogue, prompts, texts, inputs)
    fingerprint = data_fingerprint([[e.document, e.summary] for e in examples])
    evaluation = _dev_evaluation(model, dev_data, eval_budget), cfg.eval_points(steps, per_epoch), "rouge1"
    rates = functools.partial(_learning_rate, cfg)
    try:
        result = run_loop(model, cfg, steps, batch_loss, *evaluation, fingerprint=fingerprint, learning_rate_of=rates)
    finally:
        for name, p in model.named_parameters():
            p.requires_grad_(frozen[name])
    trained = "feature weights and residual" if use_residual else "feature weights"
    _record_run(model, len(examples), sum(sum(x) for x in labels), steps, cfg, result, train_encoder, trained)
    return result


def _ranking_batch_loss(
    model: Any,
    schedule: list[list[int]],
    examples: list[SummaryExample],
    labels: list[list[int]],
    dialogue: list[bool],
    prompts: list[str],
    texts: list[list[str]],
    inputs: tuple[list[torch.Tensor], dict[str, torch.Tensor], list[torch.Tensor]] | None,
) -> Callable[[int, random.Random], torch.Tensor]:
    """``batch_loss(step, rng)`` for :func:`~stage2.loop.run_loop`: the mean ranking loss of the documents
    ``schedule[step]``, scored on the cached ``inputs`` of a frozen encoder or (None) through the encoder."""
    boosts = [float(model.config.focus_weight) if e.focus else 0.0 for e in examples]

    def batch_loss(step: int, rng: random.Random) -> torch.Tensor:
        losses = []
        for i in schedule[step]:
            if inputs is not None:
                cache, prompt_emb, feats = inputs
                emb, prompt = cache[i], prompt_emb[prompts[i]]
                focus = examples[i].focus
                logits = model.score_embeddings(emb, prompt, texts[i], boosts[i], dialogue[i], feats[i], focus)
            else:
                logits = model.score_sentences(texts[i], prompts[i], boosts[i], dialogue[i], examples[i].focus)
            losses.append(ranking_loss(logits, labels[i]))
        return torch.stack(losses).mean()

    return batch_loss


def _dev_evaluation(
    model: Any, dev_data: Sequence[SummaryExample] | None, eval_budget: dict[str, Any] | None
) -> Callable[[], dict[str, Any]] | None:
    """``evaluate()`` for :func:`~stage2.loop.run_loop`: ROUGE on ``dev_data`` (None without dev data)."""
    from stage2.summarization.metrics import summary_scores

    if not dev_data:
        return None

    def evaluate() -> dict[str, Any]:
        assert dev_data is not None
        return summary_scores(model, dev_data, eval_budget or {"max_sentences": 3})

    return evaluate


def _adapt_few_shot(
    model: Any,
    examples: list[SummaryExample],
    dev_data: Sequence[SummaryExample] | None,
    eval_budget: dict[str, Any] | None,
    cfg: TrainingConfig,
    adaptation: str,
) -> TrainResult:
    """The few-shot path: :func:`~stage2.summarization.adaptation.fit_salience` or
    :func:`~stage2.summarization.encoder_adaptation.fit_encoder` (``auto``: :data:`FEW_SHOT`), timed,
    scored on dev."""
    import time

    from stage2.summarization.metrics import summary_scores

    started = time.perf_counter()
    method = FEW_SHOT if adaptation == "auto" else adaptation
    if method == "encoder":
        report = fit_encoder(model, examples, eval_budget, seed=cfg.seed, progress=cfg.progress)
    else:
        report = fit_salience(model, examples, eval_budget, seed=cfg.seed)
    seconds = time.perf_counter() - started
    report["seconds"] = round(seconds, 1)
    best = summary_scores(model, dev_data, eval_budget or {"max_sentences": 3}) if dev_data else None
    if best:
        model.config.card.setdefault("scores", {})["dev"] = {k: best[k] for k in ("rouge1", "rouge2", "rougeLsum")}
    return TrainResult(0, seconds, best, [{"step": 0, **best}] if best else [])


def _documents(
    model: Any, train_data: Sequence[SummaryExample]
) -> tuple[list[SummaryExample], list[list[int]], list[bool], list[str], list[list[str]]]:
    """The documents to train on (with sentences and a reference), their oracle labels, whether each is
    a dialogue, its intent prompt (with its focus, if any) and its sentences' texts."""
    from stage2.summarization.segmenting import is_dialogue

    examples = [e for e in train_data if len(e.sentences) > 0 and e.summary.strip()]
    if not examples:
        raise ValueError("no training document has both sentences and a reference summary")
    labels = oracle_labels(examples)
    dialogue = [is_dialogue(e.document) for e in examples]
    prompts = [model.intent_prompt(e.document, e.focus) for e in examples]
    return examples, labels, dialogue, prompts, [[s.text for s in e.sentences] for e in examples]


def _record_run(
    model: Any,
    documents: int,
    positives: int,
    steps: int,
    cfg: TrainingConfig,
    result: TrainResult,
    train_encoder: bool,
    trained: str,
) -> None:
    """What was trained on, how long and the best dev scores, into the model card."""
    summary: dict[str, Any] = {"documents": documents, "oracle_sentences": positives, "steps": steps}
    summary |= {"seconds": round(result.seconds, 1), "seed": cfg.seed}
    summary |= {"encoder": "fine-tuned" if train_encoder else "frozen", "trained": trained}
    model.config.card.setdefault("training", []).append({**summary, "loss": "pairwise ranking"})
    if result.best_dev:
        model.config.card.setdefault("scores", {})["dev"] = {
            k: result.best_dev[k] for k in ("rouge1", "rouge2", "rougeLsum")
        }


def _learning_rate(cfg: TrainingConfig, name: str) -> float:
    """The encoder trains at ``learning_rate``, feature weights at ``feature_learning_rate``, the rest at
    ``head_learning_rate``."""
    if name.startswith("encoder."):
        return cfg.learning_rate
    return cfg.feature_learning_rate if name in FEATURE_WEIGHTS else cfg.head_learning_rate


def _frozen_inputs(
    model: Any, examples: list[SummaryExample], prompts: list[str], cfg: TrainingConfig
) -> tuple[list[torch.Tensor], dict[str, torch.Tensor], list[torch.Tensor]]:
    """For a frozen encoder: each document's sentence embeddings (once), each prompt's embedding and
    each document's hand-made features, so that a step runs the small scoring head only."""
    cache = _cache_embeddings(model, examples, cfg.progress)
    prompt_emb: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for p in sorted(set(prompts)):
            prompt_emb[p] = model.embed([p])[0]
        feats = [
            model.features(cache[i], prompt_emb[prompts[i]], [s.text for s in e.sentences])
            for i, e in enumerate(examples)
        ]
    return cache, prompt_emb, feats


def _set_trainable(model: Any, train_encoder: bool, residual: bool, kinds: set[str]) -> dict[str, bool]:
    """Turn training on for the encoder (``train_encoder``), the feature weights of the documents'
    ``kinds`` and the residual (``residual``), off for the rest; returns the previous flags."""
    before = {name: p.requires_grad for name, p in model.named_parameters()}
    for name, p in model.named_parameters():
        if name in SALIENCE:  # fitted in closed form by few-shot runs only
            p.requires_grad_(False)
        elif name.startswith("encoder."):
            p.requires_grad_(train_encoder)
        elif name in FEATURE_WEIGHTS:
            p.requires_grad_(name in kinds)
        else:
            p.requires_grad_(residual)
    return before
