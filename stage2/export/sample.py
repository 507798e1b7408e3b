"""The fixed sample an export's score is recorded on and rechecked: the first examples of a named data set's
split in the shared data folder (:func:`stage2.benchmarks.data_dir`), scored on the torch-free runtime with
the task metric of the export check (:func:`stage2.export.validate.task_score`).

A sample is a small JSON-ready dict::

    {"data": "conll2003", "split": "dev", "first": 100, "labels": "own"}       # NER with the export's labels
    {"data": "conll2003", "split": "dev", "first": 100, "labels": [{"key": "PER", "name": "person", ...}, ...]}
    {"data": "bbc_news", "split": "validation", "first": 100, "budget": {"ratio": 0.4}}      # summaries

:func:`measure_sample` adds the metric's name and the ``score``; :func:`record_sample` adds the git commit,
command and date and writes it into the export's ``export_report.json`` under ``"sample"``.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stage2.benchmarks import data_file, git_commit, load_ner, load_summaries
from stage2.export.validate import task_metric_name, task_score
from stage2.labels import LabelSet

logger = logging.getLogger(__name__)

REPORT = "export_report.json"
SETTINGS = ("data", "split", "first", "labels", "budget")
"""The keys of a sample that say what is scored (the rest of a recorded sample is what was measured)."""


def sample_settings(sample: Mapping[str, Any]) -> dict[str, Any]:
    """The settings of a sample (recorded or not), checked: ``data`` and ``split`` strings, ``first`` a
    positive int; e.g. ``sample_settings(report["sample"])`` to measure a recorded sample again."""
    settings = {k: sample[k] for k in SETTINGS if k in sample}
    for key, kind in (("data", str), ("split", str), ("first", int)):
        if not isinstance(settings.get(key), kind) or isinstance(settings[key], bool):
            raise ValueError(f"sample field {key!r}: expected {kind.__name__}, got {settings.get(key)!r}")
    if settings["first"] < 1:
        raise ValueError(f"sample field 'first': expected a positive number of examples, got {settings['first']}")
    return settings


def sample_file(sample: Mapping[str, Any]) -> Path:
    """The data file a sample reads (absent where the shared data folder is), e.g.
    ``DATA/conll2003/dev.jsonl.gz``."""
    return data_file(sample["data"], sample["split"])


def sample_labels(sample: Mapping[str, Any]) -> LabelSet | None:
    """The labels an NER sample is read with: None for ``"own"`` (the export's), else its label list."""
    labels = sample.get("labels", "own")
    return None if labels == "own" else LabelSet.from_user(labels)


def sample_score(runtime: Any, sample: Mapping[str, Any]) -> float:
    """The task metric (entity F1 or ROUGE-1, 3 places) of ``runtime`` (a :mod:`stage2.runtime` model) on
    the sample, e.g. ``sample_score(stage2.runtime.load("ner-zero"), report["sample"])``."""
    settings = sample_settings(sample)
    if runtime.task == "ner":
        examples = load_ner(settings["data"], settings["split"], settings["first"])
    else:
        examples = load_summaries(settings["data"], settings["split"])[: settings["first"]]
    if len(examples) < settings["first"]:
        raise ValueError(f"{sample_file(settings)}: {len(examples)} examples, the sample asks for {settings['first']}")
    return task_score(runtime.task, runtime, examples, sample_labels(settings), settings.get("budget"))


def measure_sample(runtime: Any, sample: Mapping[str, Any]) -> dict[str, Any]:
    """The sample's settings with the metric's name and ``runtime``'s ``score`` on it."""
    settings = sample_settings(sample)
    score = sample_score(runtime, settings)
    return {**settings, "metric": task_metric_name(runtime.task), "score": score}


def record_sample(
    folder: str | Path, sample: Mapping[str, Any], command: str, threads: int | None = None
) -> dict[str, Any]:
    """Measure the export in ``folder`` on ``sample`` and record it, with the git commit, ``command`` and
    date, as ``"sample"`` of its ``export_report.json`` (no other key changes); returns what was recorded.

    ``record_sample("exports/ner-fast", EXPORT_SAMPLES["ner-fast"], "python evaluation/export_samples.py")``
    """
    from stage2.loading import load

    folder = Path(folder)
    report = read_report(folder)
    measured = measure_sample(load(folder, backend="onnx", threads=threads), sample)
    measured.update(
        git_commit=git_commit(),
        command=command,
        date=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    )
    report["sample"] = measured
    write_report(folder, report)
    where = f"the first {measured['first']} of {measured['data']} {measured['split']}"
    logger.info("%s: %s %.2f on %s", folder, measured["metric"], measured["score"], where)
    return measured


def read_report(folder: Path) -> dict[str, Any]:
    """The export report of ``folder`` (a ValueError naming the file when it is missing or not an object)."""
    path = folder / REPORT
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: cannot read the export report ({err})") from None
    if not isinstance(report, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return report


def write_report(folder: Path, report: Mapping[str, Any]) -> None:
    """Write ``export_report.json`` atomically (a temporary file beside it, then one rename), keeping the
    file's mode and the export's formatting (JSON indented by 2)."""
    path = folder / REPORT
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{REPORT}-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(json.dumps(report, indent=2))
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
