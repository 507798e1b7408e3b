"""Recipe of the shipped ``ner-default``: stage2-ner-base fine-tuned on the CoNLL-2003 train split with
document context and context dropout 0.5 (the benchmark's ``stage2-doc-cd`` full row, the default
``--system``), exported to ONNX Runtime int8.

    python models/ner-default/recipe.py                      # train (about 30 min on 2 CPUs), export
    python models/ner-default/recipe.py --model runs/models/conll2003-stage2-doc-cd-full   # reuse the benchmark's
    python models/ner-default/recipe.py --mixed --train-only --out runs/nd-mix/final   # the one-default candidate
    python models/ner-default/recipe.py --mixed --init runs/nd-mix/final --conll-share 0.75 --steps 1500 \
        --lr 3e-5 --dev-alone --train-only --out runs/nd-mix2/final                     # ... continued on CoNLL
    python models/ner-default/recipe.py --soup runs/nd-mix/final runs/nd-mix2/final   # average them, ship: the
                                                                                        # shipped ner-default

Writes runs/models/ner-default (torch), exports/ner-default (int8, shipped), runs/exports/ner-fp32
(float32, for the serving benchmark) and models/ner-default/MODEL_CARD.md. The int8 export keeps the
most sensitive matrices in float32 while the CoNLL dev F1 drops by more than ``--target-drop``.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # models/shipping.py, shared by the recipes

from shipping import ROOT, copy_model, ner_scores, ship, write_card  # noqa: E402


def train(out: Path, seed: int, context_dropout: float) -> None:
    from stage2.benchmarks import load_ner, ner_labels
    from stage2.ner.data import add_document_context
    from stage2.ner.modeling import NERModel
    from stage2.ner.training import TrainingConfig
    from stage2.ner.training import train as fit

    model = NERModel.from_pretrained(ROOT / "runs" / "ner-base" / "final")
    model.config.max_context = 32
    train_split = add_document_context(load_ner("conll2003", "train"), 64)
    dev = add_document_context(load_ner("conll2003", "dev"), 64)
    cfg = TrainingConfig(
        epochs=3.0,
        min_steps=0,
        batch_size=32,
        seed=seed,
        learning_rate=1e-4,
        head_learning_rate=1e-3,
        context_dropout=context_dropout,
        progress=True,
    )
    fit(model, train_split, dev, labels=ner_labels("conll2003"), config=cfg)
    model.save_pretrained(out)


def train_mixed(
    out: Path,
    seed: int,
    steps: int,
    share: float,
    work: Path,
    init: Path | None = None,
    learning_rate: float = 1e-4,
    dev_alone: bool = False,
    student: Any = None,
) -> None:
    """Fine-tune the shipped ``ner-zero`` (or ``init``, e.g. an earlier mixed model to continue) on
    CoNLL-2003 (document context, context dropout 0.5) mixed with ner-zero's own training corpora, so
    that the model learns CoNLL's four types without forgetting run-time labels. ``share`` is the
    fraction of steps that read CoNLL; the head's learning rate is ten times ``learning_rate``.
    ``dev_alone`` selects on CoNLL dev sentences read alone (the shipping gate's setting) instead of
    with their document context. ``student`` (a :class:`Student`) shrinks the starting model first and
    distils the start, unshrunk, into it on the broad corpora (CoNLL stays gold-only)."""
    import math

    from stage2.benchmarks import load_ner, ner_labels
    from stage2.ner.data import add_document_context
    from stage2.ner.modeling import NERModel
    from stage2.ner.training import NERTask
    from stage2.ner.training import train as fit

    ner_zero = _ner_zero_recipe()
    start = init or ROOT / "exports" / "ner-zero" / "torch"
    model = NERModel.from_pretrained(start).float()
    model.config.max_context = 32
    teacher = student.shrink(model) if student else None
    broad = ner_zero.load_tasks()
    broad_weight = sum(t.weight * math.sqrt(len(t.examples)) for t in broad)
    train_split = add_document_context(load_ner("conll2003", "train"), 64)
    weight = share / (1.0 - share) * broad_weight / math.sqrt(len(train_split))
    negatives = [lb for t in broad if ner_zero.CORPORA[t.name][0] != "general" for lb in t.labels]
    conll = NERTask(train_split, ner_labels("conll2003"), "conll2003", weight, negatives=negatives, distill=False)
    dev = load_ner("conll2003", "dev")
    if not dev_alone:
        dev = add_document_context(dev, 64)
    cfg = _mixed_config(seed, steps, learning_rate, work)
    if student:
        cfg = dataclasses.replace(cfg, distill_weight=student.weight, distill_temperature=1.0)
    fit(model, [conll, *broad], dev, config=cfg, teacher=teacher)
    model.config.labels = ner_labels("conll2003").to_dict()
    model.config.card["recipe"] = {
        "from": str(start.relative_to(ROOT)) if start.is_relative_to(ROOT) else str(start),
        "steps": steps,
        "conll_share": share,
        "learning_rate": learning_rate,
        "dev": "sentences alone" if dev_alone else "document context",
        **({"student": dataclasses.asdict(student)} if student else {}),
    }
    model.save_pretrained(out)


@dataclasses.dataclass
class Student:
    """How a --mixed run makes a distilled student of its starting model: the transformer layers kept (None:
    all, e.g. a student trained further), the feed-forward width (None: unchanged), the weight of the
    teacher's answers in the loss, and the teacher (None: the starting model as it was before shrinking)."""

    layers: list[int] | None
    width: int | None = None
    weight: float = 0.5
    teacher: str | None = None

    def shrink(self, model: Any) -> Any:
        """Shrink ``model`` in place; return the frozen teacher."""
        import copy

        from stage2.backbone import keep_layers, narrow_feed_forward
        from stage2.ner.modeling import NERModel

        teacher = NERModel.from_pretrained(self.teacher).float() if self.teacher else copy.deepcopy(model)
        if self.layers:
            keep_layers(model, self.layers)
        if self.width:
            narrow_feed_forward(model, self.width)
        return teacher


def _ner_zero_recipe() -> Any:
    """models/ner-zero/recipe.py as a module (its corpora and their loader)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("ner_zero_recipe", HERE.parent / "ner-zero" / "recipe.py")
    assert spec is not None and spec.loader is not None
    ner_zero = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ner_zero)
    return ner_zero


def _mixed_config(seed: int, steps: int, learning_rate: float, work: Path) -> Any:
    """The training settings of a --mixed run (checkpoints in ``work``)."""
    from stage2.ner.training import TrainingConfig

    return TrainingConfig(
        epochs=0.0,
        min_steps=steps,
        max_steps=steps,
        batch_size=16,
        seed=seed,
        learning_rate=learning_rate,
        head_learning_rate=10 * learning_rate,
        context_dropout=0.5,
        label_dropout=0.5,
        description_dropout=0.5,
        negative_labels=8,
        coarse_labels=0.5,
        case_augmentation=0.2,
        evaluations=4,
        save_every=250,
        output_dir=str(work),
        progress=True,
    )


def soup(models: list[Path], out: Path) -> None:
    """The uniform average of the weights of ``models`` (same architecture and labels), saved to ``out``."""
    from stage2.ner.modeling import NERModel

    loaded = [NERModel.from_pretrained(m) for m in models]
    states = [m.state_dict() for m in loaded]
    base = loaded[-1]
    averaged = {
        k: sum(s[k] for s in states) / len(states) if v.is_floating_point() else v for k, v in states[-1].items()
    }
    base.load_state_dict(averaged)
    base.config.card["recipe"] = {"soup": [_relative(m) for m in models]}
    base.save_pretrained(out)


def _relative(path: Path) -> str:
    path = path.resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def soup_how(model_dir: Path) -> str:
    """The card's training paragraph of a --soup model: what was averaged, each part's recipe."""
    members = _card(model_dir)["recipe"]["soup"]
    parts = [f"({i}) {mixed_how(ROOT / m)}" for i, m in enumerate(members, 1)]
    return (
        f"The uniform average of the weights of {len(members)} models (a model soup: one point between the "
        "first's zero-shot breadth and the second's CoNLL fit): " + " ".join(parts)
    )


def _card(model_dir: Path) -> dict:
    """The model card section of a saved model's config (its training runs and recipe)."""
    import json

    return dict(json.loads((model_dir / "stage2_config.json").read_text(encoding="utf-8"))["card"])


def mixed_how(model_dir: Path) -> str:
    """The card's training paragraph of a --mixed model, from its saved config."""
    card = _card(model_dir)
    runs = card.get("training", [])
    recipe = card.get("recipe", {})
    last = runs[-1] if runs else {}
    lr = recipe.get("learning_rate", 1e-4)
    start = recipe.get("from", "exports/ner-zero/torch")
    begin = "The shipped ner-zero (models/ner-zero)" if "ner-zero" in start else f"{start} (the model above)"
    return (
        f"{begin} fine-tuned "
        f"{recipe.get('steps', last.get('steps'))} steps (batch 16, encoder lr {lr:.0e}, head lr {10 * lr:.0e}; "
        f"{last.get('seconds')} s on 2 CPU cores for the last run) on the CoNLL-2003 train split "
        f"({recipe.get('conll_share', '?')} of the steps; sentences read with up to 32 subwords of their neighbours a "
        "side, context dropout 0.5) mixed with ner-zero's own training corpora ("
        + ", ".join(c for c in last.get("corpora", []) if c != "conll2003")
        + "), with label and description dropout 0.5, up to 8 absent entity types of other domains per step, "
        "coarse types on half the steps of corpora that have them and 20% of windows re-cased. The best of four CoNLL "
        f"dev evaluations (read with {'no' if recipe.get('dev') == 'sentences alone' else 'their document'} "
        "context) is kept. Labels PER/LOC/ORG/MISC with natural-language names and descriptions; any "
        "other labels can be given at run time."
    )


def mixed_scores(system: str) -> list[str]:
    """The card's score lines of a --mixed model: CoNLL-2003 test with its own labels, int8, sentences
    alone (measured here on the shipped export), and its zero-shot benchmark rows."""
    import json

    import stage2.runtime as rt
    from stage2.benchmarks import load_ner
    from stage2.ner.metrics import ner_scores as score

    test = load_ner("conll2003", "test")
    found = rt.load(ROOT / "exports" / "ner-default").predict_words([e.tokens for e in test])
    f1 = score(test, [[s for s, _ in p] for p in found])["f1"]
    lines = [f"CoNLL-2003 test F1, own labels, int8 export, sentences read alone (measured by this recipe): {f1:.2f}"]
    rows = json.loads((ROOT / "evaluation" / "results" / "ner_zero_shot.json").read_text(encoding="utf-8"))["rows"]
    lines += [
        f"{r['dataset']} test, run-time label {r['labels']} ({r['setting']}): F1 {r['scores']['f1']:.2f}"
        for r in rows
        if r["system"] == system
    ]
    return lines


def build_parser() -> argparse.ArgumentParser:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="an already trained model with this recipe's settings (skips training)")
    parser.add_argument("--out", default=str(ROOT / "runs" / "models" / "ner-default"))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--system",
        default="stage2-doc-cd",
        choices=["stage2-doc", "stage2-doc-cd"],
        help="the benchmark row this model is (stage2-doc-cd: trained with context dropout 0.5)",
    )
    parser.add_argument(
        "--mixed",
        action="store_true",
        help="fine-tune the shipped ner-zero on CoNLL mixed with its broad corpora (one model for CoNLL "
        "labels and run-time labels) instead of ner-base on CoNLL alone",
    )
    parser.add_argument("--steps", type=int, default=3600, help="--mixed: optimizer steps (batch 16)")
    parser.add_argument("--conll-share", type=float, default=0.55, help="--mixed: fraction of steps on CoNLL")
    parser.add_argument("--init", help="--mixed: start from this model instead of exports/ner-zero/torch")
    parser.add_argument("--lr", type=float, default=1e-4, help="--mixed: encoder learning rate (head: 10x)")
    parser.add_argument("--dev-alone", action="store_true", help="--mixed: select on CoNLL dev sentences read alone")
    parser.add_argument(
        "--soup", nargs="+", metavar="MODEL", help="average these trained --mixed models' weights into --out, then ship"
    )
    parser.add_argument(
        "--target-drop",
        type=float,
        default=0.05,
        help="int8: keep the most sensitive matrices in float32 while CoNLL dev F1 drops by more than this",
    )
    parser.add_argument("--train-only", action="store_true", help="train, do not export")
    parser.add_argument(
        "--results-system",
        default="ner-default",
        help="--mixed/--soup: the model's system name in evaluation/results/ner_zero_shot.json (for the card)",
    )
    parser.add_argument("--dev-limit", type=int, default=3250, help="CoNLL dev sentences for the export check")
    return parser


