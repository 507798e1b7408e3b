"""``--ray``: the predict commands as Ray Data jobs over a glob of files (``stage2.distributed``)."""

from __future__ import annotations

import argparse
import json
import logging
from typing import Any

logger = logging.getLogger(__name__)


def add_ray_args(p: argparse.ArgumentParser) -> None:
    """The options of a predict command's Ray mode."""
    p.add_argument(
        "--ray",
        nargs="?",
        const="local",
        metavar="ADDRESS",
        help='run as a Ray Data job (pip install "stage2[ray]"): alone, a local Ray on this machine; "auto" or an '
        "address joins a running cluster. Reads the files --input matches (a glob), writes --output",
    )
    p.add_argument("--output", help="--ray: output folder (JSON lines or Parquet files, one row per input row)")
    p.add_argument("--output-format", choices=["jsonl", "parquet"], default="jsonl", help="--ray: file format")
    p.add_argument("--actors", type=int, default=1, help="--ray: copies of the model (one core each)")
    p.add_argument("--overwrite", action="store_true", help="--ray: replace an earlier job's output in --output")


def run(args: argparse.Namespace, task: str, model: str, **options: Any) -> int:
    """Read ``args.input``, tag (``task`` ner) or summarise it on Ray with ``model``, write ``args.output``."""
    import stage2.distributed as dist

    if not args.input or not args.output:
        raise SystemExit("error: --ray needs --input (a file or glob) and --output (a folder)")
    if getattr(args, "text", None):
        raise SystemExit("error: with --ray, give the texts as --input files, not as arguments")
    dist.check_output(args.output, overwrite=args.overwrite)  # refused before Ray starts; deleted only on writing
    ray = dist._ray()
    started = not ray.is_initialized()  # a caller's running Ray session is used as it is
    if started:
        ray.init(address=args.ray, include_dashboard=False, log_to_driver=False)  # "local": a new local Ray
    try:
        column = "text" if task == "ner" else "document"
        ds = dist.read_files(args.input, column)
        if task == "ner":
            out = dist.predict_dataset(ds, model, text_column=column, actors=args.actors, **options)
        else:
            out = dist.summarize_dataset(ds, model, document_column=column, actors=args.actors, **options)
        dist.write_files(out, args.output, args.output_format, overwrite=args.overwrite)
    finally:
        if started:
            ray.shutdown()
    print(json.dumps({"output": args.output, "format": args.output_format}))
    return 0
