"""Configuration of a stage2 extractive summariser, saved as ``stage2_config.json``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stage2.formats import ModelConfig
from stage2.summarization.features import FEATURES

WEIGHTS_NAME = "model.safetensors"

DEFAULT_INTENT = "the main points and key facts of the text"
DIALOGUE_INTENT = "what the people in the conversation decided, asked or plan to do"

ADAPTATIONS = ("auto", "salience", "encoder", "weights")
"""Training methods of ``train_summarizer`` (see :mod:`stage2.summarization.training`)."""
FEW_SHOT = "encoder"
"""What ``adaptation="auto"`` does with fewer than ``RESIDUAL_MIN_DOCUMENTS`` documents: ``encoder`` (the top
layers fine-tuned; SAMSum validation, 300 dialogues, seeds 1-3, prior 33.31: 10 dialogues 35.05, 100 dialogues
35.77) replaced ``salience`` (10: the prior, kept below 50 documents; 100: 35.12)."""

PROSE_PRIOR = {
    "relevance": 0.0,
    "centrality": 2.0,
    "position": 0.5,
    "length": 1.0,
    "frequency": 8.0,
    "coverage": 4.0,
}
"""Zero-shot weights for prose, chosen on BBC News validation by
``evaluation/tune_zero_shot_prior.py`` (see ``evaluation/results/summarization_prior_search.json``)."""

DIALOGUE_PRIOR = {
    "relevance": 2.0,
    "centrality": 0.0,
    "position": 2.0,
    "length": 4.0,
    "frequency": 0.0,
    "coverage": 1.0,
}
"""Zero-shot weights for dialogues, chosen on SAMSum validation by the same script."""


@dataclass
class SummarizerConfig(ModelConfig):
    """Everything needed to rebuild a summariser."""

    task: str = "extractive-summarization"
    intent: str = field(default=DEFAULT_INTENT, metadata={"help": "summary intent, in natural language"})
    dialogue_intent: str = field(default=DIALOGUE_INTENT, metadata={"help": "intent used for dialogues"})
    focus_template: str = field(
        default="{focus}",
        metadata={"help": "relevance prompt when a focus is given ({intent} and {focus} are filled in)"},
    )
    max_length: int = field(default=128, metadata={"help": "subwords per encoder window (longer sentences: chunks)"})
    redundancy: str = field(default="none", metadata={"help": "trigram, mmr or none"})
    position_buckets: int = 32
    projection_dim: int = 384
    features: list[str] = field(
        default_factory=lambda: list(FEATURES), metadata={"help": "hand-made sentence features the model uses"}
    )
    prior: dict[str, float] = field(
        default_factory=lambda: dict(PROSE_PRIOR),
        metadata={"help": "feature weights for prose, chosen on validation data; learned when trained"},
    )
    dialogue_prior: dict[str, float] = field(
        default_factory=lambda: dict(DIALOGUE_PRIOR),
        metadata={"help": "feature weights for dialogues, chosen on validation data; learned when trained"},
    )
    focus_weight: float = field(
        default=16.0,
        metadata={
            "help": "extra weight of relevance when a focus is given (16 with the focus alone as prompt: chosen on "
            "QMSum validation over 4 and the intent+focus prompt; older models keep their saved values)"
        },
    )
    focus_context: int = field(
        default=15,
        metadata={"help": "with a focus: sentences on either side whose relevance to it counts for a sentence"},
    )
    focus_context_weight: float = field(
        default=2.0,
        metadata={
            "help": "with a focus: weight of the neighbours' standardised relevance (2 and 15 sentences: chosen on "
            "QMSum validation turn recall and ROUGE-1; 0 turns it off)"
        },
    )
    focus_lexical_context: int = field(
        default=8, metadata={"help": "with a focus: sentences on either side whose BM25 match with it counts"}
    )
    focus_lexical_weight: float = field(
        default=2.0, metadata={"help": "with a focus: weight of the neighbours' standardised BM25 match (0: off)"}
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.redundancy not in {"trigram", "mmr", "none"}:
            raise ValueError(f"redundancy must be trigram, mmr or none, got {self.redundancy!r}")
        if self.max_length < 8:
            raise ValueError("max_length must be at least 8")
        unknown = [f for f in self.features if f not in FEATURES]
        if unknown or not self.features:
            raise ValueError(f"features must be a non-empty subset of {FEATURES}, got {self.features}")
        for name in ("prior", "dialogue_prior"):
            weights = getattr(self, name)
            setattr(self, name, {f: float(weights.get(f, 0.0)) for f in self.features})


def intent_prompt(config: dict[str, Any], dialogue: bool, focus: str | None = None) -> str:
    """The natural-language intent that sentences are scored against (``config`` is a
    :class:`SummarizerConfig` as a dict): the dialogue intent for dialogues, plus the user's focus.
    """
    intent = config["dialogue_intent"] if dialogue else config["intent"]
    if focus:
        return str(config["focus_template"]).format(intent=intent, focus=focus.strip())
    return str(intent)
