"""Reliability benchmark: how stage2 holds up against hostile clients, killed training and bad input.

Three rows in ``evaluation/results/reliability.json`` (each can be run alone with ``--parts``):

- ``soak``: ``stage2 serve`` (the shipped NER and summariser exports, default limits) under N concurrent
  clients for ``--seconds``: valid NER and summarisation requests (answers checked against the runtime in
  this process: a different answer is *wrong*, no answer is *lost*), with run-time labels, invalid JSON,
  deeply nested JSON, oversize bodies, too many labels, maximal legal requests (64 texts of 1,400
  characters), and slowloris clients that trickle their headers (time until the server drops them).
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
import asyncio
import json
import logging
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import ROOT, ResultsFile, git_commit, machine

logger = logging.getLogger("reliability_benchmark")
STAGE2 = [sys.executable, "-m", "stage2.cli"]
SENTENCES = [
    "Angela Merkel met Emmanuel Macron in Paris on Tuesday.",
    "Microsoft opened a new office in Nairobi, Kenya.",
    "The United Nations said Antonio Guterres would visit Geneva.",
    "Lionel Messi scored twice for Inter Miami against Orlando City.",
    "Shares of Toyota rose 3% in Tokyo after the results.",
    "the mayor of chicago spoke to reporters on monday.",
]
DOC = (
    "The council met on Monday to discuss the budget. It approved new spending on schools. "
    "Critics said the plan was too expensive. The mayor defended the decision. A vote on taxes is due next month."
)


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
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def _http(port: int, body: bytes, path: str = "/ner", timeout: float = 120.0) -> tuple[int, bytes]:
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
    try:
        head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        writer.write(head.encode() + b"Connection: close\r\n\r\n")
        try:
            writer.write(body)
            await writer.drain()
        except ConnectionError:
            pass  # the server answered (413) and closed before the whole body was sent: read that answer
        raw = await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()
    status = int(raw.split(b" ", 2)[1]) if raw.startswith(b"HTTP/") else 0
    return status, raw.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in raw else b""


async def _slowloris(port: int) -> float:
    """Seconds until the server drops a client that sends one header byte every 2 s."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.perf_counter()
    try:
        for ch in b"POST /ner HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100:
            writer.write(bytes([ch]))
            await writer.drain()
            try:
                if await asyncio.wait_for(reader.read(1), 2.0) == b"":
                    break
            except TimeoutError:
                continue
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()
    return time.perf_counter() - started


async def _soak(port: int, clients: int, seconds: float, expected: dict[str, Any]) -> dict[str, Any]:
    codes: dict[str, int] = {}
    small_ms: list[float] = []
    drops: list[float] = []
    counts = {"requests": 0, "wrong": 0, "lost": 0}
    deadline = time.perf_counter() + seconds
    big = json.dumps({"texts": [" ".join(SENTENCES * 4)[:1400]] * 64}).encode()
    labels_body = {"text": SENTENCES[0], "labels": ["person", "city", "company"]}
    kinds = ["ner"] * 10 + ["labels"] * 3 + ["summary"] * 2 + ["bad_json", "nested", "oversize", "many_labels", "big"]

    async def one(kind: str) -> None:
        i = random.randrange(len(SENTENCES))
        body: bytes
        path = "/ner"
        if kind == "ner":
            body = json.dumps({"text": SENTENCES[i]}).encode()
        elif kind == "labels":
            body = json.dumps(labels_body).encode()
        elif kind == "summary":
            body, path = json.dumps({"document": DOC, "max_sentences": 2}).encode(), "/summarize"
        elif kind == "bad_json":
            body = b'{"text": "unterminated'
        elif kind == "nested":
            body = b"[" * 50_000 + b"]" * 50_000
        elif kind == "oversize":
            body = json.dumps({"text": "x" * 1_200_000}).encode()
        elif kind == "many_labels":
            body = json.dumps({"text": "a", "labels": [f"type {n}" for n in range(5000)]}).encode()
        else:
            body = big
        started = time.perf_counter()
        counts["requests"] += 1
        try:
            status, payload = await _http(port, body, path)
        except (TimeoutError, ConnectionError, OSError):
            if kind in ("ner", "labels", "summary", "big"):
                counts["lost"] += 1  # a legal request without an answer
            else:  # refused by closing the connection (an oversize body is not read: the 413 is reset away)
                codes["reset"] = codes.get("reset", 0) + 1
            return
        codes[str(status)] = codes.get(str(status), 0) + 1
        if kind in ("ner", "labels", "summary"):
            if status != 200:
                counts["wrong"] += 1
                return
            got = json.loads(payload)
            want = {
                "ner": {"entities": expected["ner"][i]},
                "labels": {"entities": expected["labels"]},
                "summary": expected["summary"],
            }[kind]
            counts["wrong"] += int(got != want)
            if kind == "ner":
                small_ms.append((time.perf_counter() - started) * 1000)

    async def client(n: int) -> None:
        rng = random.Random(n)
        while time.perf_counter() < deadline:
            if n == 0 and rng.random() < 0.05:
                drops.append(await _slowloris(port))
                continue
            await one(rng.choice(kinds))

    await asyncio.gather(*(client(n) for n in range(clients)))
    small_ms.sort()
    return {
        **counts,
        "clients": clients,
        "status_codes": dict(sorted(codes.items())),
        "small_p50_ms": round(statistics.median(small_ms), 1) if small_ms else None,
        "small_p99_ms": round(small_ms[int(0.99 * (len(small_ms) - 1))], 1) if small_ms else None,
        "slow_clients": len(drops),
        "slow_client_dropped_after_s_max": round(max(drops), 1) if drops else None,
    }


