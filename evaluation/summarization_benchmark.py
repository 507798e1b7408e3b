"""Extractive summarisation benchmark on BBC News and SAMSum (full test splits), resumable seed by seed.

Rows: ``stage2`` (zero-shot, 10-shot, 100-shot with seeds 1-3, full; few-shot runs use the library's
default adaptation, ``stage2.summarization.training.FEW_SHOT``), the few-shot-only rows of one method
each: ``stage2-salience`` (a salience direction, ``stage2.summarization.adaptation``), ``stage2-encoder``
(the encoder's top layers, ``stage2.summarization.encoder_adaptation``), ``stage2-weights`` (the earliest
method, six feature weights fitted with the ranking loss), and the baselines, all with
this project's sentence segmenter and setting ``zero-shot``: ``lead`` (BBC: leading sentences up to
40% of the words; SAMSum: first three turns), ``longest-3`` (SAMSum), ``centrality`` (LexRank-style
PageRank over the same encoder's sentence embeddings, same budget as stage2), ``oracle`` (greedy
ROUGE oracle under the same budget: the ceiling). ROUGE: rouge-score F1, stemming, summary
sentences separated by newlines.

    python evaluation/summarization_benchmark.py --dataset bbc_news --systems lead oracle centrality stage2 \
        --settings zero-shot
    python evaluation/summarization_benchmark.py --dataset samsum --settings 10-shot 100-shot
"""

from __future__ import annotations

import argparse
import logging
import random
import time
from typing import Any

import numpy as np
from common import ResultsFile, save_full_model

from stage2.benchmarks import SUMMARY_BUDGETS, load_summaries
from stage2.summarization.config import FEW_SHOT
from stage2.summarization.data import SummaryExample, budget_in_words, greedy_oracle

logger = logging.getLogger("summarization_benchmark")

ISSUE_FIGURES = {  # measured with a simple regex splitter by whoever filed the issue (R1 / R2 / RLsum)
    ("bbc_news", "lead"): "lead-40% 64.66 / 51.26 / 63.38",
    ("bbc_news", "oracle"): "greedy oracle of 8 sentences 94.44 / 91.57 / 94.40",
    ("samsum", "lead"): "lead-3 31.31 / 8.68 / 27.57",
    ("samsum", "longest-3"): "longest-3 32.29 / 10.28 / 28.02 (published 32.46)",
    ("samsum", "oracle"): "greedy oracle of 2 turns (not 3) 47.47 / 20.57 / 42.61",
}
METRICS = ["rouge1", "rouge2", "rougeLsum"]


def _key(text: str) -> str:
    return " ".join(text.lower().split())


def deduplicated_train(dataset: str) -> tuple[list[SummaryExample], int]:
    """The train split without documents that also occur (whitespace- and case-normalised) in the
    validation or test split: BBC News has 23 test articles verbatim in train, SAMSum 42 dialogues.
    """
    held_out = {_key(e.document) for split in ("validation", "test") for e in load_summaries(dataset, split)}
    train = load_summaries(dataset, "train")
    kept = [e for e in train if _key(e.document) not in held_out]
    return kept, len(train) - len(kept)


def _lines(ex: SummaryExample, chosen: list[int]) -> str:
    return "\n".join(ex.sentences[i].text for i in sorted(chosen))


def lead(ex: SummaryExample, dataset: str) -> list[int]:
    if dataset == "samsum":
        return list(range(min(3, len(ex.sentences))))
    words = budget_in_words(sum(len(s.text.split()) for s in ex.sentences), None, 0.4) or 0
    chosen, used = [], 0
    for i, s in enumerate(ex.sentences):
        n = len(s.text.split())
        if chosen and used + n > words:
            break
        chosen.append(i)
        used += n
    return chosen


def longest3(ex: SummaryExample) -> list[int]:
    order = sorted(range(len(ex.sentences)), key=lambda i: -len(ex.sentences[i].text.split()))
    return sorted(order[:3])


