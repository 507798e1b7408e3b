"""Serving benchmark: NER on every CoNLL-2003 test sentence with torch eager, ONNX Runtime float32 and
int8 (and optionally the 3-layer ner-fast in int8), and spaCy en_core_web_sm (NER only); extractive
summarisation of the BBC News test articles with torch and ONNX Runtime; and a loopback load test of
``stage2 serve`` (task ``http``) and of ``stage2 serve --ray`` (task ``http-ray``: Ray Serve with one replica
of 2 threads, two of one, and autoscaling from one to two). One process, same threads (spaCy's ``nlp.pipe``
runs in this one process: it uses one core for its network, where the ONNX Runtime engines use ``--threads``).

    python evaluation/serving_benchmark.py --side-by-side --rounds 5    # spaCy and the shipped NER exports,
                                                                        # alternating (serving_side_by_side.py)

    python evaluation/serving_benchmark.py --ner-torch runs/models/ner-default --ner-fp32 runs/exports/ner-fp32 \\
        --ner-int8 exports/ner-default --sum-torch runs/models/summarizer-default \\
        --sum-fp32 runs/exports/summarizer-fp32 --sum-int8 exports/summarizer-default \\
        --ner-int8-fast exports/ner-fast

Rows (evaluation/results/serving.json, task "serving"): one per engine, task and batch size, with
throughput (sentences or documents per second), p50/p95/p99 latency per call in ms, the task metric
of what was predicted, and the thread count. Finished rows are kept; ``--only`` runs some again.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
from typing import Any

from common import DATA, ResultsFile
from serving_engines import ner_engines, summarization_engines
from serving_http import run_http, run_http_ray
from serving_rows import done, put_row, timed_batches
from serving_side_by_side import add_arguments as side_by_side_arguments
from serving_side_by_side import main as side_by_side

logger = logging.getLogger("serving_benchmark")

BATCH_SIZES = [1, 8, 32, 64]


def run_ner(res: ResultsFile, args: argparse.Namespace) -> None:
    """Every NER engine at every batch size over the CoNLL-2003 test sentences: throughput, latency, F1."""
    from stage2.ner.data import read_jsonl
    from stage2.ner.metrics import ner_scores

    test = read_jsonl(DATA / "conll2003" / "test.jsonl.gz")
    words = [e.tokens for e in test]
    for system, load in ner_engines(args).items():
        if args.only and system not in args.only:
            continue
        todo = [b for b in BATCH_SIZES if args.force or not done(res, system, "ner", b)]
        if not todo:
            continue
        predict = load()
        for b in todo:
            preds, timing = timed_batches(words, b, predict)
            f1 = ner_scores(test, preds)["f1"]
            logger.info(
                "ner %s batch %d: %.1f sentences/s, p95 %.1f ms, F1 %.2f",
                system,
                b,
                timing["throughput"],
                timing["p95_ms"],
                f1,
            )
            put_row(
                res,
                {
                    "system": system,
                    "setting": "ner",
                    "k": None,
                    "scores": {**timing, "batch_size": b, "threads": args.threads, "f1": f1},
                    "notes": f"all {len(words)} CoNLL-2003 test sentences, gold tokenisation; latency per call "
                    f"of {b} sentences; F1 of these predictions"
                    + (
                        f"; {args.ner_labels_model} given {system.rsplit('-', 1)[1]} run-time labels (names only: "
                        "person, location, organization, miscellaneous, then other types); F1 on the CoNLL types"
                        if system.startswith("ort-int8-labels-")
                        else ""
                    ),
                },
            )


def run_summarization(res: ResultsFile, args: argparse.Namespace) -> None:
    """Every summariser over the BBC News test articles, one per call: throughput, latency, ROUGE-1."""
    from stage2.summarization.data import read_summarization_jsonl
    from stage2.summarization.metrics import rouge_scores

    test = read_summarization_jsonl(DATA / "bbc_news" / "test.jsonl.gz")
    for system, load in summarization_engines(args).items():
        if (args.only and system not in args.only) or (done(res, system, "summarization", 1) and not args.force):
            continue
        model = load()
        outs, timing = timed_batches([e.document for e in test], 1, lambda docs, m=model: m.summarize(docs, ratio=0.4))
        per_doc = seconds_at_400_words(model, test)
        hyps = ["\n".join(s["text"] for s in o["sentences"]) for o in outs]
        rouge = rouge_scores([e.summary for e in test], hyps)
        logger.info(
            "summarization %s: %.1f docs/s, p95 %.1f ms, R1 %.2f",
            system,
            timing["throughput"],
            timing["p95_ms"],
            rouge["rouge1"],
        )
        put_row(
            res,
            {
                "system": system,
                "setting": "summarization",
                "k": None,
                "scores": {
                    **timing,
                    "batch_size": 1,
                    "threads": args.threads,
                    "rouge1": rouge["rouge1"],
                    "ms_400_words": round(1000 * statistics.median(per_doc), 1) if per_doc else None,
                },
                "notes": f"all {len(test)} BBC News test articles, one per call, 40% of the words; ms_400_words: "
                f"median over the {len(per_doc)} articles of 350-450 words",
            },
        )


def seconds_at_400_words(model: Any, test: list[Any]) -> list[float]:
    """Seconds to summarise each test article of 350-450 words, one at a time."""
    per_doc = []
    for e in test:  # latency of articles of about 400 words, one at a time
        n = len(e.document.split())
        if 350 <= n <= 450:
            t = time.perf_counter()
            model.summarize(e.document, ratio=0.4)
            per_doc.append(time.perf_counter() - t)
    return per_doc


def meeting_documents(words: int) -> list[tuple[str, str]]:
    """One ``(document, focus)`` per QMSum test meeting of at least ``words`` words: its first whole turns
    up to ``words`` words, and the meeting's first query."""
    from stage2.io import iter_jsonl

    seen: dict[str, tuple[str, str]] = {}
    for _, r in iter_jsonl(DATA / "qmsum" / "test.jsonl.gz"):
        meeting = r["id"].split(":")[0]
        if meeting in seen:
            continue
        kept, used = [], 0
        for turn in r["document"].split("\n"):
            n = len(turn.split())
            if used + n > words:
                break
            kept.append(turn)
            used += n
        if used >= 0.98 * words:
            seen[meeting] = ("\n".join(kept), r["focus"])
    return list(seen.values())


