"""Torch-free serving of exported stage2 models (``stage2 export``) on ONNX Runtime.

Imports only onnxruntime, tokenizers and numpy (plus stage2's pure-Python text code)::

    import stage2.runtime as rt
    ner = rt.load("exports/ner-default")
    ner.predict("Angela Merkel met Emmanuel Macron in Paris.")
    rt.load("summarizer-default").summarize(article, max_sentences=3)

CUDAExecutionProvider is used when the installed onnxruntime has it, else the CPU. Models are safe
to call from several threads at once.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from stage2.registry import EXPORT_CONFIG, find_model
from stage2.runtime._base import read_export_config
from stage2.runtime.ner import NERRuntime
from stage2.runtime.summarization import SummarizerRuntime
from stage2.runtime.written import WrittenSummarizerRuntime

__all__ = ["NERRuntime", "SummarizerRuntime", "WrittenSummarizerRuntime", "load", "name_finder", "open_export"]

logger = logging.getLogger(__name__)


@functools.lru_cache(maxsize=1)
def name_finder() -> NERRuntime | None:
    """The shipped ``ner-fast`` export, which the written summariser's ``unsupported`` check reads names with;
    None when it cannot be found (capitalisation stands in)."""
    try:
        model = open_export(find_model("ner-fast", EXPORT_CONFIG), threads=1)
    except (FileNotFoundError, ImportError, ValueError) as err:
        logger.info("no ner-fast export (%s): the unsupported-terms check takes names from capitalisation", err)
        return None
    return model if isinstance(model, NERRuntime) else None


def open_export(
    folder: Path, threads: int | None = None, provider: str | None = None
) -> NERRuntime | SummarizerRuntime | WrittenSummarizerRuntime:
    """The runtime model for the export in ``folder``, chosen by the task in its config."""
    task = read_export_config(folder).get("task")
    if task == "ner":
        return NERRuntime(folder, threads, provider)
    if task == "extractive-summarization":
        return SummarizerRuntime(folder, threads, provider)
    if task == "written-summarization":
        return WrittenSummarizerRuntime(folder, threads, provider, names=name_finder)
    raise ValueError(f"{folder / EXPORT_CONFIG}: unknown task {task!r}")


def load(
    name_or_path: str | Path, threads: int | None = None, provider: str | None = None
) -> NERRuntime | SummarizerRuntime | WrittenSummarizerRuntime:
    """Load an exported model from a folder or by name (an installed model package, or
    ``exports/NAME`` in a source checkout). ``threads`` caps ONNX Runtime's intra-op threads.
    The same as ``stage2.load(name_or_path, backend="onnx")``.
    """
    return open_export(find_model(name_or_path, EXPORT_CONFIG), threads, provider)
