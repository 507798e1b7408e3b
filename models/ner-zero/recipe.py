"""Recipe of stage2-ner-zero: the zero-shot-first NER model (entity types named at predict time).

Trains the default encoder (all-MiniLM-L6-v2 + case-shape embedding + label-semantic head) on the
train splits of every corpus in ``../shared/data`` whose licence allows a shipped model and that no
zero-shot benchmark set shares text with: the ner-base corpora plus WikiANN (en), TweetNER7,
FabNER, HarveyNER and SNIPS slots (the only source of query-style, non-name types). Each step reads
one corpus with its own label set (label and description dropout), plus up to ``--negatives``
entity types of *another* domain that the text cannot contain, so the model learns to say nothing
for a type that is asked for but absent.

Some steps read a corpus with coarse types instead of its fine ones (``--coarse``: Few-NERD's own coarse
level, named as a user would, e.g. ``actor`` -> ``person``; HarveyNER's four location kinds -> ``location``),
and some windows are read all upper- or lower-case (``--case``: headlines, queries).

Left out: CoNLL-2003, WNUT-17, MultiNERD and WikiNEuRal (zero-shot benchmark sets), WNUT-16 (its
text overlaps WNUT-17), OntoNotes 5.0 (LDC licence), GUM (pronoun and common-noun mentions; part
non-commercial). Few-NERD INTER train (36 fine types) is in: its 17 test types are disjoint (the
INTER protocol), and the benchmark says so on that row.

    python models/ner-zero/recipe.py --out runs/ner-zero --steps 2500            # train (CPU: about 50 min)
    python models/ner-zero/recipe.py --ship runs/ner-zero/final                  # ship exports/ner-zero

Shipping writes the int8 ONNX export (``exports/ner-zero``, checked on CoNLL-2003 dev read with
zero-shot label names) and the torch weights in float16 (``exports/ner-zero/torch``), so that
``stage2 ner train --model ner-zero`` fine-tunes from the shipped model offline.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import sys
from pathlib import Path
from typing import Any

from stage2.benchmarks import TRANSFER_HELD_OUT, data_dir
from stage2.labels import Label, LabelSet
from stage2.ner.data import entity_types, read_jsonl
from stage2.ner.modeling import NERModel
from stage2.ner.training import NERTask, TrainingConfig, train

HERE = Path(__file__).resolve().parent
DATA = data_dir()

_spec = importlib.util.spec_from_file_location("ner_base_recipe", HERE.parent / "ner-base" / "recipe.py")
assert _spec is not None and _spec.loader is not None
ner_base = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ner_base)

# corpus -> (domain, sampling weight times sqrt of its size). Negatives for a corpus come only from
# corpora of other domains, whose types its text does not contain (a gene in a tweet is rare enough).
CORPORA: dict[str, tuple[str, float]] = {
    "fewnerd_inter_partial": ("general", 3.0),
    "wikiann_en": ("general", 1.5),
    "re3d": ("general", 2.0),
    "tweetner7": ("general", 1.5),
    "harveyner": ("general", 1.0),
    "snips_slots": ("general", 1.5),
    "stackoverflow_ner": ("software", 1.0),
    "scierc": ("science", 1.0),
    "fabner": ("science", 0.7),
    "wlp_wnut2020": ("science", 0.5),
    "anem": ("biomedical", 0.4),
    "ncbi_disease": ("biomedical", 0.4),
    "bc5cdr": ("biomedical", 0.4),
    "bionlp13cg": ("biomedical", 0.4),
    "bionlp13pc": ("biomedical", 0.4),
    "bionlp11id": ("biomedical", 0.4),
    "craft": ("biomedical", 0.4),
    "anatem": ("biomedical", 0.4),
    "linnaeus": ("biomedical", 0.4),
    "bc2gm": ("biomedical", 0.4),
}

DECISION_THRESHOLD = 0.27
"""Default decision threshold of a sigmoid-scored ner-zero (see ``--decision-threshold``)."""


_COARSE = {  # Few-NERD's own coarse types, named as a user would
    "person": Label("person", "person", "the name of a person"),
    "location": Label("location", "location", "the name of a place"),
    "organization": Label("organization", "organization", "the name of a company, institution or other organization"),
    "building": Label("building", "building", "a named building or facility"),
    "art": Label("art", "work of art", "the title of a film, book, song or other work"),
    "product": Label("product", "product", "a named product"),
    "event": Label("event", "event", "a named event"),
    "other": Label("other", "miscellaneous", "another named thing: an award, language, law, disease, ..."),
}
PARENTS: dict[str, dict[str, Label]] = {  # fine type -> coarse type, read instead on some steps
    "harveyner": {k: _COARSE["location"] for k in ("AREA", "POINT", "RIVER", "ROAD")},
    "snips_slots": {k: _COARSE["location"] for k in ("city", "country", "state", "geographic_poi")},
    "tweetner7": {
        "corporation": _COARSE["organization"],
        "group": _COARSE["organization"],
        "creative_work": _COARSE["art"],
    },
}


def parents_of(corpus: str, types: list[str]) -> dict[str, Label]:
    """Coarse types of a corpus's fine types (Few-NERD: its own coarse level)."""
    if corpus.startswith("fewnerd"):
        return {t: _COARSE[t.split("-", 1)[0]] for t in types if t.split("-", 1)[0] in _COARSE}
    return {t: lb for t, lb in PARENTS.get(corpus, {}).items() if t in types}