def run_meeting(res: ResultsFile, args: argparse.Namespace) -> None:
    """Seconds to summarise a meeting of 10,000 words with a focus (the int8 export, one at a time)."""
    if not args.sum_int8 or (done(res, "ort-int8", "summarization-meeting", 1) and not args.force):
        return
    import stage2.runtime as rt

    model = rt.load(args.sum_int8, threads=args.threads)
    meetings = meeting_documents(args.meeting_words)
    for doc, focus in meetings[:2]:  # warm-up
        model.summarize(doc, focus=focus, max_words=250)
    seconds = []
    for doc, focus in meetings:
        t = time.perf_counter()
        model.summarize(doc, focus=focus, max_words=250)
        seconds.append(time.perf_counter() - t)
    ordered = sorted(seconds)
    scores = {
        "seconds_p50": round(statistics.median(seconds), 3),
        "seconds_p95": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 3),
        "seconds_max": round(ordered[-1], 3),
        "throughput": round(len(seconds) / sum(seconds), 2),
        "batch_size": 1,
        "threads": args.threads,
        "words": args.meeting_words,
        "meetings": len(seconds),
    }
    logger.info("meeting of %d words: p50 %.2f s, max %.2f s", args.meeting_words, scores["seconds_p50"], ordered[-1])
    put_row(
        res,
        {
            "system": "ort-int8",
            "setting": "summarization-meeting",
            "k": None,
            "scores": scores,
            "notes": f"the {len(seconds)} QMSum test meetings of at least {args.meeting_words} words, each cut to its "
            f"first whole turns up to {args.meeting_words} words, summarised one at a time with the meeting's first "
            "query as focus and a 250-word budget; throughput in meetings per second",
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ner-torch", help="saved torch NER model")
    parser.add_argument("--ner-fp32", help="float32 export of the same model")
    parser.add_argument("--ner-int8", help="int8 export of the same model")
    parser.add_argument("--ner-int8-fast", help="int8 export of a smaller model (ner-fast): row ort-int8-fast")
    parser.add_argument("--ner-labels-model", help="int8 NER export for the run-time label rows (ner-zero)")
    parser.add_argument(
        "--label-counts", nargs="+", type=int, default=[4, 10, 25], help="run-time label set sizes of those rows"
    )
    parser.add_argument("--sum-torch", help="saved torch summariser")
    parser.add_argument("--sum-fp32", help="float32 export of the summariser")
    parser.add_argument("--sum-int8", help="int8 export of the summariser")
    parser.add_argument("--threads", type=int, default=2, help="torch and ONNX Runtime threads")
    parser.add_argument(
        "--tasks",
        nargs="+",
        default=["ner", "summarization", "meeting", "http"],
        help="ner, summarization, meeting, http, http-ray (Ray Serve rows; needs stage2[ray])",
    )
    parser.add_argument("--meeting-words", type=int, default=10_000, help="meeting task: words per meeting")
    parser.add_argument("--only", nargs="*", help="run only these systems")
    parser.add_argument("--force", action="store_true", help="redo finished rows")
    parser.add_argument("--http-requests", type=int, default=2000, help="load test: at most this many requests")
    parser.add_argument("--http-seconds", type=float, default=120, help="load test: at most this long")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--autoscale-rounds", type=int, default=10, help="http-ray autoscaling row: the requests this many times over"
    )
    side_by_side_arguments(parser)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.side_by_side:
        side_by_side(args)
        return
    import torch

    torch.set_num_threads(args.threads)
    res = ResultsFile("serving", "serving", "conll2003+bbc_news", "test")
    if "ner" in args.tasks:
        run_ner(res, args)
    if "summarization" in args.tasks:
        run_summarization(res, args)
    if "meeting" in args.tasks:
        run_meeting(res, args)
    if "http" in args.tasks and args.ner_int8:
        run_http(res, args)
    if "http-ray" in args.tasks and args.ner_int8:
        run_http_ray(res, args)
    print(json.dumps(res.data["rows"], indent=1)[:4000])


if __name__ == "__main__":
    main()
