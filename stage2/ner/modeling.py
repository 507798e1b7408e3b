"""The NER model: an encoder, an optional case-shape embedding, and a label-semantic or linear head.

The label-semantic head encodes each entity type's name and description with the same encoder
(mean pooling) and scores every word's first subword against every label, so the label set can
change at predict time without new weights. Two scorings: ``softmax`` scores ``O`` from the token
alone by a small MLP (the decision "is this an entity at all" ignores what was asked for), and
``sigmoid`` decides every (word, label) pair on its own against a fixed threshold, so whether a word
is an entity depends on the labels the user gave (what zero-shot NER on unseen types needs).
"""

from __future__ import annotations

import copy
import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from stage2._version import __version__
from stage2.arrays import unit
from stage2.backbone import DEFAULT_ENCODER, load_encoder, stage2_folder
from stage2.io import tokenizable
from stage2.labels import Label, LabelSet, resolve_label_set
from stage2.ner.config import WEIGHTS_NAME, HeadType, LabelEncoder, LabelReading, NERConfig, Scoring
from stage2.ner.data import NERExample
from stage2.ner.head import label_scores, label_vectors, linear_columns, merge_passes, prefix_label_vectors, tag_scale
from stage2.ner.joint import JointPrefix, PrefixCache, joint_budget, special_ids
from stage2.ner.prediction import LabelsArg, PredictionMixin
from stage2.ner.windows import NUM_SHAPES, Context, Window
from stage2.registry import TORCH_CONFIG, read_config

logger = logging.getLogger(__name__)

SIGMOID_START_BIAS = -8.0
"""Initial B/I bias of sigmoid scoring, in logits: with scale 20, a bare encoder's largest token-label
cosines (about 0.4) start near the threshold and the rest well below it."""
JOINT_SIGMOID_START_BIAS = -16.0
"""The same for joint label reading: words and labels read in one sequence start closer (a bare encoder's
mean token-label cosine there is about 0.39 against 0.08 read apart, its top tenth above 0.63)."""
HEAD_INIT_SEED = 0
"""Seed of a fresh head's initialisation (independent of the global RNG)."""

__all__ = ["Context", "LabelsArg", "NERModel", "Window"]