def plain_names(corpus: str, labels: LabelSet) -> LabelSet:
    """Few-NERD's fine types named as a user types them (``politician``, not ``politician (person)``)."""
    if not corpus.startswith("fewnerd"):
        return labels
    return LabelSet([Label(lb.key, lb.name.split(" (", 1)[0], lb.description) for lb in labels])


def load_tasks(
    data_dir: Path = DATA, corpora: dict[str, tuple[str, float]] | None = None, plain: bool = False
) -> list[NERTask]:
    """The training corpora as tasks, each with its negatives (types of the other domains); ``plain``:
    Few-NERD's fine types without their coarse type in brackets."""
    corpora = corpora or CORPORA
    loaded = {}
    for corpus in corpora:
        examples = read_jsonl(data_dir / corpus / "train.jsonl.gz")
        labels = ner_base.corpus_labels(corpus, entity_types(examples))
        loaded[corpus] = (examples, plain_names(corpus, labels) if plain else labels)
    names_by_domain: dict[str, set[str]] = {}
    for corpus, (domain, _) in corpora.items():
        names_by_domain.setdefault(domain, set()).update(lb.name.lower() for lb in loaded[corpus][1])
    shared = {
        n
        for d, names in names_by_domain.items()
        for n in names
        if any(n in o for e, o in names_by_domain.items() if e != d)
    }
    tasks = []
    for corpus, (domain, weight) in corpora.items():
        examples, labels = loaded[corpus]
        pool = [
            Label(lb.key, lb.name, lb.description)
            for other, (other_domain, _) in corpora.items()
            if other_domain != domain
            for lb in loaded[other][1]
            if lb.name.lower() not in shared  # a name used in two domains is no safe negative
        ]
        parents = parents_of(corpus, labels.keys)
        tasks.append(NERTask(examples, labels, corpus, weight, negatives=pool, parents=parents))
    return tasks


DEFAULT_LABELS = {
    "person": "the name of a person",
    "location": "the name of a place",
    "organization": "the name of a company, institution or other organization",
}
"""The labels ``ner-zero`` answers when none are given (any others can be given at run time)."""


def save_float16(model: NERModel, out: Path) -> None:
    """``model.save_pretrained(out)`` with the weights stored as float16 (half the bytes; loading
    casts them back to float32)."""
    from safetensors.torch import save_file

    from stage2.ner.config import WEIGHTS_NAME

    model.save_pretrained(out)
    state = {
        k: (v.detach().half() if v.is_floating_point() else v.detach()).contiguous().cpu()
        for k, v in model.state_dict().items()
    }
    save_file(state, str(out / WEIGHTS_NAME))