def oracle(ex: SummaryExample, dataset: str) -> list[int]:
    texts = [s.text for s in ex.sentences]
    budget = SUMMARY_BUDGETS[dataset]
    words = budget_in_words(sum(len(t.split()) for t in texts), None, budget.get("ratio"))
    return greedy_oracle(texts, ex.summary, max_sentences=budget.get("max_sentences"), max_words=words)


def centrality(model: Any, ex: SummaryExample, dataset: str) -> list[int]:
    from stage2.summarization.features import lexrank
    from stage2.summarization.selection import select

    texts = [s.text for s in ex.sentences]
    if not texts:
        return []
    emb = model.embed(texts).detach().cpu().numpy()
    rank = lexrank(emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-9))
    budget = SUMMARY_BUDGETS[dataset]
    words = budget_in_words(sum(len(t.split()) for t in texts), None, budget.get("ratio"))
    return select(texts, rank, budget.get("max_sentences"), words, "none")


def full_training_config(seed: int, epochs: float, evaluations: int, progress: bool) -> Any:
    """The whole-train-split recipe of the summariser rows (here and in qmsum_benchmark.py): 16
    documents a step, head lr 1e-3, feature weights 1e-2, ``evaluations`` dev evaluations."""
    from stage2.loop import TrainingConfig

    return TrainingConfig(
        epochs=epochs,
        min_steps=0,
        batch_size=16,
        seed=seed,
        head_learning_rate=1e-3,
        feature_learning_rate=1e-2,
        evaluations=evaluations,
        progress=progress,
    )


def evaluate_stage2(model: Any, test: list[SummaryExample], dataset: str) -> tuple[dict[str, float], float]:
    from stage2.summarization.metrics import summary_scores

    started = time.perf_counter()
    scores = summary_scores(model, test, SUMMARY_BUDGETS[dataset])
    return scores, time.perf_counter() - started


def run_cell(res: ResultsFile, dataset: str, system: str, setting: str, seed: int, args: argparse.Namespace) -> None:
    """Run one (system, setting, seed) cell and record it in ``res``."""
    import torch

    torch.manual_seed(seed)
    test = load_summaries(dataset, "test")
    k = int(setting.split("-")[0]) if setting.endswith("-shot") and setting != "zero-shot" else None
    extra: dict[str, Any] = {}
    train_seconds = None
    budget_note = ", ".join(f"{a}={b}" for a, b in SUMMARY_BUDGETS[dataset].items())
    if system in ("lead", "longest-3", "oracle", "centrality"):
        scores, notes, params = baseline_cell(system, dataset, test, budget_note, extra)
    elif system == "stage2" or system in FEW_SHOT_SYSTEMS:
        scores, notes, params, train_seconds = stage2_cell(
            dataset, system, setting, seed, k, test, budget_note, args, extra
        )
    else:
        raise SystemExit(f"unknown system {system!r}")
    logger.info("%s %s %s seed %d: %s", dataset, system, setting, seed, scores)
    res.add_seed(system, setting, k, seed, scores, train_seconds, extra, METRICS, params_millions=params, notes=notes)


def baseline_cell(
    system: str, dataset: str, test: list[SummaryExample], budget_note: str, extra: dict[str, Any]
) -> tuple[dict[str, float], str, float | None]:
    """A baseline's scores on ``test`` (its time and mean sentences into ``extra``), its notes, and the
    millions of parameters of its encoder (``centrality`` only)."""
    import torch

    from stage2.summarization.metrics import rouge_scores
    from stage2.summarization.modeling import Summarizer

    params = None
    started = time.perf_counter()
    if system == "centrality":
        model = Summarizer.from_pretrained(None)
        with torch.no_grad():
            chosen = [centrality(model, e, dataset) for e in test]
        params = round(sum(p.numel() for p in model.encoder.parameters()) / 1e6, 1)
    elif system == "lead":
        chosen = [lead(e, dataset) for e in test]
    elif system == "longest-3":
        chosen = [longest3(e) for e in test]
    else:
        chosen = [oracle(e, dataset) for e in test]
    scores = rouge_scores([e.summary for e in test], [_lines(e, c) for e, c in zip(test, chosen, strict=True)])
    extra["predict_seconds"] = round(time.perf_counter() - started, 1)
    extra["mean_sentences"] = round(float(np.mean([len(c) for c in chosen])), 2)
    return scores, baseline_notes(system, dataset, budget_note), params


