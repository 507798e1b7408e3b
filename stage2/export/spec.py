"""What an export holds: the model to trace (a float32 copy), the graph's inputs and outputs, the
head weights that run in numpy, and the sample texts its parity is checked on."""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from stage2.ner.head import tag_scale
from stage2.ner.joint import special_ids

logger = logging.getLogger(__name__)

PARITY_TEXTS = [
    "Angela Merkel met Emmanuel Macron in Paris on Tuesday.",
    "APPLE INC. reported record revenue, said CEO Tim Cook.",
    "the quick brown fox jumps over the lazy dog",
    "Dr. Ada Lovelace worked with Charles Babbage at the University of London in 1843.",
    "Shares of Toyota Motor Corp rose 3.5% in Tokyo; Nissan fell.",
    "@john_doe loved the new Star Wars film #maytheforce",
]
PARITY_DOCUMENT = (
    "The city council approved a new budget on Monday. The plan raises spending on schools by 4%. "
    "Critics said the increase was too small. The mayor, Jane Smith, defended the decision. "
    '"We have done what we can," she said. A final vote is expected next month. '
    "Local businesses welcomed the tax freeze. Teachers' unions called for more."
)
FALLBACK_LABELS = {"person": "the name of a person", "location": "a place", "organization": "a company or institution"}
"""Labels for the parity check of an NER model that has none of its own and was given none."""


class NERGraph(nn.Module):
    """The traced part of an NER model: encoder and token-level head (label prompts are encoded by the
    same graph; their projection runs in numpy)."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, shape_ids: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        hidden = self.model.encode_tokens(input_ids, attention_mask, shape_ids)
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        if self.model.config.head == "linear":
            return self.model.classifier(hidden), pooled
        outside, begin, inside = self.model.token_outputs(hidden)
        if self.model.config.label_reading == "joint":  # label vectors pool the prefix's hidden states
            return outside, begin, inside, pooled, hidden
        return outside, begin, inside, pooled


class SentenceGraph(nn.Module):
    """The traced part of a summariser: mean-pooled sentence embeddings."""

    def __init__(self, encoder: Any) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)


@dataclass
class ExportSpec:
    """One export: ``task`` (``ner`` or ``extractive-summarization``), ``model`` (a float32 eval copy on the CPU:
    the caller's model is never changed) and the labels its parity is checked with."""

    task: str
    model: Any
    labels: Any = None

    @property
    def outputs(self) -> list[str]:
        """The graph's output names."""
        if self.task != "ner":
            return ["pooled"]
        if self.model.config.head == "linear":
            return ["logits", "pooled"]
        joint = ["hidden"] if self.model.config.label_reading == "joint" else []
        return ["outside", "begin", "inside", "pooled", *joint]

    def graph(self, source: Any = None) -> nn.Module:
        """The module to trace, of ``source`` (a smoothed copy of the model) or the model itself."""
        source = self.model if source is None else source
        return NERGraph(source) if self.task == "ner" else SentenceGraph(source.encoder)

    def sample_inputs(self) -> dict[str, torch.Tensor]:
        """A small padded batch to trace with, by input name."""
        example = self.model.tokenizer(["a b c", "d"], padding=True, return_tensors="pt")
        inputs = {"input_ids": example["input_ids"], "attention_mask": example["attention_mask"]}
        if self.task == "ner":
            inputs["shape_ids"] = torch.zeros_like(example["input_ids"])
        return inputs

    def head_arrays(self) -> dict[str, np.ndarray]:
        """The weights that run in numpy beside the graph (``head.npz``)."""
        model = self.model
        state = {k: v.detach().float().cpu().numpy() for k, v in model.state_dict().items()}
        if self.task == "extractive-summarization":
            keep = [k for k in state if not k.startswith("encoder.")]
        elif model.config.head == "linear":
            keep = []
        else:
            keep = ["label_proj.weight", "label_proj.bias", "tag_bias"]
        arrays = {k: state[k] for k in keep}
        if self.task == "ner" and model.config.head != "linear":
            arrays["logit_scale"] = np.array(float(tag_scale(model.logit_scale.detach())), dtype=np.float32)
        return arrays

    def special_ids(self) -> dict[str, int]:
        """The tokenizer's special token ids the runtime needs (:func:`stage2.ner.joint.special_ids`)."""
        return special_ids(self.model.tokenizer)


def load_for_export(model_or_path: Any) -> tuple[str, Any]:
    """``(task, model)`` from a torch model object or a saved model folder/name."""
    from stage2.loading import load
    from stage2.ner.modeling import NERModel
    from stage2.summarization.modeling import Summarizer

    model = model_or_path
    if not isinstance(model, NERModel | Summarizer):
        model = load(model_or_path, backend="torch", tasks=("ner", "extractive-summarization"))
    return ("ner" if isinstance(model, NERModel) else "extractive-summarization"), model


def make_spec(model_or_path: Any, labels: Any = None) -> ExportSpec:
    """The spec of exporting ``model_or_path``: a float32 eval copy with eager attention."""
    task, original = load_for_export(model_or_path)
    if task == "ner" and getattr(original.config, "label_encoder", "shared") != "shared":
        raise NotImplementedError(
            f"{model_or_path}: models whose labels are read by a frozen label encoder cannot be exported yet "
            "(the export holds one encoder graph); use the torch backend"
        )
    model = copy.deepcopy(original).cpu().float().eval()
    _eager_attention(model)
    if task == "ner" and labels is None and not len(model.labels):
        labels = FALLBACK_LABELS
    return ExportSpec(task, model, labels)


def _eager_attention(model: Any) -> None:
    """Trace attention as plain matmul/softmax: ONNX Runtime then runs a graph of about 20% fewer nodes
    (measured on MiniLM: the SDPA export adds masking ops), which matters for one-sentence calls.
    """
    setter = getattr(model.encoder, "set_attn_implementation", None)
    if setter is None:
        return
    try:
        setter("eager")
    except (ValueError, ImportError, NotImplementedError) as err:  # an architecture without it keeps its own
        logger.debug("keeping the encoder's attention implementation: %s", err)
