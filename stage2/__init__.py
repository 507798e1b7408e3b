"""stage2: small task-specialised encoders for NER and summarisation.

Public names load lazily so that ``import stage2`` stays cheap and imports no torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stage2._version import __version__

__all__ = [
    "Label",
    "LabelSet",
    "NERExample",
    "NERModel",
    "Seq2SeqSummarizer",
    "Summarizer",
    "TrainingConfig",
    "__version__",
    "load",
    "train",
    "train_summarizer",
]

if TYPE_CHECKING:  # pragma: no cover
    from stage2.labels import Label, LabelSet
    from stage2.loading import load
    from stage2.ner.data import NERExample
    from stage2.ner.modeling import NERModel
    from stage2.ner.training import TrainingConfig, train
    from stage2.summarization.modeling import Summarizer
    from stage2.summarization.seq2seq import Seq2SeqSummarizer
    from stage2.summarization.training import train_summarizer

_LAZY = {
    "NERModel": "stage2.ner.modeling",
    "LabelSet": "stage2.labels",
    "Label": "stage2.labels",
    "NERExample": "stage2.ner.data",
    "TrainingConfig": "stage2.ner.training",
    "train": "stage2.ner.training",
    "Summarizer": "stage2.summarization.modeling",
    "Seq2SeqSummarizer": "stage2.summarization.seq2seq",
    "train_summarizer": "stage2.summarization.training",
    "load": "stage2.loading",
}
_NEEDS_TORCH = {"NERModel", "TrainingConfig", "train", "Summarizer", "Seq2SeqSummarizer", "train_summarizer"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        try:
            module = importlib.import_module(_LAZY[name])
        except ModuleNotFoundError as err:
            if name in _NEEDS_TORCH and err.name in ("torch", "transformers", "safetensors"):
                raise ModuleNotFoundError(
                    f"stage2.{name} needs torch and transformers: pip install 'stage2[train]' "
                    "(serving an export needs only stage2.runtime)",
                    name=err.name,
                ) from err
            raise
        return getattr(module, name)
    raise AttributeError(f"module 'stage2' has no attribute {name!r}")
