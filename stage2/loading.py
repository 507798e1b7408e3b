"""``stage2.load``: the one loader. A model given by folder, installed package name or checkout name
is opened as an ONNX export (torch-free, :mod:`stage2.runtime`) or as saved torch weights, chosen by
``backend``; the task recorded in its config chooses the class. The CLI, the service, the spaCy
component, Ray and the exporter all load through it, so a task check or a format migration is made
here once. Importing this module imports neither torch nor onnxruntime.
"""

from __future__ import annotations

from collections.abc import Collection
from importlib import import_module
from pathlib import Path
from typing import Any

from stage2.backbone import stage2_folder
from stage2.formats import migrate_export, migrate_model
from stage2.registry import EXPORT_CONFIG, TORCH_CONFIG, find_model, read_config

BACKENDS = ("auto", "onnx", "torch")
"""``auto``: the ONNX export when the name has one, else the torch weights."""

TASK_CLASSES = {
    "ner": ("stage2.ner.modeling", "NERModel"),
    "extractive-summarization": ("stage2.summarization.modeling", "Summarizer"),
    "abstractive-summarization": ("stage2.summarization.seq2seq", "Seq2SeqSummarizer"),
    "written-summarization": ("stage2.summarization.abstractive", "AbstractiveSummarizer"),
}
"""Task name in ``stage2_config.json`` -> (module, class) of the torch model that loads it."""

NER_TASKS = ("ner",)
SUMMARY_TASKS = ("extractive-summarization", "abstractive-summarization", "written-summarization")


def model_task(folder: Path) -> str:
    """The task of the saved torch model in ``folder`` (``ner`` when the config does not say)."""
    return str(migrate_model(read_config(folder / TORCH_CONFIG), folder / TORCH_CONFIG)["task"])


def export_task(folder: Path) -> str:
    """The task an export in ``folder`` serves (``ner`` or ``extractive-summarization``)."""
    return str(migrate_export(read_config(folder / EXPORT_CONFIG), folder / EXPORT_CONFIG)["task"])


def _check_task(folder: Path, task: str, tasks: Collection[str] | None) -> None:
    if tasks is not None and task not in tasks:
        raise ValueError(f"{folder} holds a {task!r} model; expected {' or '.join(repr(t) for t in tasks)}")


def find_export(name_or_path: str | Path | None) -> Path | None:
    """The folder of an ONNX export given by path or name, or None when there is none by that name."""
    if not name_or_path:
        return None
    try:
        return find_model(name_or_path, EXPORT_CONFIG)
    except FileNotFoundError:
        return None


def load(
    name_or_path: str | Path,
    backend: str = "auto",
    tasks: Collection[str] | None = None,
    threads: int | None = None,
    provider: str | None = None,
) -> Any:
    """Load a stage2 model: an ONNX export (a :class:`stage2.runtime.NERRuntime` or
    ``SummarizerRuntime``) or saved torch weights (``NERModel``, ``Summarizer``,
    ``Seq2SeqSummarizer``), from a folder or by name (an installed model package, or ``exports/NAME``
    and ``runs/NAME`` in a source checkout).

    ``backend``: ``"onnx"``, ``"torch"`` or ``"auto"`` (the export when there is one). ``tasks``
    restricts what is accepted (``"ner"``, ``"extractive-summarization"``,
    ``"abstractive-summarization"``); another task raises a ValueError naming the folder before
    anything is loaded. ``threads`` and ``provider`` set ONNX Runtime's intra-op threads and
    execution provider (exports only).
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend {backend!r}: expected one of {', '.join(BACKENDS)}")
    folder = find_export(name_or_path) if backend != "torch" else None
    if backend == "onnx" and folder is None:
        folder = find_model(name_or_path, EXPORT_CONFIG)  # raises, listing where it looked
    if folder is not None:
        _check_task(folder, export_task(folder), tasks)
        from stage2.runtime import open_export

        return open_export(folder, threads, provider)
    folder = stage2_folder(name_or_path) or find_model(name_or_path, TORCH_CONFIG)  # a hub id too, when online
    task = model_task(folder)
    _check_task(folder, task, tasks)
    module, name = TASK_CLASSES[task]
    return getattr(import_module(module), name).from_pretrained(folder)
