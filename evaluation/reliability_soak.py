"""The soak part of the reliability benchmark (``reliability_benchmark.py --parts soak``): ``stage2 serve``
with the shipped NER and summariser exports and default limits, under concurrent clients that send valid,
hostile and maximal requests and slowloris headers; every valid answer checked against the runtime in this
process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import ROOT

logger = logging.getLogger("reliability_benchmark")
STAGE2 = [sys.executable, "-m", "stage2.cli"]
"""The stage2 CLI as a subprocess (every part of the benchmark runs it)."""
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


BIG_TEXT = " ".join(SENTENCES * 2000)[:100_000]
"""A maximal legal NER text and summarisation document (the service's 100,000-character limit)."""
HALF_OPEN_HEAD = b"POST /ner HTTP/1.1\r\n"
"""All a half-open client ever sends."""
LEGAL = ("ner", "labels", "summary", "big", "big_text", "big_summary")
"""The request kinds that must be answered."""


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


def _soak_request(kind: str, i: int, big: bytes) -> tuple[bytes, str]:
    """Body and path of one soak request of ``kind`` (``i``: the sentence of a plain NER request)."""
    if kind == "ner":
        return json.dumps({"text": SENTENCES[i]}).encode(), "/ner"
    if kind == "labels":
        return json.dumps({"text": SENTENCES[0], "labels": ["person", "city", "company"]}).encode(), "/ner"
    if kind == "summary":
        return json.dumps({"document": DOC, "max_sentences": 2}).encode(), "/summarize"
    if kind == "bad_json":
        return b'{"text": "unterminated', "/ner"
    if kind == "nested":
        return b"[" * 50_000 + b"]" * 50_000, "/ner"
    if kind == "oversize":
        return json.dumps({"text": "x" * 1_200_000}).encode(), "/ner"
    if kind == "many_labels":
        return json.dumps({"text": "a", "labels": [f"type {n}" for n in range(5000)]}).encode(), "/ner"
    if kind == "big_text":
        return json.dumps({"text": BIG_TEXT}).encode(), "/ner"
    if kind == "big_summary":
        return json.dumps({"document": BIG_TEXT, "max_sentences": 3}).encode(), "/summarize"
    return big, "/ner"


def _address(n: int) -> str:
    """The loopback address half-open client ``n`` connects from (127.0.1.1 onwards, one per client)."""
    return f"127.0.{1 + n // 250}.{1 + n % 250}"


async def _half_open(port: int, n: int, deadline: float, tally: _Tally) -> None:
    """A client that connects from its own address, sends a request line and nothing more, and reconnects
    1 s after the server drops it, until ``deadline``."""
    while time.perf_counter() < deadline:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", port, local_addr=(_address(n), 0)), 10.0
            )
        except (TimeoutError, OSError):
            tally.half_open["refused"] += 1
            await asyncio.sleep(1.0)
            continue
        tally.half_open["connects"] += 1
        tally.open_now += 1
        try:
            writer.write(HALF_OPEN_HEAD)
            await writer.drain()
            await asyncio.wait_for(reader.read(), max(0.1, deadline - time.perf_counter()))
            tally.half_open["dropped"] += 1
        except TimeoutError:
            pass  # still held when the soak ends
        except (ConnectionError, OSError):
            tally.half_open["dropped"] += 1
        finally:
            tally.open_now -= 1
            writer.close()
        await asyncio.sleep(1.0)


async def _count_open(deadline: float, tally: _Tally) -> None:
    """Sample, once a second, how many half-open connections the clients hold open."""
    while time.perf_counter() < deadline:
        tally.open_samples.append(tally.open_now)
        await asyncio.sleep(1.0)


@dataclass
class _Tally:
    """What the soak's clients saw (they share one event loop: no locks)."""

    codes: dict[str, int] = field(default_factory=dict)
    small_ms: list[float] = field(default_factory=list)
    drops: list[float] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: {"requests": 0, "wrong": 0, "lost": 0})
    half_open: dict[str, int] = field(default_factory=lambda: {"connects": 0, "dropped": 0, "refused": 0})
    open_now: int = 0
    open_samples: list[int] = field(default_factory=list)

    def unanswered(self, kind: str) -> None:
        """A request without an answer: lost if it was legal, else refused by closing the connection."""
        if kind in LEGAL:
            self.counts["lost"] += 1  # a legal request without an answer
        else:  # refused by closing the connection (an oversize body is not read: the 413 is reset away)
            self.codes["reset"] = self.codes.get("reset", 0) + 1

    def answered(
        self, kind: str, i: int, status: int, payload: bytes, started: float, expected: dict[str, Any]
    ) -> None:
        """Count the status; a valid request's answer must equal ``expected`` (plain NER: its latency kept).
        A maximal request may instead get a deliberate 503 (its compute deadline) or 429 (its lane full)."""
        self.codes[str(status)] = self.codes.get(str(status), 0) + 1
        if kind not in ("ner", "labels", "summary", "big_text", "big_summary"):
            return
        if status != 200:
            logger.debug("%s answered %d: %r", kind, status, payload[:100])
            self.counts["wrong"] += int(not (kind.startswith("big") and status in (429, 503)))
            return
        got = json.loads(payload)
        want = {
            "ner": {"entities": expected["ner"][i]},
            "labels": {"entities": expected["labels"]},
            "summary": expected["summary"],
            "big_text": {"entities": expected["big_text"]},
            "big_summary": expected["big_summary"],
        }[kind]
        self.counts["wrong"] += int(got != want)
        if kind == "ner":
            self.small_ms.append((time.perf_counter() - started) * 1000)

    def scores(self, clients: int) -> dict[str, Any]:
        """The soak row's scores."""
        small_ms, drops = self.small_ms, self.drops
        small_ms.sort()
        return {
            **self.counts,
            "clients": clients,
            "status_codes": dict(sorted(self.codes.items())),
            "small_p50_ms": round(statistics.median(small_ms), 1) if small_ms else None,
            "small_p99_ms": round(small_ms[int(0.99 * (len(small_ms) - 1))], 1) if small_ms else None,
            "slow_clients": len(drops),
            "slow_client_dropped_after_s_max": round(max(drops), 1) if drops else None,
            **({"half_open_" + k: v for k, v in self.half_open.items()} if self.open_samples else {}),
            **(
                {
                    "half_open_held_mean": round(statistics.mean(self.open_samples)),
                    "half_open_held_max": max(self.open_samples),
                }
                if self.open_samples
                else {}
            ),
        }


