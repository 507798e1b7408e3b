"""Recipe of the shipped ``ner-fast``: ``ner-default``'s recipe on half the encoder. stage2-ner-base is
shrunk to its transformer layers 0, 2 and 4 (DistilBERT-style initialisation) and fine-tuned on the
CoNLL-2003 train split with document context (the benchmark's ``stage2-doc-3l`` full row, or with
context dropout 0.5 its ``stage2-doc-3l-cd`` row, or distilled from the 6-layer model as well:
``stage2-doc-3l-kd``), then exported to ONNX Runtime int8. Faster than
ner-default for about two points of F1: see the README's serving table.

    python evaluation/ner_benchmark.py --dataset conll2003 --systems stage2-doc-3l-kd --settings full \\
      --full-lr 1e-4 --full-head-lr 1e-3 --save-model runs/models  # teacher: runs/models/conll2003-stage2-doc-cd-full
    python models/ner-fast/recipe.py --system stage2-doc-3l-kd --model runs/models/conll2003-stage2-doc-3l-kd-full

Writes runs/models/ner-fast (torch), exports/ner-fast (int8, shipped), runs/exports/ner-fast-fp32
(float32) and models/ner-fast/MODEL_CARD.md.

The distilled student that is to replace it (issue 25) keeps run-time labels: the shipped ner-zero shrunk to
``--layers`` with its feed-forward narrowed to ``--width`` units, then trained like ner-default's --mixed run
(CoNLL-2003 gold beside ner-zero's own corpora, random label sets) while it learns ner-zero's answers on the
broad corpora (distillation weight ``--distill``, temperature 1; CoNLL is read gold-only, as ner-zero never
trained on it):

    python models/ner-fast/recipe.py --student --out runs/ner-fast-student/final --steps 4000
    python models/ner-fast/recipe.py --student --init runs/ner-fast-student/final --conll-share 0.75 \
        --steps 1500 --lr 3e-5 --out runs/ner-fast-student2/final                     # then more CoNLL
    python models/ner-fast/recipe.py --ship-student runs/ner-fast-student/final     # ship it as exports/ner-fast
    python evaluation/zero_shot_benchmark.py --protocol transfer --threads 2 --systems ner-fast=exports/ner-fast
    python models/ner-fast/recipe.py --card        # the card again, with the transfer rows (no new export)
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # models/shipping.py, shared by the recipes

from shipping import ROOT, copy_model, ner_scores, ship, write_card  # noqa: E402


def closed(model_dir: Path) -> None:
    """Mark the model as answering its own labels only (``open_labels`` false in its config)."""
    import json

    path = model_dir / "stage2_config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    config["open_labels"] = False
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")


def train_student(args: argparse.Namespace) -> None:
    """Train the distilled student (see the module docstring) into ``--out``."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("ner_default_recipe", HERE.parent / "ner-default" / "recipe.py")
    assert spec is not None and spec.loader is not None
    ner_default = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = ner_default  # its dataclass looks its module up
    spec.loader.exec_module(ner_default)
    if args.init:  # a student trained further: no shrinking, ner-zero stays the teacher
        student = ner_default.Student(None, None, args.distill, str(ROOT / "exports" / "ner-zero" / "torch"))
    else:
        student = ner_default.Student([int(x) for x in args.layers.split(",")], args.width or None, args.distill)
    out = Path(args.out)
    ner_default.train_mixed(
        out,
        args.seed,
        args.steps,
        args.conll_share,
        out.parent / (out.name + "-work"),
        init=Path(args.init) if args.init else None,
        learning_rate=args.lr,
        dev_alone=True,
        student=student,
    )


def student_how(model_dir: Path) -> str:
    """The card's training paragraph of the distilled student, from its saved config (and, for a student
    trained further, its first stage's)."""
    import json

    from stage2.ner.modeling import NERModel

    card = json.loads((model_dir / "stage2_config.json").read_text(encoding="utf-8"))["card"]
    recipe, last = card["recipe"], card["training"][-1]
    student = recipe["student"]
    steps = (
        f"trained {recipe['steps']} steps (batch 16, encoder lr {recipe['learning_rate']:.0e}, head lr "
        f"{10 * recipe['learning_rate']:.0e}; {last['seconds']} s on 2 CPU cores) on the CoNLL-2003 train split "
        f"({recipe['conll_share']} of the steps, gold tags only"
    )
    if not student.get("layers"):  # a second stage: the first stage's paragraph, then this one
        first = student_how(ROOT / recipe["from"]) if (ROOT / recipe["from"]).exists() else recipe["from"]
        return f"{first} Then {steps}) and the same mixture, distillation and selection."
    params = sum(p.numel() for p in NERModel.from_pretrained(model_dir).parameters()) / 1e6
    width = f", feed-forward narrowed to its {student['width']} strongest units" if student.get("width") else ""
    return (
        f"The shipped ner-zero (models/ner-zero) shrunk to its transformer layers {student['layers']}{width} "
        f"({params:.1f}M parameters), then {steps}, sentences read with up to 32 subwords of their neighbours a "
        "side, context dropout 0.5) mixed with ner-zero's own training corpora ("
        + ", ".join(c for c in last["corpora"] if c != "conll2003")
        + f"), where the loss is {1 - student['weight']:g} gold tags + {student['weight']:g} ner-zero's own answers "
        "(distillation, temperature 1), with label and description dropout 0.5, up to 8 absent types of other "
        "domains per step, coarse types on half the steps and 20% of windows re-cased. The best of four CoNLL dev "
        "evaluations (sentences alone) is kept. Labels PER/LOC/ORG/MISC with natural-language names; any other "
        "labels can be given at run time."
    )


