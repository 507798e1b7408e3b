"""Decoding settings of the written summariser, chosen on SAMSum validation (never on test), row by row.

    python evaluation/abstractive_decoding.py --export exports/summarizer-abstractive --limit 300

Each row is one :class:`stage2.summarization.generation.SearchSettings` (beams, length penalty, repetition
penalty, no-repeat n-gram size) with ROUGE-1/2/Lsum, the mean summary length and the share of made-up names and
numbers, written to evaluation/results/abstractive_decoding.json. A row that exists is kept unless ``--force``.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time

from common import ResultsFile, git_commit, machine

logger = logging.getLogger("abstractive_decoding")

GRID = [
    {"num_beams": 1},
    {"num_beams": 4},
    {"num_beams": 4, "length_penalty": 1.5},
    {"num_beams": 4, "length_penalty": 2.0},
    {"num_beams": 4, "repetition_penalty": 1.2},
    {"num_beams": 4, "length_penalty": 1.2, "repetition_penalty": 1.2},
    {"num_beams": 4, "length_penalty": 1.5, "repetition_penalty": 1.2},
    {"num_beams": 4, "length_penalty": 2.0, "repetition_penalty": 1.2},
]


def name_of(setting: dict) -> str:
    """A row's system name: the settings that differ from the defaults."""
    return ", ".join(f"{k}={v}" for k, v in setting.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--export", default="exports/summarizer-abstractive")
    parser.add_argument("--limit", type=int, default=300, help="first N SAMSum validation dialogues")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from stage2.benchmarks import load_summaries
    from stage2.runtime import name_finder
    from stage2.runtime.written import WrittenSummarizerRuntime
    from stage2.summarization.faithfulness import hallucination_rate
    from stage2.summarization.generation import SearchSettings
    from stage2.summarization.metrics import rouge_scores

    runtime = WrittenSummarizerRuntime(args.export, threads=args.threads)
    dev = load_summaries("samsum", "validation")[: args.limit]
    res = ResultsFile("abstractive_decoding", "summarization", "samsum", "validation")
    for setting in GRID:
        system = name_of(setting)
        if res.row(system, "validation") and not args.force:
            continue
        started = time.perf_counter()
        settings = SearchSettings(**setting)
        preds = runtime.summarize([e.document for e in dev], settings=settings, unsupported=False)
        summaries = [p["summary"] for p in preds]
        row = {
            "system": system,
            "setting": "validation",
            "k": None,
            "search": settings.__dict__,
            "scores": rouge_scores([e.summary for e in dev], summaries),
            "mean_summary_words": round(statistics.fmean(len(s.split()) for s in summaries), 1),
            "hallucination": hallucination_rate(summaries, [e.document for e in dev], name_finder()),
            "dialogues": len(dev),
            "seconds": round(time.perf_counter() - started, 1),
            "export": args.export,
            "command": " ".join(["python", *sys.argv]),
            "git_commit": git_commit(),
            "machine": machine(),
        }
        res.data["rows"] = [r for r in res.data["rows"] if r["system"] != system] + [row]
        res.save()
        logger.info("%s: %s, %s words", system, row["scores"], row["mean_summary_words"])


if __name__ == "__main__":
    main()