async def _soak(
    port: int, clients: int, seconds: float, expected: dict[str, Any], half_open: int = 0
) -> dict[str, Any]:
    """``clients`` concurrent clients for ``seconds``, each sending a random mix of requests (client 0 is
    sometimes a slowloris), beside ``half_open`` half-open clients from as many addresses; what they saw."""
    tally = _Tally()
    deadline = time.perf_counter() + seconds
    big = json.dumps({"texts": [" ".join(SENTENCES * 4)[:1400]] * 64}).encode()
    kinds = ["ner"] * 10 + ["labels"] * 3 + ["summary"] * 2 + ["bad_json", "nested", "oversize", "many_labels", "big"]
    kinds += ["big_text", "big_summary"]

    async def one(kind: str) -> None:
        i = random.randrange(len(SENTENCES))
        body, path = _soak_request(kind, i, big)
        started = time.perf_counter()
        tally.counts["requests"] += 1
        try:
            status, payload = await _http(port, body, path)
        except (TimeoutError, ConnectionError, OSError) as e:
            logger.debug("%s unanswered after %.2f s: %r", kind, time.perf_counter() - started, e)
            tally.unanswered(kind)
            return
        tally.answered(kind, i, status, payload, started, expected)

    async def client(n: int) -> None:
        rng = random.Random(n)
        while time.perf_counter() < deadline:
            if n == 0 and rng.random() < 0.05:
                tally.drops.append(await _slowloris(port))
                continue
            await one(rng.choice(kinds))

    attackers = [_half_open(port, n, deadline, tally) for n in range(half_open)]
    sampler = [_count_open(deadline, tally)] if half_open else []
    await asyncio.gather(*(client(n) for n in range(clients)), *attackers, *sampler)
    return {**tally.scores(clients), **({"half_open_clients": half_open} if half_open else {})}


def soak(args: argparse.Namespace) -> tuple[dict[str, Any], float, str]:
    """The soak: its scores, wall seconds and notes."""
    import stage2.runtime as rt

    ner, summarizer = ROOT / "exports" / "ner-default", ROOT / "exports" / "summarizer-default"
    runtime, summaries = rt.load(ner), rt.load(summarizer)
    expected = {
        "ner": [runtime.predict(s) for s in SENTENCES],
        "labels": runtime.predict(SENTENCES[0], labels=["person", "city", "company"]),
        "summary": summaries.summarize(DOC, max_sentences=2),
        "big_text": runtime.predict(BIG_TEXT),
        "big_summary": summaries.summarize(BIG_TEXT, max_sentences=3),
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
        scores = asyncio.run(_soak(port, args.clients, args.seconds, expected, args.half_open))
        scores["peak_rss_mb"] = round(_peak_rss_mb(server.pid), 1)
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(60)
    notes = (
        f"stage2 serve with default limits (header timeout 10 s, body 30 s, 50 labels, 1 MB), {args.clients} clients "
        f"for {args.seconds:.0f} s over loopback; mix per 21 requests: 10 NER, 3 NER with run-time labels, 2 "
        "summaries, invalid JSON, JSON nested 50,000 deep, a 1.2 MB body, 5,000 labels and three maximal legal "
        "requests (64 texts of 1,400 characters; one NER text and one document of 100,000 characters: answers "
        "checked against the runtime in-process like the small ones, a deliberate 503 at the compute deadline or "
        "429 from a full lane allowed); client 0 is sometimes a slowloris (one header byte per 2 s). "
        + (
            f"{args.half_open} half-open clients beside them, each from its own loopback address, send only a "
            "request line and reconnect 1 s after being dropped (held: connections open on the clients' side, "
            "sampled each second). "
            if args.half_open
            else "No half-open clients (the flood's cost, against the soak row). "
        )
        + "p50/p99: plain NER requests while the rest run."
    )
    return scores, time.perf_counter() - started, notes
