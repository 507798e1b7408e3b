"""Reliability benchmark: how stage2 holds up against hostile clients, killed training and bad input.

Three rows in ``evaluation/results/reliability.json`` (each can be run alone with ``--parts``):

- ``soak``: ``stage2 serve`` (the shipped NER and summariser exports, default limits) under N concurrent
  clients for ``--seconds``: valid NER and summarisation requests (answers checked against the runtime in
  this process: a different answer is *wrong*, no answer is *lost*), with run-time labels, invalid JSON,
  deeply nested JSON, oversize bodies, too many labels, maximal legal requests (64 texts of 1,400
  characters; a 100,000-character NER text and document), slowloris clients that trickle their headers
  (time until the server drops them), and ``--half-open`` clients, each from its own loopback address, that
  send a request line and nothing more and reconnect when dropped.
  Reports requests served, p50/p99 of small valid requests, errors by status code, peak server RSS
  (VmHWM), slow-client drop times.
- ``sigkill``: ``stage2 ner train`` on the bundled few-shot file, killed with SIGKILL at random moments
  ``--kills`` times and rerun each time until it finishes; the final weights are compared with an
  uninterrupted run of the same command (max abs difference; 0 means the same model).
- ``bad-input``: every bad-input case below run through the CLI; how each ended (exit code, one-line
  error or traceback).

    python evaluation/reliability_benchmark.py                          # all parts (about 15 min)
    python evaluation/reliability_benchmark.py --parts soak --seconds 60 --clients 16
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import ROOT, ResultsFile, git_commit, machine
from reliability_soak import STAGE2, soak

logger = logging.getLogger("reliability_benchmark")


class ReliabilityResults(ResultsFile):
    """One row per part, keyed by setting."""

    def __init__(self) -> None:
        super().__init__("reliability", "reliability", "synthetic", "n/a")

    def put(self, setting: str, scores: dict[str, Any], seconds: float, notes: str) -> None:
        rows = [r for r in self.data["rows"] if r["setting"] != setting]
        rows.append(
            {
                "system": "stage2",
                "setting": setting,
                "k": None,
                "seeds": [1],
                "scores": scores,
                "wall_seconds": round(seconds, 1),
                "notes": notes,
                "git_commit": git_commit(),
                "command": " ".join([Path(sys.executable).name, *sys.argv]),
                "machine": machine(),
            }
        )
        self.data["rows"] = rows
        self.save()


# ----------------------------------------------------------------------------------------------- soak
def run_soak(res: ReliabilityResults, args: argparse.Namespace) -> None:
    """The soak row (``reliability_soak.py``); without half-open clients its own row, ``soak-no-flood`` (what the
    flood costs the others)."""
    scores, seconds, notes = soak(args)
    res.put("soak" if args.half_open else "soak-no-flood", scores, seconds, notes)
    logger.info("soak: %s", scores)


# -------------------------------------------------------------------------------------------- sigkill
def _train_cmd(out: Path, steps: int) -> list[str]:
    return [
        *STAGE2,
        "ner",
        "train",
        "--train",
        str(ROOT / "examples" / "ner_fewshot.jsonl"),
        "--out",
        str(out),
        "--min-steps",
        str(steps),
        "--max-steps",
        str(steps),
        "--batch-size",
        "4",
        "--save-every",
        "5",
        "--seed",
        "1",
    ]


def _weights(folder: Path) -> dict[str, Any]:
    from safetensors.numpy import load_file

    return load_file(str(folder / "model.safetensors"))


def run_sigkill(res: ReliabilityResults, args: argparse.Namespace) -> None:
    import numpy as np

    work = Path(tempfile.mkdtemp(prefix="stage2-sigkill-"))
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    started = time.perf_counter()
    straight_started = time.perf_counter()
    subprocess.run(_train_cmd(work / "straight", args.steps), env=env, check=True, capture_output=True)
    straight_seconds = time.perf_counter() - straight_started
    reference = _weights(work / "straight")
    rng = random.Random(1)
    diffs, kills_done, reruns = [], 0, 0
    for run in range(args.kills):
        out = work / f"killed-{run}"
        proc = subprocess.Popen(_train_cmd(out, args.steps), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(0.3, 0.9) * straight_seconds)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills_done += 1
        proc.wait()
        while True:
            reruns += 1
            done = subprocess.run(_train_cmd(out, args.steps), env=env, capture_output=True, text=True)
            if done.returncode == 0:
                break
            if reruns > 5 * args.kills:
                raise SystemExit(f"rerun failed: {done.stderr[-2000:]}")
        got = _weights(out)
        diffs.append(max(float(np.abs(got[k].astype(np.float64) - reference[k]).max()) for k in reference))
    shutil.rmtree(work, ignore_errors=True)
    scores = {
        "kills": kills_done,
        "runs_resumed_to_the_end": len(diffs),
        "max_abs_weight_diff": max(diffs),
        "identical_runs": sum(d == 0.0 for d in diffs),
        "uninterrupted_seconds": round(straight_seconds, 1),
    }
    notes = (
        f"stage2 ner train on examples/ner_fewshot.jsonl from the bundled encoder, {args.steps} steps, checkpoint "
        f"every 5 steps, OMP_NUM_THREADS={args.threads}; each run SIGKILLed at a random moment (30-90% of an "
        "uninterrupted run's time) and rerun with the same command until it finished; weights compared with the "
        "uninterrupted run."
    )
    res.put("sigkill", scores, time.perf_counter() - started, notes)
    logger.info("sigkill: %s", scores)


# ------------------------------------------------------------------------------------------ bad input
def _bad_input_files(tmp: Path, export: Path) -> list[str]:
    """Write the cases' files into ``tmp``: bad files, a folder that is no model, three copies of ``export``
    each with one file corrupted, and one with a symlink to /etc/passwd; the names of the bad --labels files."""
    files = {
        "five.json": b"5",
        "string.json": b'"person"',
        "number-value.json": b'{"person": 5}',
        "ints.json": b"[1, 2]",
        "dupes.json": b'{"person": "a", "person": "b"}',
        "deep.json": b"[" * 100_000,
        "latin1.conll": "Zoë B-PER\n".encode("latin-1"),
        "mismatch.jsonl": json.dumps({"tokens": ["Ada", "left"], "tags": ["B-human", "O"]}).encode() + b"\n",
        "badline.jsonl": b'{"tokens": ["a"], "tags": ["O"]}\n{oops\n',
        "empty.jsonl": b"",
    }
    for name, content in files.items():
        (tmp / name).write_bytes(content)
    (tmp / "not-a-model").mkdir()
    for part in ("stage2_export.json", "model.onnx", "tokenizer.json"):
        broken = tmp / f"broken-{part}"
        shutil.copytree(export, broken)
        (broken / part).write_bytes(b"\x00garbage")
    linked = tmp / "linked-export"
    shutil.copytree(export, linked)
    (linked / "notes.txt").symlink_to("/etc/passwd")
    return list(files)[:6]


def _bad_input_cases(tmp: Path) -> list[tuple[str, list[str], bytes | None]]:
    """Every bad-input case as (name, command, stdin), its files written into ``tmp``."""
    export = ROOT / "exports" / "ner-default"
    label_files = _bad_input_files(tmp, export)
    linked = tmp / "linked-export"
    ner = [*STAGE2, "ner", "predict", "--model", str(export)]
    predict = [*STAGE2, "ner", "predict", "--model"]
    evaluate = [*STAGE2, "ner", "evaluate", "--model", str(export), "--data"]
    train = [*STAGE2, "ner", "train", "--train"]
    return [
        *[(f"--labels file {n}", [*ner, "Ada", "--labels", str(tmp / n)], None) for n in label_files],
        ("--labels path missing", [*ner, "Ada", "--labels", str(tmp / "missing.json")], None),
        ("--labels is a folder", [*ner, "Ada", "--labels", str(tmp)], None),
        ("51 labels", [*ner, "Ada", "--labels", ",".join(f"t{i}" for i in range(51))], None),
        ("folder that is no model", [*predict, str(tmp / "not-a-model"), "Ada"], None),
        ("typo'd model name", [*predict, "ner-defualt", "Ada"], None),
        *[
            (f"corrupt {p}", [*predict, str(tmp / f"broken-{p}"), "Ada"], None)
            for p in ("stage2_export.json", "model.onnx", "tokenizer.json")
        ],
        ("non-UTF-8 stdin", [*ner], b"Zo\xeb met Bob.\n"),
        ("non-UTF-8 data file", [*evaluate, str(tmp / "latin1.conll")], None),
        ("bad JSON line", [*evaluate, str(tmp / "badline.jsonl")], None),
        ("empty data file", [*evaluate, str(tmp / "empty.jsonl")], None),
        ("label names differ from the model's", [*evaluate, str(tmp / "mismatch.jsonl")], None),
        (
            "package a symlink to /etc/passwd",
            [*STAGE2, "package", str(linked), "--name", "x", "--version", "1.0"],
            None,
        ),
        ("summarize --max-sentences 0", [*STAGE2, "summarize", "predict", "--max-sentences", "0", "A b. C d."], None),
        ("train on a bad JSON line", [*train, str(tmp / "badline.jsonl"), "--out", str(tmp / "o")], None),
        (
            "train with --max-steps -1",
            [*train, str(tmp / "mismatch.jsonl"), "--out", str(tmp / "o"), "--max-steps", "-1"],
            None,
        ),
    ]


def run_bad_input(res: ReliabilityResults, args: argparse.Namespace) -> None:
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="stage2-bad-"))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    cases = []
    for name, cmd, stdin in _bad_input_cases(tmp):
        t0 = time.perf_counter()
        done = subprocess.run(cmd, input=stdin or b"", capture_output=True, env=env, cwd=tmp, timeout=300)
        err = done.stderr.decode("utf-8", "replace").strip()
        lines = [ln for ln in err.splitlines() if ln.startswith(("error", "warning", "interrupted", "usage"))]
        cases.append(
            {
                "case": name,
                "exit_code": done.returncode,
                "traceback": "Traceback (most recent call last)" in err,
                "message": (lines[-1] if lines else err.splitlines()[-1] if err else "")[:300],
                "seconds": round(time.perf_counter() - t0, 1),
            }
        )
        logger.info("%s -> %d %s", name, done.returncode, cases[-1]["message"][:100])
    shutil.rmtree(tmp, ignore_errors=True)
    scores = {
        "cases": len(cases),
        "tracebacks": sum(c["traceback"] for c in cases),
        "clean_errors_or_warnings": sum(not c["traceback"] and bool(c["message"]) for c in cases),
        "per_case": cases,
    }
    res.put(
        "bad-input", scores, time.perf_counter() - started, "each case run through the stage2 CLI, HF_HUB_OFFLINE=1"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--parts", nargs="+", choices=["soak", "sigkill", "bad-input"], default=["soak", "sigkill", "bad-input"]
    )
    parser.add_argument("--clients", type=int, default=64, help="soak: concurrent clients")
    parser.add_argument(
        "--half-open", type=int, default=1000, help="soak: half-open clients, each from its own loopback address"
    )
    parser.add_argument("--seconds", type=float, default=600.0, help="soak: duration")
    parser.add_argument("--kills", type=int, default=5, help="sigkill: killed runs")
    parser.add_argument("--steps", type=int, default=60, help="sigkill: training steps per run")
    parser.add_argument("--threads", type=int, default=2, help="sigkill: OMP threads of each training run")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    res = ReliabilityResults()
    for part in args.parts:
        {"soak": run_soak, "sigkill": run_sigkill, "bad-input": run_bad_input}[part](res, args)


if __name__ == "__main__":
    main()
