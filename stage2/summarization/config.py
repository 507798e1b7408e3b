"""Configuration of a stage2 extractive summariser, saved as ``stage2_config.json``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

CONFIG_NAME = "stage2_config.json"
WEIGHTS_NAME = "model.safetensors"

DEFAULT_INTENT = "the main points and key facts of the text"
DIALOGUE_INTENT = "what the people in the conversation decided, asked or plan to do"


@dataclass
class SummarizerConfig:
    """Everything needed to rebuild a summariser."""

    task: str = "extractive-summarization"
    encoder: str = field(default="all-MiniLM-L6-v2", metadata={"help": "encoder it was built from"})
    intent: str = field(default=DEFAULT_INTENT, metadata={"help": "summary intent, in natural language"})
    dialogue_intent: str = field(default=DIALOGUE_INTENT, metadata={"help": "intent used for dialogues"})
    focus_template: str = field(default="{intent}, especially {focus}", metadata={"help": "intent + user focus"})
    max_length: int = field(default=128, metadata={"help": "subwords per encoder window (longer sentences: chunks)"})
    redundancy: str = field(default="trigram", metadata={"help": "trigram, mmr or none"})
    position_buckets: int = 32
    projection_dim: int = 384
    prior: dict[str, float] = field(
        default_factory=lambda: {"relevance": 2.0, "centrality": 4.0, "position": 4.0, "length": 4.0},
        metadata={"help": "zero-shot feature weights, chosen on validation data; learned when trained"},
    )
    focus_weight: float = field(default=4.0, metadata={"help": "extra weight of relevance when a focus is given"})
    encoder_config: dict[str, Any] = field(default_factory=dict)
    card: dict[str, Any] = field(default_factory=dict)
    stage2_version: str = ""

    def __post_init__(self) -> None:
        if self.redundancy not in {"trigram", "mmr", "none"}:
            raise ValueError(f"redundancy must be trigram, mmr or none, got {self.redundancy!r}")
        if self.max_length < 8:
            raise ValueError("max_length must be at least 8")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SummarizerConfig:
        """Build from a saved dict, ignoring unknown keys."""
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})
