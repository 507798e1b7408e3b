"""The written (abstractive) summariser on SAMSum test (issue 26), row by row, resumable.

    python evaluation/abstractive_benchmark.py --export exports/summarizer-abstractive \
        --fp32 runs/exports/summarizer-abstractive-fp32 --designs runs/summarizer-abstractive runs/abstractive-nocopy

Rows:
- ``summarization_samsum.json``, system ``stage2-abstractive`` (the int8 export, beam 4) and
  ``stage2-abstractive-fp32`` (the float32 export), setting ``full``: ROUGE-1/2/Lsum, the share of the
  summaries' names and numbers missing from the dialogue (``hallucination``; the reference summaries' own share
  beside it), mean summary words, and milliseconds of generation per dialogue (2 threads, beam 4);
- ``summarization_transfer.json``: the written model on BBC News test (``--transfer-limit`` articles);
- ``abstractive_designs.json``: each training run's design and best validation ROUGE (from its ``dev.json``).

A row that exists is kept unless ``--force``; ``--rows`` picks rows (``int8``, ``fp32``, ``transfer``,
``designs``).
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from common import ResultsFile, git_commit, machine

logger = logging.getLogger("abstractive_benchmark")


def generate(runtime: Any, documents: list[str], beams: int) -> tuple[list[str], list[float]]:
    """Summaries (no faithfulness pass) and milliseconds per document."""
    from tqdm.auto import tqdm

    out, ms = [], []
    for doc in tqdm(documents, desc="writing summaries", unit="doc"):
        t = time.perf_counter()
        out.append(runtime.summarize(doc, num_beams=beams, unsupported=False)["summary"])
        ms.append(1000 * (time.perf_counter() - t))
    return out, ms


def score_row(runtime: Any, examples: list[Any], beams: int) -> dict[str, Any]:
    """ROUGE, hallucination rate, length and time of ``runtime`` on ``examples``."""
    from stage2.runtime import name_finder
    from stage2.summarization.faithfulness import hallucination_rate
    from stage2.summarization.metrics import rouge_scores

    docs = [e.document for e in examples]
    summaries, ms = generate(runtime, docs, beams)
    scores: dict[str, Any] = rouge_scores([e.summary for e in examples], summaries)
    made_up = hallucination_rate(summaries, docs, name_finder())
    reference = hallucination_rate([e.summary for e in examples], docs, name_finder())
    return {
        "scores": scores,
        "extra": {
            "hallucination": made_up,
            "reference_hallucination": reference,
            "mean_summary_words": round(statistics.fmean(len(s.split()) for s in summaries), 1),
            "ms_per_document_median": round(statistics.median(ms), 1),
            "ms_per_document_mean": round(statistics.fmean(ms), 1),
            "ms_per_document_p95": round(sorted(ms)[int(0.95 * (len(ms) - 1))], 1),
            "examples": summaries[:3],
        },
    }


def samsum_row(args: argparse.Namespace, system: str, folder: str, res: ResultsFile) -> None:
    from stage2.benchmarks import load_summaries
    from stage2.runtime.written import WrittenSummarizerRuntime

    if res.row(system, "full") and not args.force:
        logger.info("%s: kept (--force to redo)", system)
        return
    runtime = WrittenSummarizerRuntime(folder, threads=args.threads)
    test = load_summaries("samsum", "test")[: args.limit]
    found = score_row(runtime, test, args.beams)
    meta = json.loads((Path(folder) / "stage2_export.json").read_text(encoding="utf-8"))
    megabytes = round(sum(f.stat().st_size for f in Path(folder).glob("*.onnx")) / 1e6, 1)
    res.data["rows"] = [r for r in res.data["rows"] if (r["system"], r["setting"]) != (system, "full")]
    res.add_seed(
        system,
        "full",
        None,
        42,
        found["scores"],
        None,
        {**found["extra"], "dialogues": len(test)},
        ["rouge1", "rouge2", "rougeLsum"],
        notes=f"written summariser ({meta.get('quantization') or 'float32'} ONNX export, {megabytes} MB), beam "
        f"{args.beams}, length penalty 1, no repeated trigrams, {args.threads} threads; trained on SAMSum train "
        "(models/summarizer-abstractive/recipe.py); hallucination: names (ner-fast) and numbers of the summaries "
        "missing from the dialogue",
        export=folder,
        export_megabytes=megabytes,
        hallucination_rate=found["extra"]["hallucination"]["rate"],
        ms_per_dialogue=found["extra"]["ms_per_document_median"],
    )
    logger.info("%s: %s, %s", system, found["scores"], found["extra"]["hallucination"])


def transfer_row(args: argparse.Namespace) -> None:
    from stage2.benchmarks import load_summaries
    from stage2.runtime.written import WrittenSummarizerRuntime
    from stage2.summarization.metrics import rouge_scores

    res = ResultsFile("summarization_transfer", "summarization", "several", "test")
    key = "samsum (written)"
    if any(r["trained_on"] == key for r in res.data["rows"]) and not args.force:
        return
    runtime = WrittenSummarizerRuntime(args.export, threads=args.threads)
    rows = [r for r in res.data["rows"] if r["trained_on"] != key]
    samsum = ResultsFile("summarization_samsum", "summarization", "samsum", "test").row("stage2-abstractive", "full")
    if samsum is None:
        raise SystemExit("run the int8 row first (--rows int8): the transfer table's SAMSum cell is that row")
    for dataset in ("bbc_news",):
        test = load_summaries(dataset, "test")[: args.transfer_limit]
        started = time.perf_counter()
        summaries, _ = generate(runtime, [e.document for e in test], args.beams)
        rows.append(
            {
                "system": "stage2-abstractive",
                "setting": "transfer",
                "trained_on": key,
                "dataset": dataset,
                "in_domain": dataset == "samsum",
                "scores": rouge_scores([e.summary for e in test], summaries),
                "model": args.export,
                "documents": len(test),
                "seconds": round(time.perf_counter() - started, 1),
                "git_commit": git_commit(),
                "command": " ".join(["python", *sys.argv]),
                "machine": machine(),
            }
        )
    rows.append(
        {
            **{k: samsum[k] for k in ("system", "scores", "git_commit", "command", "machine")},
            "setting": "transfer",
            "trained_on": key,
            "dataset": "samsum",
            "in_domain": True,
            "model": args.export,
            "documents": samsum["per_seed"][0]["dialogues"],
            "notes": "the summarization_samsum.json row stage2-abstractive/full",
        }
    )
    res.data["rows"] = rows
    res.save()


def design_rows(args: argparse.Namespace) -> None:
    res = ResultsFile("abstractive_designs", "summarization", "samsum", "validation")
    for run in args.designs:
        dev = json.loads((Path(run) / "dev.json").read_text(encoding="utf-8"))
        saved = Path(run) / ("final" if (Path(run) / "final").is_dir() else "checkpoint-last") / "stage2_config.json"
        config = json.loads(saved.read_text(encoding="utf-8"))["config"]  # the design as the model saved it
        design = {
            "layers": config["decoder_layers"],
            "copy": config["copy"],
            "train_top": config.get("train_top", 0),
            "init": dev["design"].get("init"),
        }
        system = f"decoder layers {'+'.join(map(str, design['layers']))}, {'copy' if design['copy'] else 'no copy'}"
        top = design.get("train_top", 0)
        system += f", encoder top {top} trained" if top else ", encoder frozen"
        system += f", {dev['epochs']:g} epochs" + (
            f" from {Path(design['init']).parent.name}" if design["init"] else ""
        )
        best = dev["best_dev"]
        row = {
            "system": system,
            "setting": "validation",
            "k": None,
            "scores": {k: best[k] for k in ("rouge1", "rouge2", "rougeLsum")},
            "best_step": best["step"],
            "steps": dev["steps"],
            "curve": [{"step": h["step"], "rouge1": h["dev"]["rouge1"]} for h in dev["history"] if h.get("dev")],
            "train_seconds": dev["train_seconds"],
            "seconds_per_step": round(dev["train_seconds"] / dev["steps"], 3) if dev["train_seconds"] else None,
            "notes": f"greedy summaries of the first {args.dev_size} SAMSum validation dialogues; batch "
            f"{dev['batch']}, lr {dev['lr']}" + (f"; {dev['stopped']}" if dev.get("stopped") else ""),
            "run": run,
            "command": dev["command"],
            "git_commit": git_commit(),
            "machine": machine(),
        }
        res.data["rows"] = [r for r in res.data["rows"] if r["system"] != system and r.get("run") != run] + [row]
    res.save()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--export", default="exports/summarizer-abstractive", help="the int8 export")
    parser.add_argument("--fp32", help="the float32 export of the same model")
    parser.add_argument("--designs", nargs="*", default=[], help="training runs (folders with dev.json)")
    parser.add_argument("--rows", nargs="+", default=["int8", "fp32", "transfer", "designs"])
    parser.add_argument("--beams", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--limit", type=int, help="first N test dialogues (default: all)")
    parser.add_argument("--transfer-limit", type=int, help="first N BBC News test articles (default: all)")
    parser.add_argument("--dev-size", type=int, default=300, help="validation dialogues the runs were picked on")
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    res = ResultsFile("summarization_samsum", "summarization", "samsum", "test")
    if "int8" in args.rows:
        samsum_row(args, "stage2-abstractive", args.export, res)
    if "fp32" in args.rows and args.fp32:
        samsum_row(args, "stage2-abstractive-fp32", args.fp32, res)
    if "transfer" in args.rows:
        transfer_row(args)
    if "designs" in args.rows and args.designs:
        design_rows(args)


if __name__ == "__main__":
    main()
