"""Recipe of ``summarizer-abstractive``: a written summariser warm-started from the bundled MiniLM
(frozen encoder, its outputs cached; a decoder of the encoder's layers 0 and 5 with cross-attention and a
copy gate), trained on SAMSum train and picked on SAMSum validation ROUGE-1 (greedy summaries).

    python models/summarizer-abstractive/recipe.py --epochs 3                  # the shipped design
    python models/summarizer-abstractive/recipe.py --epochs 1 --no-copy --out runs/abstractive-nocopy

Resumable: rerun the same command after an interruption (the encoder outputs are cached under
runs/abstractive-cache, checkpoints under OUT). Writes OUT/final (torch) and OUT/dev.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(ROOT / "runs" / "summarizer-abstractive"))
    parser.add_argument("--cache", default=str(ROOT / "runs" / "abstractive-cache"), help="encoder outputs")
    parser.add_argument("--init", help="start from this saved model instead of the bundled MiniLM")
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2.5e-4)
    parser.add_argument("--layers", type=int, nargs="+", default=[0, 5], help="encoder layers the decoder reuses")
    parser.add_argument("--no-copy", action="store_true", help="no copy gate (vocabulary only)")
    parser.add_argument("--train-top", type=int, default=0, help="top encoder layers trained (the rest frozen)")
    parser.add_argument("--dev-size", type=int, default=300, help="SAMSum validation dialogues for picking")
    parser.add_argument("--evaluations", type=int, default=3)
    parser.add_argument("--limit", type=int, help="first N training dialogues only (smoke runs)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    import torch

    from stage2.benchmarks import load_summaries
    from stage2.loop import TrainingConfig
    from stage2.summarization.abstractive import AbstractiveSummarizer
    from stage2.summarization.abstractive_training import train_abstractive

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    if args.init:
        model = AbstractiveSummarizer.from_pretrained(args.init)
    else:
        model = AbstractiveSummarizer.build(
            None, decoder_layers=args.layers, copy=not args.no_copy, train_top=args.train_top
        )
    train = load_summaries("samsum", "train")[: args.limit]
    dev = load_summaries("samsum", "validation")[: args.dev_size]
    out = Path(args.out)
    cfg = TrainingConfig(
        epochs=args.epochs,
        batch_size=args.batch,
        learning_rate=args.lr,
        head_learning_rate=args.lr,
        warmup_ratio=0.05,
        seed=args.seed,
        output_dir=str(out),
        min_steps=1,
    )
    started = time.time()
    result = train_abstractive(model, train, dev, cfg, Path(args.cache), evaluations=args.evaluations)
    model.card["recipe"] = " ".join(["python", *sys.argv])
    model.save_pretrained(out / "final")
    summary = {
        "design": {"layers": args.layers, "copy": not args.no_copy, "train_top": args.train_top, "init": args.init},
        "epochs": args.epochs,
        "batch": args.batch,
        "lr": args.lr,
        "steps": result.steps,
        "train_seconds": round(result.seconds, 1),
        "wall_seconds": round(time.time() - started, 1),
        "best_dev": result.best_dev,
        "history": result.history,
        "dev_dialogues": len(dev),
        "command": " ".join(["python", *sys.argv]),
    }
    (out / "dev.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    logging.getLogger("recipe").info("best dev %s", result.best_dev)


if __name__ == "__main__":
    main()
