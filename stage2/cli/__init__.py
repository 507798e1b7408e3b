"""Command line: ``stage2 ner|summarize train|predict|evaluate``, ``stage2 export``, ``stage2 package``,
``stage2 serve``; ``stage2 ner "text"`` tags with the shipped default model. Argument parsing only;
the work is in the library. One module per command group: :mod:`stage2.cli.ner`,
:mod:`stage2.cli.summarize`, :mod:`stage2.cli.tools`; shared options in :mod:`stage2.cli.common`.
"""

from __future__ import annotations

import argparse
import logging
import sys

from stage2.cli import ner, summarize, tools
from stage2.cli.common import parse_labels

__all__ = ["build_parser", "main", "parse_labels"]

_COMMANDS = {"ner": {"train", "predict", "evaluate"}, "summarize": {"train", "predict", "evaluate"}}
_TRAINING_MODULES = ("torch", "transformers", "safetensors", "seqeval", "rouge_score", "onnx")


def build_parser() -> argparse.ArgumentParser:
    """The ``stage2`` argument parser."""
    from stage2._version import __version__

    parser = argparse.ArgumentParser(
        prog="stage2", description="Small task-specialised encoders for NER and summarisation."
    )
    parser.add_argument("--version", action="version", version=f"stage2 {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    tasks = parser.add_subparsers(dest="task", required=True)
    ner.add_commands(tasks)
    summarize.add_commands(tasks)
    tools.add_commands(tasks)
    return parser


def _shorthand(argv: list[str]) -> list[str]:
    """``stage2 ner TEXT...`` and ``stage2 summarize TEXT...`` mean ``... predict TEXT...``; so does a
    bare ``stage2 ner`` whose stdin is a pipe or file (``cat notes.txt | stage2 summarize``)."""
    for i, arg in enumerate(argv):
        if arg in _COMMANDS:
            rest = argv[i + 1 :]
            if rest and rest[0] not in _COMMANDS[arg] and rest[0] not in ("-h", "--help"):
                return [*argv[: i + 1], "predict", *rest]
            if not rest and not _interactive_stdin():
                return [*argv, "predict"]
            return argv
        if not arg.startswith("-"):
            return argv
    return argv


def _interactive_stdin() -> bool:
    try:
        return sys.stdin is None or sys.stdin.isatty()
    except (AttributeError, ValueError):  # replaced or closed stdin
        return True


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``stage2`` console script."""
    args = build_parser().parse_args(_shorthand(list(sys.argv[1:] if argv is None else argv)))
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    from stage2.io import DataError

    torch = sys.modules.get("torch")  # train commands set its threads: put them back for an in-process caller
    threads = torch.get_num_threads() if torch is not None else None
    try:
        return int(args.func(args))
    except ModuleNotFoundError as err:
        if err.name in _TRAINING_MODULES:
            print(f"error: this command needs {err.name}: pip install 'stage2[train]'", file=sys.stderr)
            return 2
        if err.name in ("starlette", "uvicorn"):
            print(f"error: stage2 serve needs {err.name}: pip install 'stage2[serve]'", file=sys.stderr)
            return 2
        if err.name == "rich":
            print("error: --format pretty needs rich: pip install rich", file=sys.stderr)
            return 2
        raise
    except (DataError, OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:
        print(f"interrupted: {err}" if str(err) else "interrupted", file=sys.stderr)
        return 130
    finally:
        if torch is not None and threads is not None:
            torch.set_num_threads(threads)
