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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="the benchmark's full model of the --system row")
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
