"""Recipe of ``summarizer-abstractive``: a written summariser warm-started from the bundled MiniLM
(frozen encoder, its outputs cached; a decoder of the encoder's layers 0 and 5 with cross-attention and a
copy gate), trained on SAMSum train and picked on SAMSum validation ROUGE-1 (greedy summaries).

    python models/summarizer-abstractive/recipe.py --epochs 3                  # the shipped design
    python models/summarizer-abstractive/recipe.py --epochs 1 --no-copy --out runs/abstractive-nocopy

    python models/summarizer-abstractive/recipe.py --report --out runs/abstractive-stopped  # a stopped run's dev.json
    python models/summarizer-abstractive/recipe.py --ship runs/summarizer-abstractive/best     # exports + card
    python models/summarizer-abstractive/recipe.py --card runs/summarizer-abstractive/best     # the card again

Resumable: rerun the same command after an interruption (the encoder outputs are cached under
runs/abstractive-cache, checkpoints under OUT). Writes OUT/final (torch) and OUT/dev.json (the design, the
validation ROUGE along the run). ``--report`` writes OUT/dev.json from the last checkpoint of a run stopped
before its end. ``--ship MODEL`` exports MODEL to exports/summarizer-abstractive (int8, 4-bit word tables,
kept only within 0.5 greedy ROUGE-1 of float32 on 200 validation dialogues; greedy parity with torch on 100)
and runs/exports/summarizer-abstractive-fp32, records its sample score and writes MODEL_CARD.md here.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

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
    parser.add_argument("--report", action="store_true", help="write OUT/dev.json of a stopped run, no training")
    parser.add_argument("--ship", metavar="MODEL", help="export this trained model and write its card")
    parser.add_argument("--card", metavar="MODEL", help="rewrite the card of the shipped MODEL (no export)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.ship:
        ship(Path(args.ship))
    elif args.card:
        card(Path(args.card))
    elif args.report:
        report(Path(args.out))
    else:
        train(args)


def train(args: argparse.Namespace) -> None:
    """Train (or resume) a design and write OUT/final and OUT/dev.json."""
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
    train_data = load_summaries("samsum", "train")[: args.limit]
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
    result = train_abstractive(model, train_data, dev, cfg, Path(args.cache), evaluations=args.evaluations)
    model.card["recipe"] = " ".join(["python", *sys.argv])
    model.save_pretrained(out / "final")
    summary = {
        "design": {  # as the model holds it (with --init, the loaded model's)
            "layers": model.cfg.decoder_layers,
            "copy": model.cfg.copy,
            "train_top": model.cfg.train_top,
            "init": args.init,
        },
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


def report(out: Path) -> None:
    """OUT/dev.json from the last checkpoint of a run stopped before its end (its step budget not reached)."""
    state = json.loads((out / "checkpoint-last" / "trainer_state.json").read_text(encoding="utf-8"))
    config = json.loads((out / "checkpoint-last" / "stage2_config.json").read_text(encoding="utf-8"))["config"]
    cfg = state["config"]
    evaluated = [h for h in state["history"] if h.get("dev")]
    summary = {
        "design": {
            "layers": config["decoder_layers"],
            "copy": config["copy"],
            "train_top": config.get("train_top", 0),
            "init": None,
        },
        "epochs": cfg["epochs"],
        "batch": cfg["batch_size"],
        "lr": cfg["learning_rate"],
        "steps": state["step"],
        "planned_steps": state["steps"],
        "train_seconds": None,
        "best_dev": state["best"],
        "history": state["history"],
        "dev_dialogues": None,
        "stopped": f"stopped at step {state['step']} of {state['steps']}; evaluated at steps "
        f"{[h['step'] for h in evaluated]}",
        "command": " ".join(["python", *sys.argv]),
    }
    (out / "dev.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")


def ship(model_path: Path) -> None:
    """The shipped exports of ``model_path``, its sample score and MODEL_CARD.md."""
    from stage2.benchmarks import EXPORT_SAMPLES, load_summaries
    from stage2.export.sample import record_sample
    from stage2.export.written import export_written
    from stage2.summarization.abstractive import AbstractiveSummarizer

    model = AbstractiveSummarizer.from_pretrained(model_path)
    dev = load_summaries("samsum", "validation")[:200]
    out = ROOT / "exports" / "summarizer-abstractive"
    fp32 = export_written(
        model, ROOT / "runs" / "exports" / "summarizer-abstractive-fp32", None, dev, True, parity_documents=100
    )
    shipped = export_written(model, out, "int8", dev, True, parity_documents=100, embedding_bits=4)
    sample = record_sample(out, EXPORT_SAMPLES["summarizer-abstractive"], " ".join(["python", *sys.argv]))
    write_card(model, model_path, fp32, shipped, sample)


def card(model_path: Path) -> None:
    """MODEL_CARD.md again from the shipped export's reports and the benchmark rows (after the benchmark ran)."""
    from stage2.summarization.abstractive import AbstractiveSummarizer

    def report(folder: Path) -> dict:
        return json.loads((folder / "export_report.json").read_text(encoding="utf-8"))

    shipped = report(ROOT / "exports" / "summarizer-abstractive")
    fp32 = report(ROOT / "runs" / "exports" / "summarizer-abstractive-fp32")
    write_card(AbstractiveSummarizer.from_pretrained(model_path), model_path, fp32, shipped, shipped["sample"])