def ship(model_dir: Path, dev_limit: int, decision_threshold: float = DECISION_THRESHOLD) -> None:
    """Export ``model_dir`` as ``exports/ner-zero`` (int8) with float16 torch weights beside it (a sigmoid-scored
    model with ``decision_threshold`` as its default)."""
    sys.path.insert(0, str(HERE.parent))  # models/shipping.py, shared by the recipes
    from shipping import ROOT, copy_model, write_card
    from shipping import ship as ship_int8

    from stage2.benchmarks import load_ner, ner_labels
    from stage2.labels import LabelSet

    work = ROOT / "runs" / "models" / "ner-zero"
    copy_model(model_dir, work)
    model = NERModel.from_pretrained(work)
    model.config.labels = LabelSet.from_user(DEFAULT_LABELS).to_dict()
    model.config.decision_threshold = decision_threshold
    model.save_pretrained(work)
    dev = load_ner("conll2003", "dev", dev_limit)
    conll = ner_labels("conll2003", descriptions=False)
    report = ship_int8(work, "ner-zero", ROOT / "runs" / "exports" / "ner-zero-fp32", dev, labels=conll)
    torch_dir = ROOT / "exports" / "ner-zero" / "torch"
    save_float16(model, torch_dir)
    torch_mb = sum(f.stat().st_size for f in torch_dir.iterdir()) / 1e6
    training = model.config.card.get("training", [{}])[-1]
    recipe = model.config.card.get("recipe") or trainer_settings(model_dir)
    how = (
        f"all-MiniLM-L6-v2 with the case-shape embedding and the label-semantic head ({model.config.scoring} "
        f"scoring{decision_phrase(model.config)}), trained {training.get('steps')} steps "
        f"({training.get('seconds')} s on 2 CPU cores) on the "
        "train splits of: "
        + ", ".join(training.get("corpora", []))
        + ". Each step reads one corpus with its own label set (label and description dropout 0.5), plus "
        "entity types of other domains as negatives, some steps with coarse types and some windows re-cased; "
        f"recipe settings: {json.dumps(recipe)}. No CoNLL-2003, WNUT-16/17, MultiNERD, WikiNEuRal, "
        "OntoNotes or GUM data. Licences: each corpus's SOURCE.md in shared/data (several state none). "
        "Default labels: " + ", ".join(DEFAULT_LABELS) + "; give any others at run time. "
        f"Torch weights for fine-tuning: `exports/ner-zero/torch` (float16 safetensors, {torch_mb:.1f} MB with "
        "its tokenizer: the size cost of few-shot training from the shipped model offline)."
    )
    write_card(HERE, "ner-zero", how, zero_shot_scores(ROOT / "evaluation" / "results" / "ner_zero_shot.json"), report)


def decision_phrase(config: Any) -> str:
    """How the card names a sigmoid model's default decision threshold (nothing for softmax)."""
    if config.scoring != "sigmoid":
        return ""
    return f"; a word is an entity of a label from probability {config.decision_threshold} unless told otherwise"


def trainer_settings(model_dir: Path) -> dict:
    """The training settings from the run's last checkpoint (``OUT/work`` beside ``OUT/final``)."""
    state = model_dir.parent / "work" / "checkpoint-last" / "trainer_state.json"
    if not state.exists():
        return {"note": "training settings not found"}
    cfg = json.loads(state.read_text(encoding="utf-8"))["config"]
    keys = ("batch_size", "seed", "learning_rate", "head_learning_rate", "label_dropout", "description_dropout")
    keys += ("negative_labels", "coarse_labels", "parent_labels", "name_variants", "case_augmentation")
    return {k: cfg.get(k) for k in keys}


def zero_shot_scores(path: Path) -> list[str]:
    """The card's score lines: every ner-zero row of the zero-shot benchmark."""
    if not path.exists():
        return ["zero-shot benchmark: not run yet"]
    rows = [r for r in json.loads(path.read_text(encoding="utf-8"))["rows"] if r["system"].startswith("ner-zero")]
    return [
        f"{r['system']} on {r['dataset']} (test, labels {r['labels']}, {r['setting']}): F1 {r['scores']['f1']:.2f}"
        for r in rows
    ] or ["zero-shot benchmark: no ner-zero rows yet"]


def add_label_set_args(parser: argparse.ArgumentParser) -> None:
    """How each step's label set and text are varied."""
    parser.add_argument("--negatives", type=int, default=8, help="absent types added per step, at most (0: none)")
    parser.add_argument("--coarse", type=float, default=0.5, help="chance per step of a task's coarse types")
    parser.add_argument("--case", type=float, default=0.2, help="chance per window of all upper- or lower-case")
    parser.add_argument(
        "--parents",
        type=float,
        default=0.0,
        help="chance per step (of the steps not read coarse) of offering a task's coarse types beside its fine "
        "ones, the fine type staying gold (teaches the most specific type to win)",
    )
    parser.add_argument(
        "--names", type=float, default=0.0, help="chance per label and step of another name (synonym, plural, ...)"
    )
    parser.add_argument(
        "--plain-names",
        action="store_true",
        help="Few-NERD fine types named alone ('politician', not 'politician (person)')",
    )


