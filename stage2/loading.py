"""``stage2.load``: a saved torch model by folder or by name (an installed model package). The one
place that reads a model's ``stage2_config.json`` to choose its class by task; the CLI and the
exporter load through it too."""

from __future__ import annotations

from collections.abc import Collection
from importlib import import_module
from pathlib import Path
from typing import Any

from stage2.registry import TORCH_CONFIG, find_model, read_config

TASK_CLASSES = {
    "ner": ("stage2.ner.modeling", "NERModel"),
    "extractive-summarization": ("stage2.summarization.modeling", "Summarizer"),
    "abstractive-summarization": ("stage2.summarization.seq2seq", "Seq2SeqSummarizer"),
}
"""Task name in ``stage2_config.json`` -> (module, class) of the model that loads it."""


def model_task(folder: Path) -> str:
    """The task of the saved model in ``folder`` (``ner`` when the config does not say)."""
    task = read_config(folder / TORCH_CONFIG).get("task", "ner")
    if task not in TASK_CLASSES:
        raise ValueError(f"{folder / TORCH_CONFIG}: unknown task {task!r}; expected one of {sorted(TASK_CLASSES)}")
    return str(task)


def load(name_or_path: str | Path, tasks: Collection[str] | None = None) -> Any:
    """Load a saved stage2 torch model (NER, extractive or seq2seq summariser) from a folder or by
    the name of an installed model package (``stage2 package``). ``tasks`` restricts what is
    accepted: another task raises a ValueError naming the folder. For an ONNX export use
    :func:`stage2.runtime.load`.
    """
    folder = find_model(name_or_path, TORCH_CONFIG)
    task = model_task(folder)
    if tasks is not None and task not in tasks:
        raise ValueError(f"{folder} holds a {task!r} model; expected {' or '.join(repr(t) for t in tasks)}")
    module, name = TASK_CLASSES[task]
    return getattr(import_module(module), name).from_pretrained(folder)