def student_scores(out: Path) -> list[str]:
    """The card's score lines of the student: CoNLL-2003 test, own labels, the shipped int8 export, sentences
    alone (measured here), and its rows of the zero-shot transfer protocol."""
    import json

    import stage2.runtime as rt
    from stage2.benchmarks import load_ner
    from stage2.ner.metrics import ner_scores as score

    test = load_ner("conll2003", "test")
    found = rt.load(ROOT / "exports" / "ner-fast").predict_words([e.tokens for e in test])
    f1 = score(test, [[s for s, _ in p] for p in found])["f1"]
    lines = [f"CoNLL-2003 test F1, own labels, int8 export, sentences read alone (measured by this recipe): {f1:.2f}"]
    path = ROOT / "evaluation" / "results" / "ner_zero_shot_transfer.json"
    rows = json.loads(path.read_text(encoding="utf-8"))["rows"] if path.exists() else []
    lines += [
        f"{r['dataset']} test (transfer protocol), run-time label {r['labels']}: F1 {r['scores']['f1']:.2f}"
        for r in rows
        if r["system"] == "ner-fast"
    ]
    return lines


def ship_student(args: argparse.Namespace) -> None:
    """Ship a trained student as exports/ner-fast, with its card (``--card``: the card only, from the shipped
    export's report and the torch model in ``--out``)."""
    import json

    from stage2.benchmarks import load_ner

    out = Path(args.out)
    if args.card:
        report = json.loads((ROOT / "exports" / "ner-fast" / "export_report.json").read_text(encoding="utf-8"))
    else:
        copy_model(Path(args.ship_student), out)
        dev = load_ner("conll2003", "dev")[: args.dev_limit]
        fp32 = ROOT / "runs" / "exports" / "ner-fast-fp32"
        report = ship(out, "ner-fast", fp32, dev, target_drop=args.target_drop, embedding_bits=args.embedding_bits)
    write_card(HERE, "ner-fast", student_how(out), student_scores(out), report)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="the benchmark's full model of the --system row")
    parser.add_argument("--student", action="store_true", help="train the distilled student into --out (no export)")
    parser.add_argument("--layers", default="0,2,4", help="--student: ner-zero's transformer layers kept")
    parser.add_argument("--width", type=int, default=768, help="--student: feed-forward units kept (0: all 1536)")
    parser.add_argument("--distill", type=float, default=0.5, help="--student: weight of the teacher's answers")
    parser.add_argument("--steps", type=int, default=3000, help="--student: optimizer steps (batch 16)")
    parser.add_argument("--conll-share", type=float, default=0.55, help="--student: fraction of steps on CoNLL")
    parser.add_argument("--lr", type=float, default=1e-4, help="--student: encoder learning rate (head: 10x)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--init", help="--student: train this student further (no shrinking; ner-zero teaches)")
    parser.add_argument("--ship-student", metavar="MODEL", help="ship this trained student as exports/ner-fast")
    parser.add_argument("--card", action="store_true", help="rewrite the shipped student's card only")
    parser.add_argument(
        "--embedding-bits", type=int, choices=[8, 4], default=8, help="--ship-student: 4: word embeddings in 4 bits"
    )
    parser.add_argument(
        "--target-drop",
        type=float,
        default=None,
        help="--ship-student: keep the most sensitive matrices in float32 while CoNLL dev F1 drops by more than this",
    )
    parser.add_argument(
        "--system",
        default="stage2-doc-3l",
        choices=["stage2-doc-3l", "stage2-doc-3l-cd", "stage2-doc-3l-kd"],
        help="the benchmark row this model is (-cd: trained with context dropout 0.5; -kd: also distilled from "
        "the stage2-doc-cd model)",
    )
    parser.add_argument("--out", default=str(ROOT / "runs" / "models" / "ner-fast"))
    parser.add_argument("--dev-limit", type=int, default=3250, help="CoNLL dev sentences for the export check")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.student:
        train_student(args)
        return
    if args.ship_student or args.card:
        ship_student(args)
        return
    if not args.model:
        parser.error("--model is required (or --student)")
    from stage2.benchmarks import load_ner

    out = Path(args.out)
    copy_model(Path(args.model), out)
    closed(out)  # trained on CoNLL's four types only: other labels at run time gave nonsense (Marie Curie = dinosaur)
    dev = load_ner("conll2003", "dev")[: args.dev_limit]
    report = ship(out, "ner-fast", ROOT / "runs" / "exports" / "ner-fast-fp32", dev)
    scores = ner_scores(args.system, "ort-int8-fast")
    cd = args.system in ("stage2-doc-3l-cd", "stage2-doc-3l-kd")
    kd = args.system == "stage2-doc-3l-kd"
    how = (
        "stage2-ner-base (models/ner-base) shrunk to transformer layers 0, 2 and 4 (3 of 6; 18.0M parameters), "
        "then fine-tuned like ner-default on the whole CoNLL-2003 train split: 3 epochs, batch 32, encoder lr "
        "1e-4, head lr 1e-3, seed 1, best of per-epoch CoNLL dev evaluations; every sentence read with up to 32 "
        "subwords of its neighbouring sentences a side"
        + ("; context dropout 0.5 (each training window read without its context half the time)" if cd else "")
        + (
            "; distilled from the 6-layer stage2-doc-cd model (ner-default's torch model): loss 0.5 gold tags + "
            "0.5 KL to the teacher's tag distribution at temperature 2"
            if kd
            else ""
        )
        + ". Labels PER/LOC/ORG/MISC only: other run-time labels are refused (it never learnt to read them)."
    )
    write_card(HERE, "ner-fast", how, scores, report)


if __name__ == "__main__":
    main()
