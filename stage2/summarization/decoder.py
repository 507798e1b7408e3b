"""The written summariser's layers: its config, the decoder (causal self-attention with a key/value cache,
cross-attention, a copy gate over the source) and the trained top encoder layers, with their warm start
from a BERT layer. :mod:`stage2.summarization.abstractive` puts them together.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, cast

import torch
from torch import nn


@dataclass
class AbstractiveConfig:
    """Shape of the decoder and how sources are read."""

    encoder: str = field(default="", metadata={"help": "encoder path or hub id the model was built from"})
    decoder_layers: list[int] = field(default_factory=lambda: [0, 5], metadata={"help": "encoder layers reused"})
    copy: bool = field(default=True, metadata={"help": "pointer-generator copying from the source"})
    window: int = field(default=256, metadata={"help": "subwords per encoder window (specials included)"})
    max_summary: int = field(default=64, metadata={"help": "longest training summary, in subwords"})
    train_top: int = field(default=0, metadata={"help": "top encoder layers trained (the rest stay frozen)"})
    hidden: int = 384
    heads: int = 12
    intermediate: int = 1536
    max_positions: int = 512
    eps: float = 1e-12

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings."""
        return asdict(self)


class TopLayer(nn.Module):
    """A trained copy of one of the encoder's top layers (post-LayerNorm BERT), run on the frozen layers' output."""

    def __init__(self, cfg: AbstractiveConfig) -> None:
        super().__init__()
        h = cfg.hidden
        self.heads = cfg.heads
        self.q, self.k, self.v, self.o = (nn.Linear(h, h) for _ in range(4))
        self.ln_self, self.ln_ffn = (nn.LayerNorm(h, eps=cfg.eps) for _ in range(2))
        self.ffn_in = nn.Linear(h, cfg.intermediate)
        self.ffn_out = nn.Linear(cfg.intermediate, h)
        self.drop = nn.Dropout(0.1)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """``x [B, S, H]``; ``bias`` is added to the attention scores (``[B, 1, 1 or S, S]``: padding, windows)."""
        b, s, h = x.shape
        d = h // self.heads

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(b, s, self.heads, d).transpose(1, 2)

        scores = split(self.q(x)) @ split(self.k(x)).transpose(-1, -2) / math.sqrt(d) + bias
        att = (self.drop(scores.softmax(-1)) @ split(self.v(x))).transpose(1, 2).reshape(b, s, h)
        x = self.ln_self(x + self.drop(self.o(att)))
        return self.ln_ffn(x + self.drop(self.ffn_out(nn.functional.gelu(self.ffn_in(x)))))


