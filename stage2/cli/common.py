"""What the ``stage2`` commands share: ``--labels`` parsing, the default model names, the training
and budget options, and reading texts from arguments, files or stdin."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

DEFAULT_NER = "ner-default"
DEFAULT_ZERO_SHOT = "ner-zero"
DEFAULT_SUMMARIZER = "summarizer-default"
JSON_SUFFIXES = (".jsonl", ".json", ".jsonl.gz", ".json.gz")
LABELS_HELP = (
    "entity types: a JSON file or string ({'PER': {'name': 'person', 'description': '...'}} or "
    "{'person': 'a human being'}), or comma-separated names"
)


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    if dupes:
        raise ValueError(f"duplicated key(s) {dupes}")
    return dict(pairs)


def _labels_text(value: str) -> tuple[str, str | None]:
    """``(where, JSON text)`` of a ``--labels`` value; no JSON text means comma-separated names."""
    # os.path.isfile, not Path.is_file: a long JSON string is no valid file name and must not raise OSError.
    if os.path.isfile(value):
        try:
            return value, Path(value).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"{value}: --labels file is not UTF-8 text") from None
    if os.path.isdir(value):
        raise ValueError(f"{value}: --labels is a folder; expected a JSON file, JSON or comma-separated names")
    if value.lstrip().startswith(("{", "[")):
        return "--labels", value
    if value.endswith(".json") or os.sep in value:
        raise ValueError(f"{value}: --labels file not found (or give names: --labels person,city)")
    return "--labels", None


def parse_labels(value: str | None) -> Any:
    """``--labels`` as a JSON file, a JSON string, or comma-separated names, read into a
    :class:`~stage2.labels.LabelSet` by the library's one label grammar (:meth:`LabelSet.from_user`:
    names, or an object mapping each key to a description or to ``{"name": ..., "description": ...}``).
    Anything else raises a ValueError that names the input.

    >>> parse_labels("person, location").keys
    ['person', 'location']
    """
    if value is None:
        return None
    from stage2.labels import LabelSet

    where, text = _labels_text(value)
    if text is None:
        try:
            return LabelSet.from_names(value)
        except ValueError as err:
            raise ValueError(f"--{err}") from None
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as err:
        raise ValueError(f"{where}: not valid JSON ({err.msg}, line {err.lineno})") from None
    except RecursionError:
        raise ValueError(f"{where}: JSON nested too deeply") from None
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from None
    expected = 'a list of names or an object {"name": "description" or {"name": ..., "description": ...}}'
    if not isinstance(data, list | dict) or not data:
        raise ValueError(f"{where}: expected {expected}; got {json.dumps(data)[:80]}")
    try:
        return LabelSet.from_user(data)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{where}: {err}; expected {expected}") from None


def read_records(path: str, field: str) -> list[str]:
    """The ``field`` strings of a JSON-lines file; a bad line raises a ValueError naming file and line."""
    return [str(r[field]) for r in read_objects(path, field)]


def read_objects(path: str, field: str, optional: Sequence[str] = ()) -> list[dict[str, Any]]:
    """The objects of a JSON-lines file, each with a ``field`` string; the ``optional`` fields, when
    present, must be strings or null. A bad line raises a ValueError naming file, line and field."""
    from stage2.io import open_text

    out = []
    for lineno, line in enumerate(open_text(Path(path)), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}, line {lineno}: not valid JSON ({err.msg})") from None
        if not isinstance(record, dict) or not isinstance(record.get(field), str):
            raise ValueError(f"{path}, line {lineno}: expected an object with a {field!r} string")
        for name in optional:
            if not isinstance(record.get(name), (str, type(None))):
                raise ValueError(f"{path}, line {lineno}: {name!r} must be a string or null")
        out.append(record)
    return out


def read_lines(path: str | None) -> Iterable[str]:
    """Lines of a text file (``.gz`` ok), or of stdin for None or ``-``, without their newlines."""
    from stage2.io import open_text

    lines = open_text(Path(path)) if path and path != "-" else sys.stdin
    return (line.rstrip("\n") for line in lines)


def add_training_args(p: argparse.ArgumentParser, min_steps: int, batch_size: int, batch_help: str, lr: float) -> None:
    """The options every ``train`` command shares (output, schedule, learning rates, seed, resume)."""
    p.add_argument(
        "--out",
        required=True,
        help="output folder (checkpoints in OUT/work; a rerun resumes): new, empty, or a stage2 model or run; "
        "a folder of other files needs --overwrite",
    )
    p.add_argument(
        "--overwrite", action="store_true", help="write the model into --out even though it holds other files"
    )
    p.add_argument("--epochs", type=float, default=3.0, help="passes over the data (default 3)")
    p.add_argument("--min-steps", type=int, default=min_steps, help=f"at least this many steps (default {min_steps})")
    p.add_argument("--max-steps", type=int, default=None, help="at most this many steps")
    p.add_argument("--batch-size", type=int, default=batch_size, help=f"{batch_help} (default {batch_size})")
    p.add_argument("--lr", type=float, default=lr, help=f"encoder learning rate (default {lr:g})")
    p.add_argument("--head-lr", type=float, default=1e-3, help="learning rate of the head (default 1e-3)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--no-resume", action="store_true", help="start afresh even if OUT/work holds a checkpoint")
    p.add_argument(
        "--save-every",
        type=int,
        default=100,
        help="checkpoint OUT/work every N steps (default 100; 0: only at dev evaluations and the end), so an "
        "interrupted run resumes when rerun; Ctrl-C and SIGTERM also checkpoint the step they stop at",
    )
    p.add_argument(
        "--save-every-seconds",
        type=float,
        default=300.0,
        help="also checkpoint when this many seconds have passed since the last checkpoint (default 300; 0: off)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads (default: the cores this process may use that the load average leaves idle, at least "
        "1: never more threads than free cores)",
    )


def prepare_output(out: str, overwrite: bool) -> None:
    """Check a ``train`` command's ``--out`` before any work: a folder of files that are not a
    stage2 model or run (``stage2_config.json``, ``work/``) is refused without ``overwrite``, and a path
    that cannot be a folder fails now rather than after training."""
    from stage2.registry import TORCH_CONFIG

    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"--out {out}: exists and is not a folder")
    ours = (folder / TORCH_CONFIG).is_file() or (folder / "work").is_dir()
    if folder.is_dir() and any(folder.iterdir()) and not ours and not overwrite:
        raise ValueError(
            f"--out {out}: holds files that are not a stage2 model or training run; the model's files "
            "(README.md among them) would replace any of the same name: choose a new folder or pass --overwrite"
        )
    existing = folder.absolute()
    while not existing.exists():  # created only once there is a model to write: a failed run leaves nothing
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK):
        raise ValueError(f"--out {out}: cannot be created ({existing} is not a writable folder)")


def training_config(args: argparse.Namespace) -> Any:
    """The TrainingConfig of the shared ``train`` flags; checkpoints go to OUT/work."""
    from stage2.loop import TrainingConfig

    return TrainingConfig(
        epochs=args.epochs,
        min_steps=args.min_steps,
        max_steps=args.max_steps,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        head_learning_rate=args.head_lr,
        seed=args.seed,
        output_dir=str(Path(args.out) / "work"),
        save_every=args.save_every,
        save_every_seconds=args.save_every_seconds,
        resume=not args.no_resume,
    )


def free_cores() -> int:
    """Cores this process may run on (affinity, and a cgroup CPU quota when there is one) less those the
    1-minute load average says are busy; at least 1."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, int(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    busy = int(os.getloadavg()[0]) if hasattr(os, "getloadavg") else 0
    return max(1, cores - busy)