class NERModel(PredictionMixin, nn.Module):
    """A stage2 NER model.

    >>> model = NERModel.from_pretrained("all-MiniLM-L6-v2")  # doctest: +SKIP
    >>> model.predict("Ada Lovelace met Charles Babbage in London.",
    ...               labels={"person": "a human being", "location": "a place"})  # doctest: +SKIP
    """

    def __init__(self, config: NERConfig, encoder: Any, tokenizer: Any) -> None:
        super().__init__()
        self.config = config
        self.encoder = encoder
        self.tokenizer = tokenizer
        # frozen label encoder: a copy of the starting encoder reads the label prompts and is never trained
        # (its weights are saved beside the trained encoder's, so a saved model reloads it as it was)
        self.label_encoder: Any = None
        if config.label_encoder == LabelEncoder.FROZEN.value:
            self.label_encoder = copy.deepcopy(encoder).requires_grad_(False).eval()
        hidden = int(encoder.config.hidden_size)
        # A fresh head starts the same in every process: its initialisation draws from its own seeded
        # generator (the global RNG is left as it was), so two runs with the same --seed agree.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(HEAD_INIT_SEED)
            self._build_head(config, hidden)
        self._label_cache: dict[tuple[str, ...], torch.Tensor] = {}
        self._prefix_cache = PrefixCache()

    def _build_head(self, config: NERConfig, hidden: int) -> None:
        """The layers on the encoder: case-shape embedding and the label-semantic or linear head."""
        self.shape_embedding: nn.Embedding | None = None
        if config.case_embedding:
            self.shape_embedding = nn.Embedding(NUM_SHAPES, hidden, padding_idx=0)
            nn.init.zeros_(self.shape_embedding.weight)  # start as the plain encoder
        self.dropout = nn.Dropout(0.1)
        if config.head == HeadType.LABEL_SEMANTIC.value:
            dim = config.projection_dim
            self.begin_proj = nn.Linear(hidden, dim)
            self.inside_proj = nn.Linear(hidden, dim)
            self.label_proj = nn.Linear(hidden, dim)
            if dim == hidden:  # identity start: cosine of token and label embeddings
                for layer in (self.begin_proj, self.inside_proj, self.label_proj):
                    nn.init.eye_(layer.weight)
                    nn.init.zeros_(layer.bias)
            self.outside: nn.Module | None = None
            if config.scoring == Scoring.SOFTMAX.value:
                self.outside = nn.Sequential(nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, 1))
            self.logit_scale = nn.Parameter(torch.tensor(math.log(20.0)))
            # sigmoid: start below the threshold (a bare encoder's token-label cosines are mostly positive)
            start = 0.0
            if config.scoring == Scoring.SIGMOID.value:
                joint = config.label_reading == LabelReading.JOINT.value
                start = JOINT_SIGMOID_START_BIAS if joint else SIGMOID_START_BIAS
            self.tag_bias = nn.Parameter(torch.full((2,), start))
        else:
            if not config.labels:
                raise ValueError("a linear-head model needs its label set at construction")
            self.classifier = nn.Linear(hidden, 1 + 2 * len(config.labels))

    # ----------------------------------------------------------------- building and saving
    @classmethod
    def from_encoder(
        cls,
        encoder: str | None = None,
        head: str = HeadType.LABEL_SEMANTIC.value,
        labels: LabelsArg = None,
        **config_kwargs: Any,
    ) -> NERModel:
        """A new model on a bare encoder (local path, hub id, or ``None`` for the bundled default)."""
        enc, tok = load_encoder(encoder)
        label_set = LabelSet.from_user(labels) if labels else LabelSet()
        config = NERConfig(
            encoder=encoder or DEFAULT_ENCODER,
            head=head,
            labels=label_set.to_dict(),
            encoder_config=enc.config.to_dict(),
            **config_kwargs,
        )
        return cls(config, enc, tok)

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path | None = None, **kwargs: Any) -> NERModel:
        """Load a saved stage2 model, or build a new one on a bare encoder (extra ``kwargs`` then go
        to :meth:`from_encoder`: ``head``, ``labels``, ``case_embedding`` ...).
        """
        folder = stage2_folder(name_or_path)
        if folder is None:
            return cls.from_encoder(None if name_or_path is None else str(name_or_path), **kwargs)
        if kwargs:
            logger.warning("%s is a saved stage2 model: ignoring %s", folder, sorted(kwargs))
        from safetensors.torch import load_file
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        config = NERConfig.from_dict(read_config(folder / TORCH_CONFIG), folder / TORCH_CONFIG)
        enc_cfg = dict(config.encoder_config)
        model_type = enc_cfg.pop("model_type")
        encoder = AutoModel.from_config(AutoConfig.for_model(model_type, **enc_cfg))
        tokenizer = AutoTokenizer.from_pretrained(str(folder), trust_remote_code=False)  # model folders are untrusted
        model = cls(config, encoder, tokenizer)
        state = load_file(str(folder / WEIGHTS_NAME))
        missing, unexpected = model.load_state_dict(state, strict=False)
        if unexpected or [m for m in missing if "position_ids" not in m]:
            raise ValueError(f"{folder}: weights do not match the config (missing {missing}, unexpected {unexpected})")
        model.eval()
        return model

    def save_pretrained(self, path: str | Path) -> None:
        """Write weights (safetensors), config, tokenizer and a model card (README.md) to ``path``."""
        from safetensors.torch import save_file

        from stage2.model_card import ner_model_card

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.config.stage2_version = __version__
        state = {k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}
        save_file(state, str(path / WEIGHTS_NAME))
        (path / TORCH_CONFIG).write_text(json.dumps(self.config.to_dict(), indent=2), encoding="utf-8")
        self.tokenizer.save_pretrained(str(path))
        (path / "README.md").write_text(ner_model_card(self.config), encoding="utf-8")

    # ----------------------------------------------------------------- labels
    @property
    def labels(self) -> LabelSet:
        """The model's default label set (from its last training)."""
        return LabelSet.from_dict(self.config.labels)

    def resolve_labels(self, labels: LabelsArg) -> LabelSet:
        """The label set to use: the given one (validated) or the model's own."""
        fixed = self.config.head == HeadType.LINEAR.value or not self.config.open_labels
        return resolve_label_set(labels, self.labels, fixed, self.config.max_labels)

    def encode_labels(self, label_set: LabelSet) -> torch.Tensor:
        """Mean-pooled encoder embeddings ``[L, hidden]`` of the label prompts."""
        prompts = label_set.prompts(self.config.template)
        key = tuple(prompts)
        if not self.training and key in self._label_cache:
            return self._label_cache[key]
        device = self.device
        limit = self.config.max_length
        prompts = tokenizable(prompts)
        too_long = [p for p in prompts if len(self.tokenizer(p)["input_ids"]) > limit]
        if too_long:
            logger.warning("label prompts longer than %d subwords are cut to it: %s", limit, too_long)
        enc = self.tokenizer(prompts, padding=True, truncation=True, max_length=limit, return_tensors="pt")
        reader = self.encoder if self.label_encoder is None else self.label_encoder
        with torch.set_grad_enabled(torch.is_grad_enabled() and self.label_encoder is None):
            out = reader(input_ids=enc["input_ids"].to(device), attention_mask=enc["attention_mask"].to(device))
        mask = enc["attention_mask"].to(device).unsqueeze(-1).to(out.last_hidden_state.dtype)
        pooled = (out.last_hidden_state * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        if not self.training:
            if len(self._label_cache) > 64:
                self._label_cache.clear()
            self._label_cache[key] = pooled.detach()
        return pooled

    def train(self, mode: bool = True) -> NERModel:
        self._label_cache.clear()
        super().train(mode)
        if self.label_encoder is not None:  # never trained: no dropout either
            self.label_encoder.eval()
        return self

    @property
    def device(self) -> torch.device:
        """Where the weights live."""
        return next(self.parameters()).device

    # ----------------------------------------------------------------- forward
    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        shape_ids: torch.Tensor,
        label_embeddings: torch.Tensor | None = None,
        label_index: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Tag logits ``[batch, seq, 1 + 2L]`` (O, then B/I per label).

        ``label_embeddings`` (from :meth:`encode_labels`) is required by the label-semantic head;
        ``label_index`` selects columns of the linear head when predicting a subset of its labels.
        """
        hidden = self.dropout(self.encode_tokens(input_ids, attention_mask, shape_ids))
        if self.config.head == HeadType.LINEAR.value:
            logits = self.classifier(hidden)
            return logits if label_index is None else logits[..., linear_columns(label_index.tolist())]
        if label_embeddings is None:
            raise ValueError("the label-semantic head needs label_embeddings")
        lab = self.label_vectors(label_embeddings)  # [L, D]
        return label_scores(*self.token_outputs(hidden), lab, tag_scale(self.logit_scale), self.tag_bias)

    def encode_tokens(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, shape_ids: torch.Tensor
    ) -> torch.Tensor:
        """Last hidden states ``[B, T, H]`` of the encoder, with the case-shape embedding added to its input."""
        embeds = self.encoder.get_input_embeddings()(input_ids)
        if self.shape_embedding is not None:
            embeds = embeds + self.shape_embedding(shape_ids)
        return self.encoder(inputs_embeds=embeds, attention_mask=attention_mask).last_hidden_state

    def token_outputs(self, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Label-semantic head, token side: O logit ``[B, T]`` and unit begin/inside vectors ``[B, T, D]``."""
        begin = unit(self.begin_proj(hidden))
        inside = unit(self.inside_proj(hidden))
        if self.outside is None:  # sigmoid scoring: O is the fixed threshold, logit 0
            return hidden.new_zeros(hidden.shape[:-1]), begin, inside
        return self.outside(hidden).squeeze(-1), begin, inside

    def label_vectors(self, label_embeddings: torch.Tensor) -> torch.Tensor:
        """Label-semantic head, label side: unit vectors ``[L, D]`` from pooled label embeddings."""
        return label_vectors(label_embeddings, self.label_proj.weight, self.label_proj.bias)

    def logits_for(self, batch: dict[str, torch.Tensor], label_set: LabelSet) -> torch.Tensor:
        """Forward a collated batch for a label set (encodes the labels when the head needs them)."""
        device = self.device
        if self.config.head == HeadType.LINEAR.value:
            own = self.labels.keys
            index = torch.tensor([own.index(k) for k in label_set.keys])
            identity = index.tolist() == list(range(len(own)))
            return self(
                batch["input_ids"].to(device),
                batch["attention_mask"].to(device),
                batch["shape_ids"].to(device),
                label_index=None if identity else index,
            )
        if self.config.label_reading == LabelReading.JOINT.value:
            return self.joint_logits(
                batch["input_ids"].to(device),
                batch["attention_mask"].to(device),
                batch["shape_ids"].to(device),
                self.label_prefixes(label_set),
            )
        return self(
            batch["input_ids"].to(device),
            batch["attention_mask"].to(device),
            batch["shape_ids"].to(device),
            label_embeddings=self.encode_labels(label_set),
        )

    # ----------------------------------------------------------------- joint label reading
    def label_prefixes(self, label_set: LabelSet) -> list[JointPrefix]:
        """The label prompts as prefixes that fit beside a window of ``config.max_length`` subwords."""
        budget = joint_budget(int(self.encoder.config.max_position_embeddings), self.config.max_length)

        def tokenize(prompts: list[str]) -> list[list[int]]:
            return [self.tokenizer(p, add_special_tokens=False)["input_ids"] for p in tokenizable(prompts)]

        return self._prefix_cache.get(
            label_set.prompts(self.config.template), tokenize, special_ids(self.tokenizer), budget
        )

    def joint_logits(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        shape_ids: torch.Tensor,
        prefixes: Sequence[JointPrefix],
    ) -> torch.Tensor:
        """Tag logits ``[batch, seq, 1 + 2L]`` with the label prompts read after each window's first token.

        Every prefix is one pass; its labels' columns come from it, and the ``O`` logit (softmax
        scoring) is the mean over passes.
        """
        return merge_passes([self._joint_pass(input_ids, attention_mask, shape_ids, prefix) for prefix in prefixes])

    def _joint_pass(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, shape_ids: torch.Tensor, prefix: JointPrefix
    ) -> torch.Tensor:
        """One joint pass: the tag logits ``[B, T, 1 + 2L]`` of the prefix's labels."""
        n, p = input_ids.shape[0], len(prefix.ids)
        pre = torch.tensor(prefix.ids, dtype=input_ids.dtype, device=input_ids.device).expand(n, p)
        ids = torch.cat([input_ids[:, :1], pre, input_ids[:, 1:]], 1)
        mask = torch.cat([attention_mask[:, :1], attention_mask.new_ones(n, p), attention_mask[:, 1:]], 1)
        shapes = torch.cat([shape_ids[:, :1], shape_ids.new_zeros(n, p), shape_ids[:, 1:]], 1)
        hidden = self.encode_tokens(ids, mask, shapes)
        text = self.dropout(torch.cat([hidden[:, :1], hidden[:, 1 + p :]], 1))
        lab = prefix_label_vectors(prefix.pool_matrix(), hidden, self.label_proj.weight, self.label_proj.bias)
        return label_scores(*self.token_outputs(text), lab, tag_scale(self.logit_scale), self.tag_bias)


def labels_from_examples(examples: Sequence[NERExample]) -> list[Label]:
    """Default labels (readable names, no descriptions) for the types found in data."""
    from stage2.ner.data import entity_types

    return list(LabelSet.from_keys(entity_types(examples)))
