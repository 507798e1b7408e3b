"""Batch inference on Ray Data: tag or summarise a Ray Dataset, or a glob of files, with the
torch-free runtime in a pool of actors (``pip install "stage2[ray]"``).

Each actor loads the export once and answers batches of rows; rows keep every column they had
(ids included) and gain ``entities`` (NER: the runtime's dicts) or ``summary`` and ``sentences``
(summarisation). Ray retries a batch whose actor died and restarts the actor, so no row is lost
or written twice::

    import ray
    from stage2.distributed import predict_dataset

    ds = ray.data.read_json("data/*.jsonl")              # rows with a "text" column
    tagged = predict_dataset(ds, model="ner-default", labels=["person", "company"])
    tagged.write_parquet("out/")

On a cluster every node needs ``stage2[ray]`` and the model installed (an export folder on a shared
path, or ``pip install`` of a model package made by ``stage2 package``); ``ray.init("auto")`` joins it.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from stage2.labels import LabelSet
from stage2.loading import NER_TASKS, SUMMARY_TASKS, load
from stage2.ner.decoding import DEFAULT_THRESHOLD, check_threshold

OUTPUT_FORMATS = ("jsonl", "parquet")
_CRASH_ONCE = "STAGE2_RAY_CRASH_ONCE"
"""Test aid: a path; the first actor batch that finds no file there creates it and kills its process."""


def _ray() -> Any:
    try:
        import ray
    except ImportError as err:  # the optional extra is missing
        raise ImportError('stage2.distributed needs Ray: pip install "stage2[ray]"') from err
    return ray


def _model_ref(model: str | Path) -> str:
    """A local folder as an absolute path (actors may run elsewhere); a name as it is."""
    path = Path(model)
    return str(path.resolve()) if path.exists() else str(model)


def _crash_once() -> None:
    marker = os.environ.get(_CRASH_ONCE)
    if marker and not os.path.exists(marker):
        Path(marker).write_text("crashed", encoding="utf-8")
        os._exit(1)


class _Tagger:
    """Ray Data actor: one NER export, loaded once per actor."""

    def __init__(
        self, model: str, labels: Any, column: str, threads: int, model_batch_size: int, threshold: float
    ) -> None:
        self.model = load(model, backend="onnx", tasks=NER_TASKS, threads=threads)
        self.labels, self.column, self.model_batch_size = labels, column, model_batch_size
        self.threshold = threshold

    def __call__(self, batch: Any) -> Any:
        _crash_once()
        texts = [str(t) for t in batch[self.column]]
        batch["entities"] = self.model.predict(
            texts, labels=self.labels, batch_size=self.model_batch_size, threshold=self.threshold
        )
        return batch


class _Summarizer:
    """Ray Data actor: one summariser export, loaded once per actor."""

    def __init__(self, model: str, budget: dict[str, Any], column: str, focus_column: str | None, threads: int) -> None:
        self.model = load(model, backend="onnx", tasks=SUMMARY_TASKS, threads=threads)
        self.budget, self.column = budget, column  # budget: summarize keyword arguments (focus too)
        self.focus_column = focus_column

    def __call__(self, batch: Any) -> Any:
        _crash_once()
        docs = [str(d) for d in batch[self.column]]
        results: list[Any]
        if self.focus_column is None:
            found = self.model.summarize(docs, **self.budget)
            assert isinstance(found, list)  # a list in, a list out
            results = found
        else:  # a row's own focus, else the job's (one document at a time)
            foci = [row_focus(f, self.budget["focus"], self.focus_column) for f in batch[self.focus_column]]
            results = [self.model.summarize(d, **(self.budget | {"focus": f})) for d, f in zip(docs, foci, strict=True)]
        batch["summary"] = [r["summary"] for r in results]
        batch["sentences"] = [r["sentences"] for r in results]
        return batch


def row_focus(value: Any, default: str | None, column: str = "focus") -> str | None:
    """A row's focus: its own when it is a non-blank string, else ``default`` (a missing value of a
    column comes as None, NaN or pandas' NA); anything else is an error naming ``column``."""
    import pandas as pd

    if isinstance(value, str):
        return value.strip() or default
    try:
        missing = bool(pd.isna(value))
    except (TypeError, ValueError):  # a list or another non-scalar
        missing = False
    if missing:
        return default
    raise ValueError(f"column {column!r}: focus must be a string or null, got {type(value).__name__} {value!r}")


def _map(ds: Any, actor: type, args: tuple[Any, ...], actors: int, batch_size: int, threads: int) -> Any:
    if actors < 1 or batch_size < 1 or threads < 1:
        raise ValueError(f"actors, batch_size and threads must be >= 1, got {actors}, {batch_size}, {threads}")
    return ds.map_batches(
        actor,
        fn_constructor_args=args,
        batch_size=batch_size,
        batch_format="pandas",
        concurrency=actors,
        num_cpus=threads,
    )


def _run_time_labels(labels: Any) -> LabelSet | None:
    """Run-time labels as the actors get them: read once, here, by the library's label grammar
    (:meth:`LabelSet.from_user`); a comma-separated string is a list of names."""
    if labels is None:
        return None
    return LabelSet.from_names(labels) if isinstance(labels, str) else LabelSet.from_user(labels)


def _columns(ds: Any) -> list[str]:
    """The column names of ``ds`` (its schema is read once: for files it may mean reading some)."""
    schema = ds.schema()
    return list(schema.names) if schema is not None else []


def _check_column(names: list[str], column: str) -> None:
    if column not in names:
        raise ValueError(f"the dataset has no {column!r} column (columns: {', '.join(names) or 'none'})")


