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


def intent_prompt(config: dict[str, Any], dialogue: bool, focus: str | None = None) -> str:
    """The natural-language intent that sentences are scored against (``config`` is a
    :class:`SummarizerConfig` as a dict): the dialogue intent for dialogues, plus the user's focus.
    """
    intent = config["dialogue_intent"] if dialogue else config["intent"]
    if focus:
        return str(config["focus_template"]).format(intent=intent, focus=focus.strip())
    return str(intent)


def chunk_ids(
    ids: list[list[int]], budget: int, cls_id: int, sep_id: int, unk_id: int
) -> tuple[list[list[int]], list[int]]:
    """Encoder inputs of at most ``budget`` subwords (plus specials) covering each text's ``ids``,
    and the text each chunk belongs to: a long sentence is read in pieces, never cut.
    """
    chunks: list[list[int]] = []
    owner: list[int] = []
    for i, seq in enumerate(ids):
        seq = seq or [unk_id]
        for b in range(0, len(seq), budget):
            chunks.append([cls_id, *seq[b : b + budget], sep_id])
            owner.append(i)
    return chunks, owner