def run_soak(res: ReliabilityResults, args: argparse.Namespace) -> None:
    import stage2.runtime as rt

    ner, summarizer = ROOT / "exports" / "ner-default", ROOT / "exports" / "summarizer-default"
    runtime = rt.load(ner)
    expected = {
        "ner": [runtime.predict(s) for s in SENTENCES],
        "labels": runtime.predict(SENTENCES[0], labels=["person", "city", "company"]),
        "summary": rt.load(summarizer).summarize(DOC, max_sentences=2),
    }
    port = _free_port()
    cmd = [*STAGE2, "serve", "--model", str(ner), "--model", str(summarizer), "--port", str(port)]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started = time.perf_counter()
    try:
        for _ in range(600):
            try:
                socket.create_connection(("127.0.0.1", port), 0.5).close()
                break
            except OSError:
                time.sleep(0.2)
        scores = asyncio.run(_soak(port, args.clients, args.seconds, expected))
        scores["peak_rss_mb"] = round(_peak_rss_mb(server.pid), 1)
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(60)
    notes = (
        f"stage2 serve with default limits (header timeout 10 s, body 30 s, 50 labels, 1 MB), {args.clients} clients "
        f"for {args.seconds:.0f} s over loopback; mix per 19 requests: 10 NER, 3 NER with run-time labels, 2 "
        "summaries (all checked against the runtime in-process), invalid JSON, JSON nested 50,000 deep, a 1.2 MB body, "
        "5,000 labels and one maximal legal request (64 texts of 1,400 characters); client 0 is sometimes a "
        "slowloris (one header byte per 2 s). p50/p99: plain NER requests while the rest run."
    )
    res.put("soak", scores, time.perf_counter() - started, notes)
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
def _bad_input_cases(tmp: Path) -> list[tuple[str, list[str], bytes | None]]:
    export = ROOT / "exports" / "ner-default"
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
    ner = [*STAGE2, "ner", "predict", "--model", str(export)]
    return [
        *[(f"--labels file {n}", [*ner, "Ada", "--labels", str(tmp / n)], None) for n in list(files)[:6]],
        ("--labels path missing", [*ner, "Ada", "--labels", str(tmp / "missing.json")], None),
        ("--labels is a folder", [*ner, "Ada", "--labels", str(tmp)], None),
        ("51 labels", [*ner, "Ada", "--labels", ",".join(f"t{i}" for i in range(51))], None),
        ("folder that is no model", [*STAGE2, "ner", "predict", "--model", str(tmp / "not-a-model"), "Ada"], None),
        ("typo'd model name", [*STAGE2, "ner", "predict", "--model", "ner-defualt", "Ada"], None),
        *[
            (f"corrupt {p}", [*STAGE2, "ner", "predict", "--model", str(tmp / f"broken-{p}"), "Ada"], None)
            for p in ("stage2_export.json", "model.onnx", "tokenizer.json")
        ],
        ("non-UTF-8 stdin", [*STAGE2, "ner", "predict", "--model", str(export)], b"Zo\xeb met Bob.\n"),
        (
            "non-UTF-8 data file",
            [*STAGE2, "ner", "evaluate", "--model", str(export), "--data", str(tmp / "latin1.conll")],
            None,
        ),
        (
            "bad JSON line",
            [*STAGE2, "ner", "evaluate", "--model", str(export), "--data", str(tmp / "badline.jsonl")],
            None,
        ),
        (
            "empty data file",
            [*STAGE2, "ner", "evaluate", "--model", str(export), "--data", str(tmp / "empty.jsonl")],
            None,
        ),
        (
            "label names differ from the model's",
            [*STAGE2, "ner", "evaluate", "--model", str(export), "--data", str(tmp / "mismatch.jsonl")],
            None,
        ),
        (
            "package a symlink to /etc/passwd",
            [*STAGE2, "package", str(linked), "--name", "x", "--version", "1.0"],
            None,
        ),
        ("summarize --max-sentences 0", [*STAGE2, "summarize", "predict", "--max-sentences", "0", "A b. C d."], None),
        (
            "train on a bad JSON line",
            [*STAGE2, "ner", "train", "--train", str(tmp / "badline.jsonl"), "--out", str(tmp / "o")],
            None,
        ),
        (
            "train with --max-steps -1",
            [
                *STAGE2,
                "ner",
                "train",
                "--train",
                str(tmp / "mismatch.jsonl"),
                "--out",
                str(tmp / "o"),
                "--max-steps",
                "-1",
            ],
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
    parser.add_argument("--clients", type=int, default=32, help="soak: concurrent clients")
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
