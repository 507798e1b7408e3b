"""Recipe of the shipped ``ner-default``: stage2-ner-base fine-tuned on the CoNLL-2003 train split with
document context (the benchmark's ``stage2-doc`` full row), exported to ONNX Runtime int8.

    python models/ner-default/recipe.py                      # train (about 30 min on 2 CPUs), export
    python models/ner-default/recipe.py --model runs/models/conll2003-stage2-doc-full   # reuse the benchmark's
    python models/ner-default/recipe.py --system stage2-doc-cd --model runs/models/conll2003-stage2-doc-cd-full

Writes runs/models/ner-default (torch), exports/ner-default (int8, shipped), runs/exports/ner-fp32
(float32, for the serving benchmark) and models/ner-default/MODEL_CARD.md.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parents[1] / "evaluation"))

from shipping import ROOT, copy_model, ner_scores, ship, write_card  # noqa: E402


def train(out: Path, seed: int, context_dropout: float) -> None:
    from ner_benchmark import LABELS, load_split

    from stage2.data import add_document_context
    from stage2.ner.modeling import NERModel
    from stage2.training import TrainingConfig
    from stage2.training import train as fit

    model = NERModel.from_pretrained(ROOT / "runs" / "ner-base" / "final")
    model.config.max_context = 32
    train_split = add_document_context(load_split("conll2003", "train"), 64)
    dev = add_document_context(load_split("conll2003", "dev"), 64)
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
    fit(model, train_split, dev, labels=LABELS["conll2003"], config=cfg)
    model.save_pretrained(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="an already trained model with this recipe's settings (skips training)")
    parser.add_argument("--out", default=str(ROOT / "runs" / "models" / "ner-default"))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--system",
        default="stage2-doc",
        choices=["stage2-doc", "stage2-doc-cd"],
        help="the benchmark row this model is (stage2-doc-cd: trained with context dropout 0.5)",
    )
    parser.add_argument("--dev-limit", type=int, default=3250, help="CoNLL dev sentences for the export check")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from ner_benchmark import load_split

    out = Path(args.out)
    if args.model:
        copy_model(Path(args.model), out)
    else:
        train(out, args.seed, 0.5 if args.system == "stage2-doc-cd" else 0.0)
    dev = load_split("conll2003", "dev")[: args.dev_limit]
    report = ship(out, "ner-default", ROOT / "runs" / "exports" / "ner-fp32", dev)
    scores = ner_scores(args.system, "ort-int8")
    cd = args.system == "stage2-doc-cd"
    how = (
        "stage2-ner-base (models/ner-base: label-semantic pretraining on 15 corpora, no CoNLL/WNUT/OntoNotes) "
        "fine-tuned on the whole CoNLL-2003 train split, 3 epochs, batch 32, encoder lr 1e-4, head lr 1e-3, seed "
        f"{args.seed}, best of per-epoch CoNLL dev evaluations; every sentence read with up to 32 subwords of its "
        "neighbouring sentences a side"
        + ("; context dropout 0.5 (each training window read without its context half the time)" if cd else "")
        + ". Labels PER/LOC/ORG/MISC with natural-language names and descriptions; "
        "other labels can be given at run time (label-semantic head)."
    )
    write_card(HERE, "ner-default", how, scores, report)


if __name__ == "__main__":
    main()