def build_parser() -> argparse.ArgumentParser:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/ner-zero", help="where checkpoints and the final model go")
    parser.add_argument("--steps", type=int, default=4000, help="optimizer steps")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--scoring",
        choices=["softmax", "sigmoid"],
        default="sigmoid",
        help="the head's scoring (sigmoid ships: read at its decision threshold it has the best transfer-protocol "
        "mean of the design runs, README 'Zero-shot transfer'; softmax shipped before, as it led the zero-shot dev "
        "rows of the name-type sets)",
    )
    parser.add_argument(
        "--encoder",
        default=None,
        help="encoder to train (a folder or hub id; default: the bundled all-MiniLM-L6-v2), e.g. all-mpnet-base-v2 "
        "for the teacher",
    )
    parser.add_argument(
        "--reading",
        choices=["separate", "joint"],
        default="separate",
        help="how label prompts are read: separate (encoded alone) or joint (read before the text in one sequence)",
    )
    add_label_set_args(parser)
    parser.add_argument(
        "--protocol",
        choices=["ship", "transfer"],
        default="ship",
        help="transfer: leave out the corpora the zero-shot transfer protocol scores on (design runs); "
        "ship: train on every corpus (the shipped model)",
    )
    parser.add_argument(
        "--decision-threshold",
        type=float,
        default=DECISION_THRESHOLD,
        help="sigmoid scoring: the word-label probability from which a word is an entity, kept in the model's "
        f"config as predict's default (default {DECISION_THRESHOLD}: the best transfer mean of the sigmoid design "
        "run read at 0.5, 0.27, 0.12, 0.047 and 0.018, rows sigmoid, sigmoid+1 ... sigmoid+4 of "
        "evaluation/results/ner_zero_shot_transfer.json); applied again when shipping",
    )
    parser.add_argument(
        "--label-encoder",
        choices=["shared", "frozen"],
        default="shared",
        help="frozen: a frozen copy of the starting encoder reads the label prompts (keeps its sentence-embedding "
        "space for type names never trained on); shared: the trained encoder reads them",
    )
    parser.add_argument("--snapshot-every", type=int, default=0, help="keep the weights every N steps (a curve)")
    parser.add_argument("--data", default=str(DATA), help="folder holding the corpora")
    parser.add_argument("--ship", metavar="MODEL", help="ship this trained model as exports/ner-zero (no training)")
    parser.add_argument("--dev-limit", type=int, default=1000, help="CoNLL dev sentences for the int8 check")
    return parser


RECIPE_KEYS = (
    "steps",
    "batch_size",
    "seed",
    "encoder",
    "scoring",
    "reading",
    "label_encoder",
    "decision_threshold",
    "negatives",
    "coarse",
    "parents",
    "names",
    "plain_names",
    "case",
    "protocol",
)
"""The command-line settings saved in the model card's recipe."""


def training_config(args: argparse.Namespace) -> TrainingConfig:
    """The training settings the command line asks for (checkpoints in ``OUT/work``)."""
    return TrainingConfig(
        epochs=0.0,
        min_steps=args.steps,
        max_steps=args.steps,
        batch_size=args.batch_size,
        label_dropout=0.5,
        description_dropout=0.5,
        negative_labels=args.negatives,
        coarse_labels=args.coarse,
        parent_labels=args.parents,
        name_variants=args.names,
        case_augmentation=args.case,
        seed=args.seed,
        save_every=250,
        snapshot_every=args.snapshot_every,
        output_dir=str(Path(args.out) / "work"),
    )


def main() -> None:
    args = build_parser().parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if args.ship:
        ship(Path(args.ship), args.dev_limit, args.decision_threshold)
        return
    corpora = CORPORA
    if args.protocol == "transfer":
        corpora = {c: v for c, v in CORPORA.items() if c not in TRANSFER_HELD_OUT}
    tasks = load_tasks(Path(args.data), corpora, args.plain_names)
    model = NERModel.from_pretrained(
        args.encoder,
        scoring=args.scoring,
        label_reading=args.reading,
        label_encoder=args.label_encoder,
        decision_threshold=args.decision_threshold,
    )
    result = train(model, tasks, config=training_config(args))
    model.config.card.setdefault("licences", "see each corpus's SOURCE.md in shared/data")
    model.config.card["recipe"] = {k: getattr(args, k) for k in RECIPE_KEYS}
    model.save_pretrained(Path(args.out) / "final")
    logging.info("done: %d steps in %.0f s", result.steps, result.seconds)


if __name__ == "__main__":
    main()