def training_chain(run: Path) -> list[str]:
    """One line per training run behind ``run`` (its --init runs first), from their dev.json files."""
    dev_json = run / "dev.json"
    if not dev_json.exists():
        return [f"{run}: no dev.json"]
    dev = json.loads(dev_json.read_text(encoding="utf-8"))
    init = dev.get("design", {}).get("init")
    earlier = training_chain(Path(init).parent) if init else []
    best = dev.get("best_dev") or {}
    seconds = f", {dev['train_seconds']} s" if dev.get("train_seconds") else ""
    return [
        *earlier,
        f"`{dev['command']}`: {dev['steps']} steps of {dev['batch']} SAMSum train dialogues, lr {dev['lr']}{seconds}; "
        f"best validation ROUGE-1 (greedy) {best.get('rouge1', '?')} at step {best.get('step', '?')}",
    ]


def write_card(model: Any, model_path: Path, fp32: dict, shipped: dict, sample: dict) -> None:
    """MODEL_CARD.md from the training record, the export reports and the benchmark rows."""
    cfg = model.cfg
    rows = json.loads((ROOT / "evaluation" / "results" / "summarization_samsum.json").read_text(encoding="utf-8"))
    test = [r for r in rows["rows"] if r["system"] == "stage2-abstractive"]
    m = shipped.get("metric") or {}
    lines = [
        "# summarizer-abstractive",
        "",
        "Generated by the recipe beside this card from its training record, the export reports and "
        "evaluation/results; do not edit.",
        "",
        "## How it was trained",
        "",
        f"- Design: all-MiniLM-L6-v2 with its first {6 - cfg.train_top} layers frozen (their outputs cached) and its "
        f"top {cfg.train_top} trained; a decoder of its layers {cfg.decoder_layers} with cross-attention"
        f"{' and a copy gate' if cfg.copy else ''}; windows of {cfg.window} subwords; summaries cut at "
        f"{cfg.max_summary} subwords for training.",
        *[f"- {line}" for line in training_chain(model_path.parent)],
        "",
        "## What it scores",
        "",
    ]
    for r in test:
        sc = r["scores"]
        lines.append(
            f"- SAMSum test (benchmark row stage2-abstractive/full, beam 4): ROUGE-1/2/Lsum {sc['rouge1']:.2f} / "
            f"{sc['rouge2']:.2f} / {sc['rougeLsum']:.2f}; names and numbers missing from the dialogue: "
            f"{r['hallucination_rate']}%; {r['ms_per_dialogue']} ms a dialogue."
        )
    if not test:
        lines.append("- SAMSum test: not run yet (evaluation/abstractive_benchmark.py).")
    lines += [
        "",
        "## The shipped export",
        "",
        f"- `exports/summarizer-abstractive`: source.onnx + step.onnx, {shipped.get('quantization') or 'float32'}, "
        f"word tables in {shipped.get('embedding_bits', 8)} bits, {shipped['onnx_megabytes']} MB "
        f"(float32: {fp32['onnx_megabytes']} MB).",
        f"- Greedy parity with torch: identical subwords on {shipped['parity']['identical_greedy']} of "
        f"{shipped['parity']['documents']} validation dialogues.",
    ]
    if m:
        lines.append(
            f"- {m['name']} on the first {m['examples']} validation dialogues: float32 {m['onnx_fp32']:.2f}, int8 "
            f"{m['onnx_int8']:.2f} (drop {m['drop']:.2f}; the limit is 0.5)."
        )
    lines.append(
        f"- Sample score ({sample['metric']}, first {sample['first']} validation dialogues): {sample['score']}"
    )
    (HERE / "MODEL_CARD.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