class DecoderLayer(nn.Module):
    """Post-LayerNorm BERT layer with causal self-attention, cross-attention and a feed-forward."""

    def __init__(self, cfg: AbstractiveConfig) -> None:
        super().__init__()
        h = cfg.hidden
        self.heads = cfg.heads
        self.q, self.k, self.v, self.o = (nn.Linear(h, h) for _ in range(4))
        self.cq, self.ck, self.cv, self.co = (nn.Linear(h, h) for _ in range(4))
        self.ln_self, self.ln_cross, self.ln_ffn = (nn.LayerNorm(h, eps=cfg.eps) for _ in range(3))
        self.ffn_in = nn.Linear(h, cfg.intermediate)
        self.ffn_out = nn.Linear(cfg.intermediate, h)
        self.drop = nn.Dropout(0.1)

    def split(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, T, H]`` -> ``[B, heads, T, H/heads]``."""
        b, t, h = x.shape
        return x.view(b, t, self.heads, h // self.heads).transpose(1, 2)

    def cross_kv(self, memory: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys ``[B, heads, d, S]`` (transposed for the product) and values ``[B, heads, S, d]`` of the encoder
        outputs: computed once per document, laid out so that a decoding step copies neither."""
        return self.split(self.ck(memory)).transpose(-1, -2), self.split(self.cv(memory))

    def forward(
        self, x: torch.Tensor, past: torch.Tensor, ck: torch.Tensor, cv: torch.Tensor, memory_bias: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One layer over ``x [B, T, H]`` after ``past [2, B, heads, P, d]`` keys/values, reading the source's
        ``ck``/``cv`` (:meth:`cross_kv`); returns the output, the keys/values to keep and the cross-attention
        weights ``[B, heads, T, S]``."""
        b, t, h = x.shape
        d = h // self.heads
        k = torch.cat([past[0], self.split(self.k(x))], dim=2)
        v = torch.cat([past[1], self.split(self.v(x))], dim=2)
        scores = self.split(self.q(x)) @ k.transpose(-1, -2) / math.sqrt(d)
        if t > 1:  # teacher forcing from an empty past: a causal mask (one step at a time needs none)
            scores = scores.masked_fill(torch.ones(t, t, dtype=torch.bool, device=x.device).triu(1), -1e4)
        att = (self.drop(scores.softmax(-1)) @ v).transpose(1, 2).reshape(b, t, h)
        x = self.ln_self(x + self.drop(self.o(att)))
        scores = self.split(self.cq(x)) @ ck / math.sqrt(d) + memory_bias
        weights = scores.softmax(-1)
        att = (self.drop(weights) @ cv).transpose(1, 2).reshape(b, t, h)
        x = self.ln_cross(x + self.drop(self.co(att)))
        x = self.ln_ffn(x + self.drop(self.ffn_out(nn.functional.gelu(self.ffn_in(x)))))
        return x, torch.stack([k, v]), weights


class CopyDecoder(nn.Module):
    """The decoder: positions, layers, an output transform tied to the (frozen) word embeddings, a copy gate."""

    def __init__(self, cfg: AbstractiveConfig, vocab_size: int) -> None:
        super().__init__()
        self.cfg = cfg
        h = cfg.hidden
        self.positions = nn.Embedding(cfg.max_positions, h)
        self.token_type = nn.Parameter(torch.zeros(h))
        self.ln_embed = nn.LayerNorm(h, eps=cfg.eps)
        self.layers = nn.ModuleList(DecoderLayer(cfg) for _ in cfg.decoder_layers)
        self.transform = nn.Sequential(nn.Linear(h, h), nn.GELU(), nn.LayerNorm(h, eps=cfg.eps))
        self.bias = nn.Parameter(torch.zeros(vocab_size))
        self.gate = nn.Linear(2 * h, 1)
        self.drop = nn.Dropout(0.1)

    def cross_kv(self, memory: torch.Tensor) -> list[torch.Tensor]:
        """Every layer's cross keys and values of ``memory [B, S, H]``: ``[k0, v0, k1, v1, ...]``."""
        return [t for layer in self.layers for t in cast(DecoderLayer, layer).cross_kv(memory)]

    def forward(
        self,
        ids: torch.Tensor,
        positions: torch.Tensor,
        past: torch.Tensor,
        cross: list[torch.Tensor],
        source_ids: torch.Tensor,
        source_mask: torch.Tensor,
        words: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probabilities ``[B, T, V]`` of the next subword after ``ids [B, T]``, and the new past
        ``[layers, 2, B, heads, P + T, d]``. ``cross`` is :meth:`cross_kv` of the source; ``words`` the
        word-embedding matrix."""
        emb = nn.functional.embedding(ids, words)
        x = self.drop(self.ln_embed(emb + self.positions(positions) + self.token_type))
        bias = ((1.0 - source_mask.to(x.dtype)) * -1e4)[:, None, None, :]
        presents = []
        for i, layer in enumerate(self.layers):
            x, present, weights = layer(x, past[i], cross[2 * i], cross[2 * i + 1], bias)
            presents.append(present)
        logits = self.transform(x) @ words.T + self.bias
        if not self.cfg.copy:
            return logits.log_softmax(-1), torch.stack(presents)
        gate = torch.sigmoid(self.gate(torch.cat([x, emb], dim=-1)))
        attention = weights.mean(dim=1)  # the last layer's cross-attention, [B, T, S]
        index = source_ids[:, None, :].expand(-1, ids.shape[1], -1)
        copied = torch.zeros_like(logits).scatter_add(-1, index, attention)
        probs = gate * logits.softmax(-1) + (1.0 - gate) * copied
        return torch.log(probs.clamp_min(1e-10)), torch.stack(presents)

    def empty_past(self, batch: int) -> torch.Tensor:
        """The past before the first step (no keys yet)."""
        c = self.cfg
        return torch.zeros(len(self.layers), 2, batch, c.heads, 0, c.hidden // c.heads)


def warm_start(new: DecoderLayer | TopLayer, old: Any) -> None:
    """Copy a BERT layer into a decoder (or top) layer; a cross-attention starts as a copy of the self-attention."""
    att = old.attention
    pairs = [
        (new.q, att.self.query),
        (new.k, att.self.key),
        (new.v, att.self.value),
        (new.o, att.output.dense),
        (new.ffn_in, old.intermediate.dense),
        (new.ffn_out, old.output.dense),
        (new.ln_self, att.output.LayerNorm),
        (new.ln_ffn, old.output.LayerNorm),
    ]
    if isinstance(new, DecoderLayer):
        pairs += [
            (new.cq, att.self.query),
            (new.ck, att.self.key),
            (new.cv, att.self.value),
            (new.co, att.output.dense),
            (new.ln_cross, att.output.LayerNorm),
        ]
    for mine, theirs in pairs:
        mine.load_state_dict(theirs.state_dict())
