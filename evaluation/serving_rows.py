"""Timing and the results rows shared by the serving benchmark's parts (``serving_benchmark.py`` and
``serving_http.py``): latency percentiles, timed batches, and the rows of ``evaluation/results/serving.json``,
one per (system, setting, batch size).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from common import ResultsFile, git_commit, machine


def percentiles(latencies: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99 of ``latencies`` (seconds) in milliseconds."""
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
    """Replace the row of the same (system, setting, batch size) with ``row``, stamped, and save."""
    key = (row["system"], row["setting"], row["scores"]["batch_size"])
    res.data["rows"] = [
        r for r in res.data["rows"] if (r["system"], r["setting"], r["scores"].get("batch_size")) != key
    ]
    row.update({"command": " ".join(["python", *sys.argv]), "git_commit": git_commit(), "machine": machine()})
    res.data["rows"].append(row)
    res.data["rows"].sort(key=lambda r: (r["setting"], r["system"], r["scores"].get("batch_size", 0)))
    res.save()


def done(res: ResultsFile, system: str, setting: str, batch_size: int) -> bool:
    """Whether ``res`` holds the row of (system, setting, batch size)."""
    return any(
        (r["system"], r["setting"], r["scores"].get("batch_size")) == (system, setting, batch_size)
        for r in res.data["rows"]
    )
