"""Ray overhead: NER on every CoNLL-2003 test sentence through Ray Data (1 and 2 actors) against the
single-process runtime, on the same cores. Resumable row by row.

Rows (``evaluation/results/scale.json``, task ``serving``): ``single-process`` (``rt.load(model,
threads=2)``, one predict call over all sentences, batch 64), ``ray-1-actor`` (one actor with 2 threads)
and ``ray-2-actors`` (two actors with 1 thread each; 1024 rows per actor call, predict_dataset's default,
64 per forward pass as the single process), each timed from loading the model to the last
entity (Ray: the cluster is started before the clock, and its worker processes are up: a no-op task on each
CPU has run; actor start-up and model loading are inside);
sentences per second, overhead against the single process, and whether every sentence got exactly
the single process's entities.

    python evaluation/scale_benchmark.py                 # all rows
    python evaluation/scale_benchmark.py --only ray-2-actors --force
    python evaluation/scale_benchmark.py --repeat 10     # the test sentences ten times: fixed costs amortised
    python evaluation/scale_benchmark.py --batch-size 64 --only ray-1-actor ray-2-actors   # rows -b64
    python evaluation/scale_benchmark.py --warm --only ray-1-actor ray-2-actors   # rows -warm: not the first job

Multi-node: on each node ``pip install "stage2[ray]"`` and the model (its export folder on a shared path,
or a package from ``stage2 package``); ``ray start --head`` on one node, ``ray start --address HEAD:6379`` on
the others; then ``stage2 ner predict --ray auto --input 'data/*.jsonl' --output out/ --actors N``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Any

from common import ROOT, ResultsFile, git_commit, machine

logger = logging.getLogger("scale_benchmark")
SYSTEMS = ("single-process", "ray-1-actor", "ray-2-actors")


def texts() -> list[str]:
    from stage2.benchmarks import load_ner

    return [" ".join(e.tokens) for e in load_ner("conll2003", "test")]


def run_single(model: str, data: list[str]) -> tuple[float, list[Any]]:
    import stage2.runtime as rt

    started = time.perf_counter()
    found = rt.load(model, threads=2).predict(data, batch_size=64)
    return time.perf_counter() - started, found


def run_ray(model: str, data: list[str], actors: int, batch_size: int, warm: bool) -> tuple[float, list[Any]]:
    import ray

    from stage2.distributed import predict_dataset

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        ray.get([ray.remote(lambda: None).remote() for _ in range(2)])  # a started cluster: its workers are up
        if warm:  # a cluster that has run a Ray Data job before (its first-use set-up done)
            predict_dataset(ray.data.from_items([{"id": 0, "text": data[0]}]), model, actors=actors).take_all()
        ds = ray.data.from_items([{"id": i, "text": t} for i, t in enumerate(data)])
        started = time.perf_counter()
        threads = 2 // actors
        tagged = predict_dataset(ds, model, actors=actors, threads=threads, batch_size=batch_size, model_batch_size=64)
        rows = tagged.take_all()
        seconds = time.perf_counter() - started
    finally:
        ray.shutdown()
    rows.sort(key=lambda r: r["id"])
    return seconds, [list(r["entities"]) for r in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(ROOT / "exports" / "ner-default"))
    parser.add_argument("--only", nargs="+", choices=SYSTEMS, default=list(SYSTEMS))
    parser.add_argument("--repeat", type=int, default=1, help="the test sentences this many times (rows get -xN)")
    parser.add_argument(
        "--batch-size", type=int, default=1024, help="Ray rows per actor call (other than 1024: rows get -bN)"
    )
    parser.add_argument(
        "--warm", action="store_true", help="Ray rows -warm: a one-row job runs on the cluster before the clock"
    )
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    res = ResultsFile("scale", "serving", "conll2003", "test")
    data = texts() * args.repeat
    suffix = f"-x{args.repeat}" if args.repeat > 1 else ""
    reference: list[Any] | None = None
    single = res.row("single-process" + suffix, "ray-overhead")
    for system in args.only:
        ray_suffix = f"-b{args.batch_size}" if system != "single-process" and args.batch_size != 1024 else ""
        ray_suffix += "-warm" if system != "single-process" and args.warm else ""
        name = system + suffix + ray_suffix
        if res.row(name, "ray-overhead") is not None and not args.force:
            logger.info("skip %s (done)", name)
            continue
        if system == "single-process":
            seconds, found = run_single(args.model, data)
        else:
            seconds, found = run_ray(args.model, data, 1 if system == "ray-1-actor" else 2, args.batch_size, args.warm)
        if reference is None:
            reference = found if system == "single-process" else run_single(args.model, data)[1]
        throughput = len(data) / seconds
        row = {
            "system": name,
            "setting": "ray-overhead",
            "k": None,
            "seeds": [1],
            "scores": {
                "throughput": round(throughput, 1),
                "seconds": round(seconds, 1),
                "identical_to_single_process": found == reference,
            },
            "sentences": len(data),
            "ray_rows_per_call": None if system == "single-process" else args.batch_size,
            "model": str(Path(args.model).resolve().relative_to(ROOT)) if Path(args.model).exists() else args.model,
            "git_commit": git_commit(),
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "machine": machine(),
        }
        if system == "single-process":
            single = row
        elif single is not None:
            base = single["scores"]["throughput"]
            row["scores"]["overhead_percent"] = round(100 * (base - throughput) / base, 1)
        logger.info("%s: %s", system, row["scores"])
        res.data["rows"] = [r for r in res.data["rows"] if r["system"] != row["system"]] + [row]
        res.save()


if __name__ == "__main__":
    main()
