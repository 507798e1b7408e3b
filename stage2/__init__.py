"""stage2: small task-specialised encoders for NER and summarisation.

Public names load lazily so that ``import stage2`` stays cheap and imports no torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "Label",
    "LabelSet",
    "NERExample",
    "NERModel",
    "Seq2SeqSummarizer",
    "Summarizer",
    "TrainingConfig",
    "__version__",
    "train",
    "train_summarizer",
]

if TYPE_CHECKING:  # pragma: no cover
    from stage2.data import NERExample
    from stage2.labels import Label, LabelSet
    from stage2.ner.modeling import NERModel
    from stage2.summarization.modeling import Summarizer
    from stage2.summarization.seq2seq import Seq2SeqSummarizer
    from stage2.summarization.training import train_summarizer
    from stage2.training import TrainingConfig, train

_LAZY = {
    "NERModel": "stage2.ner.modeling",
    "LabelSet": "stage2.labels",
    "Label": "stage2.labels",
    "NERExample": "stage2.data",
    "TrainingConfig": "stage2.training",
    "train": "stage2.training",
    "Summarizer": "stage2.summarization.modeling",
    "Seq2SeqSummarizer": "stage2.summarization.seq2seq",
    "train_summarizer": "stage2.summarization.training",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'stage2' has no attribute {name!r}")
