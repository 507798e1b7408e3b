"""A written (abstractive) summariser warm-started from the small encoder (BERT2BERT, Rothe et al. 2020).

The encoder (the bundled MiniLM by default) stays frozen, so its outputs can be computed once per document
and cached for training. The decoder is a few of the encoder's own layers, each given a cross-attention
(initialised from the layer's self-attention) and a copy gate (pointer-generator, See et al. 2017): the next
word is drawn from the vocabulary or copied from the source through the last layer's cross-attention. Word
embeddings are the encoder's (frozen), used for the decoder's input and, tied, for its output.

Long documents are read in windows of ``window`` subwords whose encoder outputs are joined, so nothing is
cut off. The same search (:mod:`stage2.summarization.generation`) decodes torch and ONNX models.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from stage2._version import __version__
from stage2.batching import chunk_ids
from stage2.formats import MODEL_FORMAT
from stage2.registry import TORCH_CONFIG, read_config
from stage2.summarization.decoder import AbstractiveConfig, CopyDecoder, DecoderLayer, TopLayer, warm_start

logger = logging.getLogger(__name__)

TASK = "written-summarization"
WEIGHTS = "model.safetensors"


class AbstractiveSummarizer(nn.Module):
    """Frozen encoder + copy decoder. ``summarize`` returns ``{"summary", "sentences": [], "abstractive": True,
    "unsupported": [...]}``."""

    def __init__(self, encoder: Any, tokenizer: Any, cfg: AbstractiveConfig) -> None:
        super().__init__()
        self.encoder = encoder
        self.tokenizer = tokenizer
        self.cfg = cfg
        self.decoder = CopyDecoder(cfg, encoder.config.vocab_size)
        self.top = nn.ModuleList(TopLayer(cfg) for _ in range(cfg.train_top))
        for p in self.encoder.parameters():
            p.requires_grad_(False)
        self.card: dict[str, Any] = {}

    @classmethod
    def build(cls, encoder_path: str | None = None, **settings: Any) -> AbstractiveSummarizer:
        """A new model from an encoder: the decoder layers copied from the encoder's ``decoder_layers``."""
        from stage2.backbone import load_encoder, resolve_encoder

        encoder, tokenizer = load_encoder(encoder_path)
        encoder.pooler = None  # not used; the saved model has none
        ec = encoder.config
        cfg = AbstractiveConfig(
            encoder=resolve_encoder(encoder_path),
            hidden=ec.hidden_size,
            heads=ec.num_attention_heads,
            intermediate=ec.intermediate_size,
            max_positions=ec.max_position_embeddings,
            eps=ec.layer_norm_eps,
            **settings,
        )
        model = cls(encoder, tokenizer, cfg)
        model.decoder.positions.weight.data.copy_(encoder.embeddings.position_embeddings.weight)
        model.decoder.token_type.data.copy_(encoder.embeddings.token_type_embeddings.weight[0])
        model.decoder.ln_embed.load_state_dict(encoder.embeddings.LayerNorm.state_dict())
        for new, old in zip(model.decoder.layers, cfg.decoder_layers, strict=True):
            warm_start(cast(DecoderLayer, new), encoder.encoder.layer[old])
        if cfg.train_top:  # the top layers move out of the frozen encoder into trained copies
            layers = encoder.encoder.layer
            frozen = len(layers) - cfg.train_top
            for new, old in zip(model.top, layers[frozen:], strict=True):
                warm_start(cast(TopLayer, new), old)
            encoder.encoder.layer = nn.ModuleList(layers[:frozen])
            encoder.config.num_hidden_layers = frozen
        return model

    def refine(self, memory: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """The trained top layers over the frozen encoder's output (nothing without them)."""
        for layer in self.top:
            memory = layer(memory, bias)
        return memory

    def train(self, mode: bool = True) -> AbstractiveSummarizer:
        """Train the decoder; the frozen encoder always runs in eval mode (its cached outputs stay exact)."""
        super().train(mode)
        self.encoder.eval()
        return self

    @property
    def words(self) -> torch.Tensor:
        """The shared word-embedding matrix."""
        return self.encoder.embeddings.word_embeddings.weight

    def windows(self, text: str) -> list[list[int]]:
        """The encoder windows covering ``text`` (none is cut)."""
        tok = self.tokenizer
        ids = tok(text, add_special_tokens=False)["input_ids"]
        return chunk_ids([ids], self.cfg.window - 2, tok.cls_token_id, tok.sep_token_id, tok.unk_token_id)[0]

    @torch.no_grad()
    def encode(self, texts: Sequence[str]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per text, the joined encoder outputs of its windows ``[S, H]`` and their subword ids ``[S]``."""
        out = []
        for text in texts:
            wins = self.windows(text)
            width = max(len(w) for w in wins)
            ids = torch.tensor([w + [self.tokenizer.pad_token_id] * (width - len(w)) for w in wins])
            mask = (ids != self.tokenizer.pad_token_id).long()
            hidden = self.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
            hidden = self.refine(hidden, ((1.0 - mask.float()) * -1e4)[:, None, None, :])
            keep = mask.bool()
            out.append((hidden[keep], ids[keep]))
        return out

    def save_pretrained(self, path: str | Path) -> None:
        """Save the weights (safetensors), tokenizer and settings."""
        from safetensors.torch import save_file

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        state = {k: v.contiguous() for k, v in self.state_dict().items() if not k.startswith("encoder.pooler")}
        save_file(state, str(path / WEIGHTS))
        self.tokenizer.save_pretrained(str(path))
        (path / "encoder_config.json").write_text(self.encoder.config.to_json_string(), encoding="utf-8")
        settings = {
            "task": TASK,
            "format": MODEL_FORMAT,
            "config": self.cfg.to_dict(),
            "card": self.card,
            "stage2_version": __version__,
        }
        (path / TORCH_CONFIG).write_text(json.dumps(settings, indent=2), encoding="utf-8")

    @classmethod
    def from_pretrained(cls, path: str | Path, **kwargs: Any) -> AbstractiveSummarizer:
        """Load a saved model (no remote code, no file outside ``path``)."""
        from safetensors.torch import load_file
        from transformers import AutoTokenizer, BertConfig, BertModel

        path = Path(path)
        settings = read_config(path / TORCH_CONFIG)
        cfg = AbstractiveConfig(**settings["config"])
        encoder = BertModel(BertConfig.from_json_file(str(path / "encoder_config.json")), add_pooling_layer=False)
        tokenizer = AutoTokenizer.from_pretrained(str(path), trust_remote_code=False, local_files_only=True)
        model = cls(encoder, tokenizer, cfg)
        state = load_file(str(path / WEIGHTS))
        missing, unexpected = model.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ValueError(f"{path / WEIGHTS}: weights do not fit the config (missing {missing}, extra {unexpected})")
        model.card = settings.get("card", {})
        return model.eval()

    def summarize(
        self,
        document: str | Sequence[str],
        max_sentences: int | None = None,
        max_words: int | None = None,
        ratio: float | None = None,
        focus: str | None = None,
        num_beams: int = 4,
        **kwargs: Any,
    ) -> dict[str, Any] | list[dict[str, Any]]:
        """Write a summary per document (see :func:`stage2.summarization.generation.write_summaries`)."""
        from stage2.runtime import name_finder
        from stage2.summarization.generation import write_summaries

        return write_summaries(
            TorchSteps(self), document, max_sentences, max_words, ratio, focus, num_beams, names=name_finder, **kwargs
        )


def cross_names(layers: int) -> list[str]:
    """Names of the source's cross keys/values, as the step graph's inputs: ``cross_k0, cross_v0, ...``."""
    return [f"cross_{kind}{i}" for i in range(layers) for kind in ("k", "v")]


def copy_ids(ids: torch.Tensor, tokenizer: Any) -> torch.Tensor:
    """Source subword ids as copy targets: the window markers become padding, which is never generated."""
    special = (ids == tokenizer.cls_token_id) | (ids == tokenizer.sep_token_id)
    return ids.masked_fill(special, tokenizer.pad_token_id)


class TorchSteps:
    """The decoding steps of a torch model, in numpy (what :mod:`stage2.summarization.generation` drives)."""

    def __init__(self, model: AbstractiveSummarizer) -> None:
        self.model = model.eval()
        tok = model.tokenizer
        self.tokenizer = tok
        self.start_id, self.end_id, self.pad_id = tok.cls_token_id, tok.sep_token_id, tok.pad_token_id

    @torch.no_grad()
    def source(self, text: str) -> dict[str, np.ndarray]:
        """What the decoder reads of ``text``: cross keys/values ``[1, S, L*2H]`` and source ids ``[1, S]``."""
        memory, ids = self.model.encode([text])[0]
        cross = self.model.decoder.cross_kv(memory[None])
        out = {name: t.numpy() for name, t in zip(cross_names(len(cross) // 2), cross, strict=True)}
        return {**out, "source_ids": copy_ids(ids, self.tokenizer)[None].numpy()}

    def decode(self, ids: list[int]) -> str:
        """Text of generated subwords (specials dropped)."""
        return str(self.tokenizer.backend_tokenizer.decode(ids, skip_special_tokens=True))

    @torch.no_grad()
    def step(
        self, ids: np.ndarray, positions: np.ndarray, past: np.ndarray | None, source: dict[str, np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Log-probabilities ``[B, V]`` of the next subword and the new past."""
        batch = ids.shape[0]
        past_t = self.model.decoder.empty_past(batch) if past is None else torch.from_numpy(past)
        source_ids = torch.from_numpy(source["source_ids"])
        logp, present = self.model.decoder(
            torch.from_numpy(ids),
            torch.from_numpy(positions),
            past_t,
            [torch.from_numpy(source[name]) for name in cross_names(len(self.model.cfg.decoder_layers))],
            source_ids,
            torch.ones_like(source_ids),
            self.model.words,
        )
        return logp[:, -1].numpy(), present.numpy()
