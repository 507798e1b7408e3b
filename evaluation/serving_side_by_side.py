"""Side-by-side NER speed (``serving_benchmark.py --side-by-side``): spaCy en_core_web_sm and each export,
alternating in one process for ``--rounds`` rounds, so that a busy or throttled machine slows all of them
alike and the ratio to spaCy is true on any machine.

Each round runs every engine over all CoNLL-2003 test sentences in batches of 32 (throughput), then the
first ``--single`` sentences one call each (one-sentence latency). A row per engine and machine kind
(evaluation/results/serving_side_by_side.json): the median throughput over the rounds, the median of the
per-round ratios to spaCy, the one-sentence p50/p95 over all rounds, the F1 of what was predicted and the
machine's instruction sets. Rows of other machine kinds are kept, never replaced.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import hide_isa
from common import DATA, ResultsFile, git_commit, machine, put_machine_row
from serving_engines import labelled_engine, spacy_engine
from serving_rows import percentiles

logger = logging.getLogger("serving_side_by_side")

BATCH = 32
RESULTS_NAME = "serving_side_by_side"


def engines(args: argparse.Namespace) -> dict[str, Callable[[], Any]]:
    """Engine name -> a loader returning ``predict(list of word lists) -> list of span lists``: spaCy first,
    then each ``--export NAME=PATH`` (its own labels; ``NAME=PATH@labels`` for CoNLL's types as run-time names)."""
    found: dict[str, Callable[[], Any]] = {"spacy-sm": spacy_engine}
    for spec in args.export:
        name, _, path = spec.partition("=")
        if not path:
            raise SystemExit(f"--export {spec!r}: expected NAME=PATH")
        path, _, mode = path.partition("@")
        found[name] = labelled_engine(path, 4, args.threads) if mode == "labels" else _own_labels(path, args.threads)
    return found


def _own_labels(path: str, threads: int) -> Callable[[], Any]:
    def load() -> Any:
        import stage2.runtime as rt

        model = rt.load(path, threads=threads)
        return lambda batch: [[s for s, _ in p] for p in model.predict_words(batch, batch_size=len(batch))]

    return load


def one_round(predict: Callable[[list[list[str]]], list[Any]], words: list[list[str]], single: int) -> dict[str, Any]:
    """One pass in batches of 32 (throughput, predictions) and ``single`` one-sentence calls (latencies)."""
    preds: list[Any] = []
    started = time.perf_counter()
    for b in range(0, len(words), BATCH):
        preds.extend(predict(words[b : b + BATCH]))
    seconds = time.perf_counter() - started
    latencies = []
    for w in words[:single]:
        t = time.perf_counter()
        predict([w])
        latencies.append(time.perf_counter() - t)
    return {"throughput": len(words) / seconds, "latencies": latencies, "preds": preds}


def run(args: argparse.Namespace) -> ResultsFile:
    """Every engine, alternating, ``args.rounds`` times; one row per engine for this machine kind."""
    from stage2.ner.data import read_jsonl
    from stage2.ner.metrics import ner_scores
    from stage2.runtime.cpu import cpu_features, cpu_kind

    test = read_jsonl(DATA / "conll2003" / "test.jsonl.gz")
    words = [e.tokens for e in test]
    loaded = {name: load() for name, load in engines(args).items()}
    for predict in loaded.values():  # warm-up: first calls allocate
        for b in range(0, 4 * BATCH, BATCH):
            predict(words[b : b + BATCH])
    rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in loaded}
    for r in range(args.rounds):
        for name, predict in loaded.items():
            rounds[name].append(one_round(predict, words, args.single))
            logger.info("round %d %s: %.1f sentences/s", r + 1, name, rounds[name][-1]["throughput"])
    res = ResultsFile(RESULTS_NAME, "serving", "conll2003", "test")
    features = hide_isa.visible(cpu_features())
    kind = hide_isa.kind(cpu_kind(features))
    spacy = [x["throughput"] for x in rounds["spacy-sm"]]
    for name, runs in rounds.items():
        ratios = [x["throughput"] / s for x, s in zip(runs, spacy, strict=True)]
        single = percentiles([t for x in runs for t in x["latencies"]])
        row = {
            "system": name,
            "setting": "ner",
            "k": None,
            "cpu_kind": kind,
            "cpu_features": list(features),
            "scores": {
                "throughput": round(statistics.median(x["throughput"] for x in runs), 1),
                "ratio_to_spacy": round(statistics.median(ratios), 2),
                "ratio_min": round(min(ratios), 2),
                "ratio_max": round(max(ratios), 2),
                "single_p50_ms": single["p50_ms"],
                "single_p95_ms": single["p95_ms"],
                "f1": ner_scores(test, runs[-1]["preds"])["f1"],
                "batch_size": BATCH,
                "threads": args.threads,
                "rounds": args.rounds,
            },
            "notes": f"all {len(words)} CoNLL-2003 test sentences in batches of {BATCH}, then the first "
            f"{args.single} one per call; engines alternate in one process, {args.rounds} rounds; ratio: median of "
            "the per-round ratios to spaCy (min and max beside it); F1 of the last round's predictions"
            + ("; CoNLL's types given as run-time label names" if "@labels" in _spec(args, name) else ""),
            "command": " ".join(["python", *sys.argv]),
            "git_commit": git_commit(),
            "machine": machine(),
        }
        put_machine_row(res, row)
    res.data["rows"].sort(key=lambda x: (x.get("cpu_kind", ""), x["system"]))
    res.save()
    return res


def _spec(args: argparse.Namespace, name: str) -> str:
    return next((s for s in args.export if s.partition("=")[0] == name), "")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The --side-by-side options of serving_benchmark.py."""
    parser.add_argument(
        "--side-by-side",
        action="store_true",
        help="NER only: spaCy and each --export alternately in one process for --rounds rounds; ratio to spaCy, "
        "one-sentence p95 and the CPU's instruction sets (evaluation/results/serving_side_by_side.json)",
    )
    parser.add_argument(
        "--export",
        action="append",
        default=[],
        metavar="NAME=PATH[@labels]",
        help="--side-by-side: an export to time (repeatable); @labels gives it CoNLL's types as run-time names",
    )
    parser.add_argument(
        "--hide-avx512",
        action="store_true",
        help="--side-by-side: time the AVX2 kernels an AVX2-only machine runs, by hiding AVX-512, VNNI and AMX "
        "from the process (evaluation/hide_isa.py; rows of kind '... AVX2 (AVX-512 hidden)')",
    )
    parser.add_argument("--rounds", type=int, default=3, help="--side-by-side: rounds of every engine")
    parser.add_argument("--single", type=int, default=500, help="--side-by-side: one-sentence calls per round")


DEFAULT_EXPORTS = ["ner-default=exports/ner-default", "ner-fast=exports/ner-fast", "ner-zero=exports/ner-zero@labels"]
"""The shipped NER exports, timed when --side-by-side is given no --export."""


def main(args: argparse.Namespace) -> None:
    """Run the side-by-side rows and log them."""
    if args.hide_avx512:
        hide_isa.relaunch(sys.argv)
    if not args.export:
        args.export = list(DEFAULT_EXPORTS)
    res = run(args)
    for row in res.data["rows"]:
        s = row["scores"]
        logging.getLogger("serving_side_by_side").info(
            "%s on %s: %.1f sentences/s, %.2fx spaCy, one sentence p95 %.2f ms, F1 %.2f",
            row["system"],
            row.get("cpu_kind"),
            s["throughput"],
            s["ratio_to_spacy"],
            s["single_p95_ms"],
            s["f1"],
        )
