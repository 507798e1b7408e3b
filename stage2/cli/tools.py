"""``stage2 export``, ``stage2 package`` and ``stage2 serve``: from a trained model to something that
serves."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from stage2.cli.common import add_budget, budget, parse_labels
from stage2.cli.ner import DATA_HELP as NER_DATA_HELP
from stage2.cli.summarize import DATA_HELP as SUMMARY_DATA_HELP


def cmd_export(args: argparse.Namespace) -> int:
    from stage2.export import export

    report = export(
        args.model,
        args.out,
        quantize=args.quantize,
        dev=args.dev,
        dev_limit=args.dev_limit,
        labels=parse_labels(args.labels),
        budget=budget(args) or {"max_sentences": 3},
        allow_degraded=args.allow_degraded,
        smoothing=None if args.smoothing <= 0 else args.smoothing,
        target_drop=args.target_drop,
        overwrite=args.overwrite,
        embedding_bits=args.embedding_bits,
    )
    if report.get("flagged"):
        print(f"warning: {report['flagged']}", file=sys.stderr)
    print(json.dumps({k: report.get(k) for k in ("task", "quantization", "parity", "metric", "onnx_megabytes")}))
    return 0


def cmd_package(args: argparse.Namespace) -> int:
    from stage2.package import build_wheel

    wheel = build_wheel(
        args.model, args.name, args.version, args.out, args.description, args.follow_symlinks, args.overwrite
    )
    if not args.wheelhouse:
        print(json.dumps({"wheel": str(wheel), "install": f"pip install {wheel}"}))
        return 0
    from stage2.package import build_library_wheel

    library = build_library_wheel(args.out, args.overwrite)
    install = f"pip install --find-links {args.out} {wheel.name.split('-')[0]}"
    print(json.dumps({"wheel": str(wheel), "library": str(library), "install": install}))
    return 0


def _hosts(value: str | None) -> tuple[str, ...] | None:
    """``--allowed-hosts a,b`` as a tuple (None: any host)."""
    hosts = tuple(h.strip() for h in (value or "").split(",") if h.strip())
    return hosts or None


def cmd_serve(args: argparse.Namespace) -> int:
    from stage2.serve import ServeLimits, serve

    token = args.token or os.environ.get("STAGE2_TOKEN") or None
    limits = ServeLimits(
        max_body_bytes=args.max_body_bytes,
        max_items=args.max_items,
        max_chars=args.max_chars,
        max_labels=args.max_labels,
        max_label_chars=args.max_label_chars,
        max_batch=args.max_batch,
        max_wait_ms=args.max_wait_ms,
        large_request_chars=args.large_request_chars,
        header_timeout=args.header_timeout,
        body_timeout=args.body_timeout,
        keep_alive=args.keep_alive,
        max_connections=args.max_connections,
        per_client_connections=args.per_client_connections,
        max_queue=args.max_queue,
        max_seconds=args.max_seconds,
        graceful_seconds=args.graceful_seconds,
        allowed_hosts=_hosts(args.allowed_hosts),
        token=token,
    )
    if args.ray is not None:
        from stage2.serve.ray_serve import serve_on_ray

        serve_on_ray(args.model, args.ray, args.host, args.port, limits, args.replicas, args.max_replicas, args.threads)
        return 0
    serve(args.model, host=args.host, port=args.port, limits=limits)
    return 0


def _add_export(tasks: Any) -> None:
    x = tasks.add_parser(
        "export",
        help="export a model to ONNX Runtime (parity-checked)",
        description="Write the ONNX graph, head weights, tokenizer, config and export_report.json (parity "
        "against torch, the task metric on --dev before and after quantisation).",
    )
    x.add_argument("model", help="saved stage2 NER model or extractive summariser (folder or installed name)")
    x.add_argument("--out", required=True, help="output folder: new, empty, or a previous export with --overwrite")
    x.add_argument(
        "--overwrite",
        action="store_true",
        help="replace --out when it holds a previous stage2 export (never other files)",
    )
    x.add_argument("--quantize", choices=["int8", "fp16"], help="int8: dynamic quantisation (CPU); fp16: GPU")
    x.add_argument("--dev", help=f"labelled dev data for the metric check (NER: {NER_DATA_HELP}; {SUMMARY_DATA_HELP})")
    x.add_argument("--dev-limit", type=int, default=500, help="first N dev examples (default 500)")
    x.add_argument("--labels", help="NER labels for the parity check of a model without labels of its own")
    x.add_argument("--allow-degraded", action="store_true", help="keep an int8 export that costs more than allowed")
    x.add_argument(
        "--smoothing",
        type=float,
        default=0.5,
        metavar="ALPHA",
        help="int8 only: SmoothQuant strength in (0, 1], calibrated on --dev (default 0.5; 0 turns it off)",
    )
    x.add_argument(
        "--target-drop",
        type=float,
        metavar="POINTS",
        help="int8 with --dev: keep the most sensitive matrices in float32 (about 1.7 MB each for MiniLM) "
        "while the dev metric drops by more than this (default: half the refusal limit, 0.25 F1 for NER)",
    )
    x.add_argument(
        "--embedding-bits",
        type=int,
        choices=[8, 4],
        default=8,
        help="int8 only: 4 stores the word-embedding table in 4 bits (about half a small model's bytes), "
        "checked on --dev like the rest",
    )
    add_budget(x)
    x.set_defaults(func=cmd_export)


def _add_package(tasks: Any) -> None:
    k = tasks.add_parser(
        "package",
        help="build a pip-installable wheel of a model or export",
        description="After `pip install` of the wheel, stage2.load(NAME) finds it.",
    )
    k.add_argument("model", help="a saved stage2 model or an export folder")
    k.add_argument("--name", required=True, help="the model's name, e.g. ner-news")
    k.add_argument("--version", required=True, help="package version, e.g. 1.0.0")
    k.add_argument("--out", default="dist", help="where the wheel goes (default dist/)")
    k.add_argument("--description", default="", help="one-line summary for the package metadata")
    k.add_argument(
        "--follow-symlinks",
        action="store_true",
        help="pack the files that symlinks pointing outside the model folder lead to (default: refuse them)",
    )
    k.add_argument("--overwrite", action="store_true", help="replace a wheel of the same name and version")
    k.add_argument(
        "--wheelhouse",
        action="store_true",
        help="also build the stage2 wheel itself into --out, so the folder installs where there is no checkout "
        "(pip install --find-links DIR stage2-model-NAME; its other dependencies come from your index)",
    )
    k.set_defaults(func=cmd_package)


def _add_serve(tasks: Any) -> None:
    """``stage2 serve``; its option groups are added in the order ``--help`` lists them."""
    v = tasks.add_parser(
        "serve",
        help="HTTP JSON service (POST /ner, POST /summarize, GET /health)",
        description="Serve exported models with Starlette/uvicorn; concurrent NER requests are micro-batched.",
    )
    v.add_argument("--model", action="append", required=True, help="export folder or name; repeat for both tasks")
    v.add_argument("--host", default="127.0.0.1")
    v.add_argument("--port", type=int, default=8000)
    _add_serve_request_limits(v)
    _add_serve_connection_limits(v)
    _add_serve_deadlines_and_access(v)
    _add_serve_ray(v)
    v.set_defaults(func=cmd_serve)


def _add_serve_request_limits(parser: argparse.ArgumentParser) -> None:
    """``stage2 serve`` options: request sizes and micro-batching."""
    parser.add_argument("--max-body-bytes", type=int, default=1_000_000, help="larger requests get 413")
    parser.add_argument("--max-batch", type=int, default=32, help="texts per micro-batch")
    parser.add_argument("--max-wait-ms", type=float, default=5.0, help="how long a micro-batch waits to fill")
    parser.add_argument("--max-items", type=int, default=64, help="texts or documents per request (default 64)")
    parser.add_argument(
        "--max-chars", type=int, default=100_000, help="characters per text or document (default 100000)"
    )
    parser.add_argument("--max-labels", type=int, default=50, help="entity types per request (default 50)")
    parser.add_argument("--max-label-chars", type=int, default=200, help="characters per label name or description")
    parser.add_argument(
        "--large-request-chars",
        type=int,
        default=5_000,
        help="NER requests with more characters run in a second lane, so small ones never wait behind them",
    )


def _add_serve_connection_limits(parser: argparse.ArgumentParser) -> None:
    """``stage2 serve`` options: connection timeouts and counts."""
    parser.add_argument(
        "--header-timeout", type=float, default=10.0, help="seconds for a request's headers (then dropped)"
    )
    parser.add_argument("--body-timeout", type=float, default=30.0, help="seconds for a request's body (then 408)")
    parser.add_argument("--keep-alive", type=float, default=5.0, help="seconds an idle keep-alive connection is kept")
    parser.add_argument("--max-connections", type=int, default=256, help="concurrent connections; beyond it 503")
    parser.add_argument(
        "--per-client-connections",
        type=int,
        default=None,
        help="connections one client address may hold; more are closed at once (default: a quarter of "
        "--max-connections), so one client's half-open connections cannot lock everyone out",
    )


def _add_serve_deadlines_and_access(parser: argparse.ArgumentParser) -> None:
    """``stage2 serve`` options: deadlines, shutdown, queues and who may call."""
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=30.0,
        help="a request's compute deadline in seconds: then 503, and its work still queued is dropped (also when "
        "the client disconnects)",
    )
    parser.add_argument(
        "--allowed-hosts",
        default=None,
        help="comma-separated Host header values to serve (e.g. api.example.com,*.example.com); others get 400 "
        "(default: any)",
    )
    parser.add_argument(
        "--graceful-seconds",
        type=float,
        default=30.0,
        help="on SIGTERM or Ctrl-C: seconds queued and running requests get to finish before the rest are cancelled",
    )
    parser.add_argument(
        "--max-queue",
        type=int,
        default=64,
        help="requests waiting in one lane (small or large NER, small or large summaries); beyond it 429 with "
        "Retry-After",
    )
    parser.add_argument(
        "--token",
        default=None,
        help="require 'Authorization: Bearer TOKEN' on POST requests (or set STAGE2_TOKEN; default: no token)",
    )


def _add_serve_ray(parser: argparse.ArgumentParser) -> None:
    """``stage2 serve --ray`` options: a Ray Serve deployment instead of uvicorn."""
    parser.add_argument(
        "--ray",
        nargs="?",
        const="local",
        metavar="ADDRESS",
        help='serve as a Ray Serve deployment (pip install "stage2[ray]"): alone, a local Ray; "auto" or an address '
        "joins a cluster. Request limits as above; connections are handled by Ray Serve's proxy",
    )
    parser.add_argument("--replicas", type=int, default=1, help="--ray: replicas (the minimum with --max-replicas)")
    parser.add_argument("--max-replicas", type=int, default=None, help="--ray: autoscale up to this many replicas")
    parser.add_argument("--threads", type=int, default=1, help="--ray: cores per replica")


def add_commands(tasks: Any) -> None:
    """``stage2 export``, ``stage2 package`` and ``stage2 serve``."""
    _add_export(tasks)
    _add_package(tasks)
    _add_serve(tasks)