def baseline_notes(system: str, dataset: str, budget_note: str) -> str:
    """What a baseline row did, and the issue's figure for it where there is one."""
    notes = {
        "lead": "first three turns" if dataset == "samsum" else "leading sentences up to 40% of the article's words",
        "longest-3": "the three longest turns, in document order",
        "oracle": f"greedy ROUGE-1+2 oracle against the reference, budget {budget_note} (the ceiling)",
        "centrality": f"LexRank-style PageRank (threshold 0.1, damping 0.85) on all-MiniLM-L6-v2 sentence "
        f"embeddings, budget {budget_note}",
    }[system]
    notes += "; stage2's own sentence segmenter"
    if (dataset, system) in ISSUE_FIGURES:
        notes += f"; the issue's regex-split figure: {ISSUE_FIGURES[(dataset, system)]}"
    return notes


def stage2_cell(
    dataset: str,
    system: str,
    setting: str,
    seed: int,
    k: int | None,
    test: list[SummaryExample],
    budget_note: str,
    args: argparse.Namespace,
    extra: dict[str, Any],
) -> tuple[dict[str, float], str, float, float | None]:
    """The untrained summariser, trained as ``setting`` says (not zero-shot), scored on ``test``: its scores,
    notes, millions of parameters and training seconds (None when zero-shot)."""
    from stage2.summarization.modeling import Summarizer

    model = Summarizer.from_pretrained(None)
    params = round(sum(p.numel() for p in model.parameters()) / 1e6, 1)
    notes = (
        f"all-MiniLM-L6-v2, label-semantic intent prompt, hand-made features incl. lexical salience, "
        f"redundancy {model.config.redundancy}, budget {budget_note}"
    )
    train_seconds = None
    if setting != "zero-shot":
        training_notes, train_seconds = train_stage2(model, dataset, system, setting, seed, k, args, extra)
        notes += training_notes
    else:
        notes += "; no training: the untrained head is the zero-shot prior"
    scores, seconds = evaluate_stage2(model, test, dataset)
    extra["predict_seconds"] = round(seconds, 1)
    return scores, notes, params, train_seconds


def train_stage2(
    model: Any,
    dataset: str,
    system: str,
    setting: str,
    seed: int,
    k: int | None,
    args: argparse.Namespace,
    extra: dict[str, Any],
) -> tuple[str, float]:
    """Train ``model`` on the deduplicated train split (full) or ``k`` documents of it (K-shot); what the
    notes add, and the seconds it took. The full setting's model is saved with ``--save-model``."""
    from stage2.summarization.training import train_summarizer

    train, dropped = deduplicated_train(dataset)
    extra["train_documents_dropped_as_duplicates"] = dropped
    dev = None
    if setting == "full":
        sample = train
        dev = load_summaries(dataset, "validation")[: args.dev_docs]
        cfg = full_training_config(seed, args.full_epochs, args.full_evaluations, args.progress)
        adaptation = "auto"
        notes = (
            f"; frozen encoder, feature weights and residual trained with a pairwise ranking loss; whole "
            f"train split, {args.full_epochs} epochs of 16 documents a step, first {args.dev_docs} "
            "validation documents for model selection"
        )
    else:
        sample = random.Random(seed).sample(train, k or 0)
        adaptation, cfg, notes = few_shot_plan(system, seed, k, args)
    notes += f"; {dropped} train documents that also occur in validation/test removed first"
    started = time.perf_counter()
    result = train_summarizer(model, sample, dev, cfg, eval_budget=SUMMARY_BUDGETS[dataset], adaptation=adaptation)
    if setting != "full":
        extra["adaptation"] = model.config.card["training"][-1]
    train_seconds = round(time.perf_counter() - started, 1)
    extra["steps"] = result.steps
    if result.best_dev:
        extra["best_dev_rouge1"] = result.best_dev["rouge1"]
    if setting == "full":
        save_full_model(model, args.save_model, f"{dataset}-stage2-full")
    return notes, train_seconds


