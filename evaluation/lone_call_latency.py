"""One-sentence latency of the int8 NER exports with a lone call kept on one core (as before) or spread over
every core (``RuntimeModel.spread_lone_calls``, now the default): the two settings alternate in one process
for ``--rounds`` rounds over the first ``--single`` CoNLL-2003 test sentences, one sentence a call, and the
answers of the two are compared sentence by sentence.

    python evaluation/lone_call_latency.py --rounds 5
    python evaluation/lone_call_latency.py --rounds 5 --hide-avx512     # on the AVX2 kernels (hide_isa.py)

Rows ``<export> one-core`` and ``<export> all-cores`` (p50/p95/mean ms, and whether every answer was the same)
in evaluation/results/lone_call_latency.json, per machine kind.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from typing import Any

import hide_isa
from common import DATA, ResultsFile, git_commit, machine, put_machine_row
from serving_rows import percentiles

logger = logging.getLogger("lone_call_latency")

SETTINGS = {"one-core": False, "all-cores": True}
DEFAULT_EXPORTS = ["ner-fast=exports/ner-fast", "ner-default=exports/ner-default"]


def measure(path: str, words: list[list[str]], rounds: int, threads: int) -> dict[str, dict[str, Any]]:
    """Per setting: every latency (seconds) and the first round's answers."""
    import stage2.runtime as rt

    model = rt.load(path, threads=threads)
    found: dict[str, dict[str, Any]] = {s: {"latencies": [], "answers": None} for s in SETTINGS}
    for spread in SETTINGS.values():  # warm-up: the all-cores session opens at its first call
        model.spread_lone_calls = spread
        for w in words[:20]:
            model.predict_words([w], batch_size=1)
    for r in range(rounds):
        for setting, spread in SETTINGS.items():
            model.spread_lone_calls = spread
            answers = []
            for w in words:
                started = time.perf_counter()
                answers.append(model.predict_words([w], batch_size=1)[0])
                found[setting]["latencies"].append(time.perf_counter() - started)
            if found[setting]["answers"] is None:
                found[setting]["answers"] = answers
            logger.info("round %d %s %s: %.2f ms mean", r + 1, path, setting, 1000 * _mean(found[setting]))
    return found


def _mean(found: dict[str, Any]) -> float:
    return sum(found["latencies"]) / len(found["latencies"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--export", action="append", default=[], metavar="NAME=PATH", help="an int8 NER export")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--single", type=int, default=500, help="sentences a round, one a call")
    parser.add_argument("--threads", type=int, default=2, help="cores the export may use")
    parser.add_argument("--hide-avx512", action="store_true", help="run the AVX2 kernels (evaluation/hide_isa.py)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.hide_avx512:
        hide_isa.relaunch(sys.argv)
    from stage2.ner.data import read_jsonl
    from stage2.runtime.cpu import cpu_features, cpu_kind

    words = [e.tokens for e in read_jsonl(DATA / "conll2003" / "test.jsonl.gz")][: args.single]
    features = hide_isa.visible(cpu_features())
    kind = hide_isa.kind(cpu_kind(features))
    res = ResultsFile("lone_call_latency", "serving", "conll2003", "test")
    for spec in args.export or DEFAULT_EXPORTS:
        name, _, path = spec.partition("=")
        if not path:
            raise SystemExit(f"--export {spec!r}: expected NAME=PATH")
        found = measure(path, words, args.rounds, args.threads)
        same = found["one-core"]["answers"] == found["all-cores"]["answers"]
        for setting, runs in found.items():
            row = {
                "system": f"{name} {setting}",
                "setting": setting,
                "k": None,
                "cpu_kind": kind,
                "cpu_features": list(features),
                "scores": {
                    **percentiles(runs["latencies"]),
                    "mean_ms": round(1000 * _mean(runs), 2),
                    "same_answers": same,
                    "sentences": len(words),
                    "rounds": args.rounds,
                    "threads": args.threads,
                },
                "notes": f"{path}; the first {len(words)} CoNLL-2003 test sentences, one a call, nothing else "
                f"running; settings alternate in one process; same_answers: the two settings' entities are "
                "identical on every sentence",
                "command": " ".join(["python", *sys.argv]),
                "git_commit": git_commit(),
                "machine": machine(),
            }
            put_machine_row(res, row)
            logger.info("%s: %s", row["system"], row["scores"])
    res.data["rows"].sort(key=lambda x: (x.get("cpu_kind", ""), x["system"]))
    res.save()


if __name__ == "__main__":
    main()
