"""Saved formats and their migrations: the one place that knows what older stage2 versions wrote.

A saved torch model's ``stage2_config.json`` and an export's ``stage2_export.json`` each carry a
``format`` number. Reading goes through :func:`migrate_model` or :func:`migrate_export`, which bring
any older format up to the current one step by step, so the models and the runtime only ever see
the current shape. A format newer than this stage2 reads is refused with the way out (upgrade).

Pure Python: shared by the torch models and the torch-free runtime.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from stage2.schema import check_fields, with_source

MODEL_FORMAT = 2
"""``stage2_config.json``: 1 (or no field) before the task field; 2 has ``task`` and ``format``."""

EXPORT_FORMAT = 2
"""``stage2_export.json``: 1 named the extractive task ``summarization`` and left defaults of older
models implicit; 2 uses the torch configs' task names and writes every field the runtime reads."""

TASKS = ("ner", "extractive-summarization", "abstractive-summarization", "written-summarization")
"""Task names, the same in every config and export."""

LEGACY_FEATURES = ("relevance", "centrality", "position", "length")
"""The features of summarisers saved before lexical salience was added (their configs name none)."""

C = TypeVar("C", bound="ModelConfig")
Migration = Callable[[dict[str, Any]], dict[str, Any]]


def _version(data: dict[str, Any], current: int, source: Any) -> int:
    version = data.get("format", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError(f"{source}: field 'format': expected a positive integer, got {version!r}")
    if version > current:
        raise ValueError(
            f"{source}: format {version} is newer than this stage2 reads ({current}); upgrade stage2 "
            "(pip install -U stage2)"
        )
    return version


def _model_1_to_2(data: dict[str, Any]) -> dict[str, Any]:
    data.setdefault("task", "ner")
    if data["task"] == "extractive-summarization" and "features" not in data:
        data["features"] = list(LEGACY_FEATURES)  # saved before lexical salience
        prior = data.get("prior", {})
        data.setdefault("dialogue_prior", dict(prior) if isinstance(prior, dict) else prior)
        data.setdefault("redundancy", "trigram")
    return data


def _export_1_to_2(data: dict[str, Any]) -> dict[str, Any]:
    if data.get("task") == "summarization":
        data["task"] = "extractive-summarization"
    special = data.get("special")
    if isinstance(special, dict) and "sep" in special:
        data["special"] = {"mask": special["sep"], **special}  # before joint reading: no mask id
    return data


MODEL_MIGRATIONS: dict[int, Migration] = {1: _model_1_to_2}
EXPORT_MIGRATIONS: dict[int, Migration] = {1: _export_1_to_2}


def _migrate(data: dict[str, Any], current: int, steps: dict[int, Migration], source: Any) -> dict[str, Any]:
    version = _version(data, current, source)
    out = dict(data)
    while version < current:
        out = steps[version](out)
        version += 1
    out["format"] = current
    task = out.get("task")
    if task not in TASKS:
        raise ValueError(f"{source}: unknown task {task!r}; expected one of {', '.join(TASKS)}")
    return out


def migrate_model(data: dict[str, Any], source: Any = None) -> dict[str, Any]:
    """A saved model's ``stage2_config.json`` (as a dict) in the current format; ``source`` (the
    file) is named in errors. The input dict is not changed."""
    return _migrate(data, MODEL_FORMAT, MODEL_MIGRATIONS, source)


def migrate_export(data: dict[str, Any], source: Any = None) -> dict[str, Any]:
    """An export's ``stage2_export.json`` (as a dict) in the current format; ``source`` (the file)
    is named in errors. The input dict is not changed."""
    return _migrate(data, EXPORT_FORMAT, EXPORT_MIGRATIONS, source)


@dataclass
class ModelConfig:
    """What every saved stage2 model config has (``stage2_config.json``); the task configs
    (:class:`stage2.ner.config.NERConfig`, :class:`stage2.summarization.config.SummarizerConfig`)
    extend it. ``from_dict`` migrates older formats, then checks every field's type."""

    task: str = field(default="ner", metadata={"help": "what the model does: " + ", ".join(TASKS)})
    format: int = field(default=MODEL_FORMAT, metadata={"help": "version of this file's layout"})
    encoder: str = field(default="all-MiniLM-L6-v2", metadata={"help": "encoder it was built from"})
    encoder_config: dict[str, Any] = field(default_factory=dict, metadata={"help": "the encoder's HF config"})
    card: dict[str, Any] = field(default_factory=dict, metadata={"help": "training summary and scores"})
    stage2_version: str = field(default="", metadata={"help": "stage2 version that saved it"})

    def __post_init__(self) -> None:
        check_fields(self)
        expected = type(self).__dataclass_fields__["task"].default
        if self.task != expected:
            raise ValueError(f"field 'task': a {type(self).__name__} holds {expected!r}, got {self.task!r}")
        if self.format != MODEL_FORMAT:
            raise ValueError(f"field 'format': expected {MODEL_FORMAT} (read configs through from_dict)")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any], source: Any = None) -> C:
        """Build from a saved dict of any format this stage2 reads, ignoring unknown keys from newer
        versions; errors name ``source`` (the file) and the field. A dict without a task is read as
        this class's task."""
        fields = cls.__dataclass_fields__
        known = set(fields)

        def build() -> C:
            migrated = migrate_model({"task": fields["task"].default, **data})
            return cls(**{k: v for k, v in migrated.items() if k in known})

        return with_source(source, build)
