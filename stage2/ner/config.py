"""Configuration of a stage2 NER model, saved as ``stage2_config.json`` beside its weights."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from stage2.formats import ModelConfig
from stage2.labels import DEFAULT_TEMPLATE, MAX_LABELS, LabelSet

WEIGHTS_NAME = "model.safetensors"


class Scoring(str, Enum):
    """How the label-semantic head turns token-label matches into tags."""

    SOFTMAX = "softmax"  # O scored from the token alone by an MLP; one softmax over O and every B/I
    SIGMOID = "sigmoid"  # each (token, label, B/I) scored alone against a fixed threshold (O logit 0)


class LabelReading(str, Enum):
    """How the label-semantic head reads the entity types it is asked for."""

    SEPARATE = "separate"  # each label prompt encoded on its own (cached per label set)
    JOINT = "joint"  # label prompts read in the same sequence as the text (words and labels attend to each other)


class LabelEncoder(str, Enum):
    """Which weights encode the label prompts (separate reading)."""

    SHARED = "shared"  # the trained encoder reads labels and text
    FROZEN = "frozen"  # a frozen copy of the starting encoder reads labels: its sentence-embedding space is kept


class HeadType(str, Enum):
    """Which scoring head sits on the encoder."""

    LABEL_SEMANTIC = "label-semantic"
    LINEAR = "linear"


@dataclass
class NERConfig(ModelConfig):
    """Everything needed to rebuild a model; see the field help texts."""

    task: str = "ner"
    head: str = field(default=HeadType.LABEL_SEMANTIC.value, metadata={"help": "label-semantic or linear"})
    labels: list[dict[str, Any]] = field(default_factory=list, metadata={"help": "default label set"})
    template: str = field(default=DEFAULT_TEMPLATE, metadata={"help": "how a label with a description is written"})
    case_embedding: bool = field(default=True, metadata={"help": "add a learned word-shape embedding"})
    open_labels: bool = field(
        default=True,
        metadata={
            "help": "answers entity types other than its own (trained on many label sets); false: a model trained on "
            "its own labels only, which refuses others"
        },
    )
    max_labels: int = field(default=MAX_LABELS, metadata={"help": "most entity types one prediction may ask for"})
    max_length: int = field(default=256, metadata={"help": "subwords per window, specials included"})
    window_overlap: int = field(default=32, metadata={"help": "words shared by consecutive windows"})
    max_context: int = field(
        default=64, metadata={"help": "subwords of neighbouring text a side, when the input has any"}
    )
    scoring: str = field(
        default=Scoring.SOFTMAX.value,
        metadata={
            "help": "softmax (O from the token alone) or sigmoid (each label decided on its own: label-conditioned O)"
        },
    )
    label_reading: str = field(
        default=LabelReading.SEPARATE.value,
        metadata={
            "help": "separate (label prompts encoded alone, cached) or joint (label prompts read before the text in "
            "one sequence, GLiNER-style)"
        },
    )
    decision_threshold: float = field(
        default=0.5,
        metadata={
            "help": "sigmoid scoring: the word-label probability from which a word is an entity when predict is given "
            "no threshold (chosen on the zero-shot transfer protocol; 0.5 is the untuned boundary)"
        },
    )
    label_encoder: str = field(
        default=LabelEncoder.SHARED.value,
        metadata={
            "help": "shared (the trained encoder reads the label prompts) or frozen (a frozen copy of the starting "
            "encoder reads them, keeping its sentence-embedding space for unseen type names)"
        },
    )
    projection_dim: int = field(default=384, metadata={"help": "width of the token/label matching space"})

    def __post_init__(self) -> None:
        super().__post_init__()
        try:
            LabelSet.from_dict(self.labels)
        except ValueError as err:
            raise ValueError(f"field 'labels': {err}") from None
        try:
            HeadType(self.head)
        except ValueError:
            raise ValueError(f"head must be 'label-semantic' or 'linear', got {self.head!r}") from None
        try:
            Scoring(self.scoring)
        except ValueError:
            raise ValueError(f"scoring must be 'softmax' or 'sigmoid', got {self.scoring!r}") from None
        try:
            LabelReading(self.label_reading)
        except ValueError:
            raise ValueError(f"label_reading must be 'separate' or 'joint', got {self.label_reading!r}") from None
        try:
            LabelEncoder(self.label_encoder)
        except ValueError:
            raise ValueError(f"label_encoder must be 'shared' or 'frozen', got {self.label_encoder!r}") from None
        if self.label_encoder == LabelEncoder.FROZEN.value and self.label_reading == LabelReading.JOINT.value:
            raise ValueError("label_encoder 'frozen' needs label_reading 'separate' (joint reading has no label pass)")
        if isinstance(self.decision_threshold, bool) or not isinstance(self.decision_threshold, (int, float)):
            raise ValueError(f"decision_threshold must be a number, got {self.decision_threshold!r}")
        if not 0.0 < self.decision_threshold < 1.0:
            raise ValueError(f"decision_threshold must be between 0 and 1, got {self.decision_threshold}")
        if self.max_length < 8:
            raise ValueError(f"max_length must be at least 8 subwords, got {self.max_length}")
        if self.max_labels < 1:
            raise ValueError(f"max_labels must be at least 1, got {self.max_labels}")
        if self.window_overlap < 0:
            raise ValueError("window_overlap must be >= 0")
        if self.max_context < 0:
            raise ValueError("max_context must be >= 0")
