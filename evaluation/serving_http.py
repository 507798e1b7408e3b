"""The serving benchmark's loopback load tests of ``stage2 serve``: the service alone (task ``http``) and
behind Ray Serve (task ``http-ray``), every answer checked against the runtime's own prediction.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import threading
import time
from typing import Any

from common import DATA, ResultsFile
from serving_rows import done, percentiles, put_row

logger = logging.getLogger("serving_benchmark")  # the script's logger: its lines read as before


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