def make_model(args: argparse.Namespace, out: Path) -> None:
    """The model at ``out``: a soup, a copy of ``--model``, a --mixed run or a CoNLL-only run."""
    if args.soup:
        soup([Path(m) for m in args.soup], out)
    elif args.model:
        copy_model(Path(args.model), out)
    elif args.mixed:
        train_mixed(
            out,
            args.seed,
            args.steps,
            args.conll_share,
            out.parent / (out.name + "-work"),
            Path(args.init) if args.init else None,
            args.lr,
            args.dev_alone,
        )
    else:
        train(out, args.seed, 0.5 if args.system == "stage2-doc-cd" else 0.0)


def base_how(seed: int, cd: bool) -> str:
    """The card's training paragraph of a model trained from ner-base on CoNLL alone (``cd``: with context
    dropout 0.5)."""
    return (
        "stage2-ner-base (models/ner-base: label-semantic pretraining on 15 corpora, no CoNLL/WNUT/OntoNotes) "
        "fine-tuned on the whole CoNLL-2003 train split, 3 epochs, batch 32, encoder lr 1e-4, head lr 1e-3, seed "
        f"{seed}, best of per-epoch CoNLL dev evaluations; every sentence read with up to 32 subwords of its "
        "neighbouring sentences a side"
        + ("; context dropout 0.5 (each training window read without its context half the time)" if cd else "")
        + ". Labels PER/LOC/ORG/MISC with natural-language names and descriptions; "
        "other labels can be given at run time (label-semantic head)."
    )


def main() -> None:
    args = build_parser().parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from stage2.benchmarks import load_ner

    out = Path(args.out)
    make_model(args, out)
    if args.train_only:
        return
    dev = load_ner("conll2003", "dev")[: args.dev_limit]
    report = ship(out, "ner-default", ROOT / "runs" / "exports" / "ner-fp32", dev, target_drop=args.target_drop)
    recipe = _card(out).get("recipe", {})
    if args.mixed or "soup" in recipe or "conll_share" in recipe:
        how = soup_how(out) if "soup" in recipe else mixed_how(out)
        write_card(HERE, "ner-default", how, mixed_scores(args.results_system), report)
        return
    scores = ner_scores(args.system, "ort-int8")
    write_card(HERE, "ner-default", base_how(args.seed, args.system == "stage2-doc-cd"), scores, report)


if __name__ == "__main__":
    main()