def predict_dataset(
    ds: Any,
    model: str | Path = "ner-default",
    labels: Sequence[str] | str | LabelSet | Mapping[str, str] | None = None,
    text_column: str = "text",
    actors: int = 1,
    batch_size: int = 1024,
    threads: int = 1,
    model_batch_size: int = 32,
    threshold: float | None = DEFAULT_THRESHOLD,
) -> Any:
    """``ds`` (a Ray Dataset with ``text_column``) with an ``entities`` column added: the entities of
    each text from the NER export ``model`` (a folder or an installed name), for ``labels`` given at
    run time (default: the model's own), those scoring below ``threshold`` dropped. ``actors`` copies
    of the model, ``threads`` cores each; ``batch_size`` rows per actor call (Ray Data's own default:
    large calls let the runtime group texts of similar length), ``model_batch_size`` texts per
    forward pass.

    >>> tagged = predict_dataset(ray.data.from_items([{"id": 1, "text": "Ada met Bob."}]))  # doctest: +SKIP
    """
    _check_column(_columns(ds), text_column)
    if model_batch_size < 1:
        raise ValueError(f"model_batch_size must be >= 1, got {model_batch_size}")
    check_threshold(threshold)
    args = (_model_ref(model), _run_time_labels(labels), text_column, threads, model_batch_size, threshold)
    return _map(ds, _Tagger, args, actors, batch_size, threads)


def summarize_dataset(
    ds: Any,
    model: str | Path = "summarizer-default",
    document_column: str = "document",
    max_sentences: int | None = None,
    max_words: int | None = None,
    ratio: float | None = None,
    focus: str | None = None,
    actors: int = 1,
    batch_size: int = 16,
    threads: int = 1,
    focus_column: str | None = "focus",
) -> Any:
    """``ds`` with ``summary`` and ``sentences`` columns added: the extractive summary of each
    ``document_column`` value by the summariser export ``model``, under one length budget. A row's
    ``focus_column`` value (a string) is its focus; rows without one get ``focus`` (default none). The
    default column, ``focus``, is optional; a column named otherwise must exist."""
    from stage2.summarization.selection import check_budget

    check_budget(max_sentences, max_words, ratio, focus)
    names = _columns(ds)
    _check_column(names, document_column)
    if focus_column is not None and focus_column != "focus":  # the default column is optional
        _check_column(names, focus_column)
    budget = {"max_sentences": max_sentences, "max_words": max_words, "ratio": ratio, "focus": focus}
    per_row = focus_column if focus_column in names else None
    args = (_model_ref(model), budget, document_column, per_row, threads)
    return _map(ds, _Summarizer, args, actors, batch_size, threads)


def read_files(pattern: str, column: str) -> Any:
    """A Ray Dataset from the files matching ``pattern``: JSON lines (``.jsonl``, ``.json``, gzipped
    too) and Parquet keep their columns; a text file gives one ``column`` row per line."""
    ray = _ray()
    files = sorted(glob.glob(pattern))
    if not files:
        raise FileNotFoundError(f"{pattern}: no files match")
    kinds = {_kind(f) for f in files}
    if len(kinds) > 1:
        raise ValueError(f"{pattern}: mixed file types ({', '.join(sorted(kinds))}); give one kind per run")
    kind = kinds.pop()
    if kind == "parquet":
        return ray.data.read_parquet(files)
    if kind == "json":
        return ray.data.read_json(files, lines=True)
    ds = ray.data.read_text(files)
    return ds if column == "text" else ds.rename_columns({"text": column})


def _kind(path: str) -> str:
    name = path.lower().removesuffix(".gz")
    if name.endswith(".parquet"):
        return "parquet"
    if name.endswith((".jsonl", ".json")):
        return "json"
    return "text"


OUTPUT_MANIFEST = ".stage2-output"
"""The list (JSON) of files a Ray job wrote into its output folder: all that ``overwrite`` may delete. A
dotfile without a data suffix, so a `*.json*` or `*.parquet` glob of the output skips it."""


def check_output(out: str | Path, overwrite: bool = False) -> list[Path]:
    """Refuse an output folder that holds files (a rerun would add its rows beside the old ones) unless
    ``overwrite`` and every file there was written by an earlier job (its manifest); returns those files
    (what :func:`write_files` deletes before it writes). Nothing is deleted here."""
    import json

    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"--output {out}: exists and is not a folder")
    present = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    if not present:
        return []
    manifest = folder / OUTPUT_MANIFEST
    ours = set(json.loads(manifest.read_text(encoding="utf-8"))) if manifest.is_file() else set()
    others = [n for n in present if n not in ours and n != OUTPUT_MANIFEST]
    if others:
        raise ValueError(
            f"--output {out}: holds files this program did not write ({', '.join(others[:3])}); choose a new or "
            "empty folder"
        )
    if not overwrite:
        raise ValueError(f"--output {out}: holds an earlier job's output; pass --overwrite to replace it")
    return [folder / n for n in present]


def write_files(ds: Any, out: str | Path, output_format: str = "jsonl", overwrite: bool = False) -> None:
    """Write ``ds`` under the folder ``out`` as JSON lines or Parquet files (one per block), with a
    manifest of the files written; ``out`` must be new or empty, or (``overwrite``) an earlier output."""
    import json

    if output_format not in OUTPUT_FORMATS:
        raise ValueError(f"output_format must be one of {OUTPUT_FORMATS}, got {output_format!r}")
    for old in check_output(out, overwrite):
        old.unlink(missing_ok=True)
    out = str(Path(out).resolve())
    if output_format == "parquet":
        ds.write_parquet(out)
    else:
        ds.write_json(out, lines=True)
    written = sorted(p.name for p in Path(out).iterdir() if p.name != OUTPUT_MANIFEST)
    (Path(out) / OUTPUT_MANIFEST).write_text(json.dumps(written), encoding="utf-8")
