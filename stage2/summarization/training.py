"""Training of the extractive summariser on greedy ROUGE-oracle sentence labels, through the
shared loop of :mod:`stage2.loop`: ten documents or fifteen thousand, one code path.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Sequence
from typing import Any

import torch

from stage2.loop import TrainingConfig, TrainResult, data_fingerprint, run_loop, shuffled_batches
from stage2.summarization.data import SummaryExample, greedy_oracle

logger = logging.getLogger(__name__)


def oracle_labels(examples: Sequence[SummaryExample]) -> list[list[int]]:
    """0/1 per sentence: the greedy ROUGE oracle of each document against its reference."""
    out = []
    for ex in examples:
        texts = [s.text for s in ex.sentences]
        chosen = set(greedy_oracle(texts, ex.summary))
        out.append([1 if i in chosen else 0 for i in range(len(texts))])
    return out


def train_summarizer(
    model: Any,
    train_data: Sequence[SummaryExample],
    dev_data: Sequence[SummaryExample] | None = None,
    config: TrainingConfig | None = None,
    eval_budget: dict[str, Any] | None = None,
) -> TrainResult:
    """Fine-tune a :class:`~stage2.summarization.modeling.Summarizer` in place.

    Each step scores every sentence of ``batch_size`` documents against the intent prompt and takes
    binary cross-entropy with the oracle labels (positives up-weighted by the square root of the
    negative-to-positive ratio).
    With ``dev_data``, the best dev ROUGE-1 weights are kept; ``eval_budget`` (for example
    ``{"ratio": 0.4}``) sets the summary length used there (default: 3 sentences).
    """
    from stage2.metrics import rouge_scores

    cfg = config or TrainingConfig(batch_size=4)
    torch.manual_seed(cfg.seed)
    examples = [e for e in train_data if len(e.sentences) > 0 and e.summary.strip()]
    if not examples:
        raise ValueError("no training document has both sentences and a reference summary")
    labels = oracle_labels(examples)
    positives = sum(sum(x) for x in labels)
    negatives = sum(len(x) for x in labels) - positives
    pos_weight = torch.tensor(max(1.0, negatives / max(1, positives)) ** 0.5)
    per_epoch = math.ceil(len(examples) / cfg.batch_size)
    steps = cfg.total_steps(per_epoch)
    schedule = shuffled_batches(len(examples), cfg.batch_size, steps, cfg.seed)
    prompts = [model.intent_prompt(e.document) for e in examples]

    def batch_loss(step: int, rng: random.Random) -> torch.Tensor:
        losses = []
        for i in schedule[step]:
            texts = [s.text for s in examples[i].sentences]
            logits = model.score_sentences(texts, prompts[i])
            target = torch.tensor(labels[i], dtype=logits.dtype, device=logits.device)
            losses.append(
                torch.nn.functional.binary_cross_entropy_with_logits(
                    logits, target, pos_weight=pos_weight.to(logits.device)
                )
            )
        return torch.stack(losses).mean()

    budget = eval_budget or {"max_sentences": 3}

    def evaluate() -> dict[str, Any]:
        assert dev_data is not None
        preds = model.summarize([e.document for e in dev_data], **budget)
        return rouge_scores(
            [e.summary for e in dev_data], ["\n".join(s["text"] for s in p["sentences"]) for p in preds]
        )

    result = run_loop(
        model,
        cfg,
        steps,
        batch_loss,
        evaluate if dev_data else None,
        cfg.eval_points(steps, per_epoch),
        "rouge1",
        fingerprint=data_fingerprint([[e.document, e.summary] for e in examples]),
    )
    model.config.card.setdefault("training", []).append(
        {
            "documents": len(examples),
            "oracle_sentences": positives,
            "steps": steps,
            "seconds": round(result.seconds, 1),
            "seed": cfg.seed,
        }
    )
    if result.best_dev:
        model.config.card.setdefault("scores", {})["dev"] = {
            k: result.best_dev[k] for k in ("rouge1", "rouge2", "rougeLsum")
        }
    return result