def few_shot_plan(system: str, seed: int, k: int | None, args: argparse.Namespace) -> tuple[str, Any, str]:
    """A K-shot run's adaptation method, training config and notes."""
    from stage2.loop import TrainingConfig

    adaptation = FEW_SHOT_SYSTEMS.get(system) or FEW_SHOT
    cfg = TrainingConfig(
        epochs=0.0,
        min_steps=args.fewshot_steps,
        max_steps=args.fewshot_steps,
        batch_size=4,
        seed=seed,
        feature_learning_rate=1e-2,
        progress=args.progress,
    )
    notes = f"; {k} training documents drawn at random with the seed; " + FEW_SHOT_NOTES[adaptation]
    if adaptation == "weights":
        notes += f", {args.fewshot_steps} steps of 4"
    return adaptation, cfg, notes


FEW_SHOT_SYSTEMS = {"stage2-weights": "weights", "stage2-salience": "salience", "stage2-encoder": "encoder"}
"""Few-shot-only rows of one adaptation method (``stage2`` few-shot rows use the library's default)."""
FEW_SHOT_NOTES = {
    "weights": "frozen encoder, only the feature weights trained (pairwise ranking loss), no dev data",
    "salience": "frozen encoder; a salience direction fitted in closed form (ridge from sentence embeddings to "
    "oracle labels), kept only if 5-fold cross-validation on those documents raises ROUGE-1; no dev data",
    "encoder": "the encoder's top layers fine-tuned with the pairwise ranking loss on oracle labels "
    "(stage2.summarization.encoder_adaptation), kept only if 5-fold cross-validation on those documents raises "
    "the held-out ranking accuracy of the oracle sentences; no dev data",
}


def k_shot(setting: str) -> bool:
    return setting.endswith("-shot") and setting != "zero-shot"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=sorted(SUMMARY_BUDGETS), required=True)
    parser.add_argument("--systems", nargs="+", default=["lead", "longest-3", "centrality", "oracle", "stage2"])
    parser.add_argument("--settings", nargs="+", default=["zero-shot", "10-shot", "100-shot", "full"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--fewshot-steps", type=int, default=200, help="optimizer steps of a few-shot run")
    parser.add_argument("--full-epochs", type=float, default=3.0, help="epochs of the full-data run")
    parser.add_argument("--full-evaluations", type=int, default=6, help="dev evaluations during the full run")
    parser.add_argument("--dev-docs", type=int, default=200, help="validation documents used for model selection")
    parser.add_argument("--save-model", default="", help="folder where each full-setting model is saved")
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    res = ResultsFile(f"summarization_{args.dataset}", "summarization", args.dataset, "test")
    for setting in args.settings:
        for system in args.systems:
            few_shot_only = system in FEW_SHOT_SYSTEMS
            if system != "stage2" and setting != "zero-shot" and not (few_shot_only and k_shot(setting)):
                continue
            if few_shot_only and not k_shot(setting):
                continue
            if system == "longest-3" and args.dataset != "samsum":
                continue
            seeds = args.seeds if setting.endswith("-shot") and setting != "zero-shot" else [1]
            for seed in seeds:
                if seed in res.done_seeds(system, setting) and not args.force:
                    continue
                run_cell(res, args.dataset, system, setting, seed, args)


if __name__ == "__main__":
    main()