def set_training_threads(threads: int | None) -> int:
    """Set torch's thread count for a ``train`` command (``threads``, or :func:`free_cores`); returns it.
    Oversubscribed threads made a few-shot step 5-10x slower on a busy 2-core machine."""
    import torch

    count = threads if threads is not None else free_cores()
    if count < 1:
        raise ValueError(f"--threads must be >= 1, got {count}")
    torch.set_num_threads(count)
    logging.getLogger(__name__).info("training on %d torch thread(s)", count)
    return count


def add_budget(p: argparse.ArgumentParser) -> None:
    """The summary-length options (one of sentences, words, ratio)."""
    g = p.add_mutually_exclusive_group()
    g.add_argument("--max-sentences", type=int, help="summary length in sentences (default 3)")
    g.add_argument("--max-words", type=int, help="summary length in words")
    g.add_argument("--ratio", type=float, help="summary length as a share of the document's words")


def budget(args: argparse.Namespace) -> dict[str, Any]:
    """The summary-length options that were given, as ``summarize`` keyword arguments."""
    given = {"max_sentences": args.max_sentences, "max_words": args.max_words, "ratio": args.ratio}
    return {k: v for k, v in given.items() if v is not None}


def print_json(record: Any, indent: int | None = None) -> None:
    """One JSON document on stdout (non-ASCII kept)."""
    print(json.dumps(record, ensure_ascii=False, indent=indent))
