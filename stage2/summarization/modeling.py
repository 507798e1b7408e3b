"""Extractive summariser: sentences and the summary intent are encoded by the same encoder.

Each sentence gets a score from hand-made features with learnable weights (one set for prose, one for
dialogues; see :mod:`stage2.summarization.features`): relevance to the intent (and the user's focus),
LexRank centrality, a lead-position prior, a length prior and two lexical-salience features; plus a
learned residual: a position-bucket bias and a small MLP over the sentence-intent and
sentence-document interactions. The residual starts at zero, so an untrained model is a sensible
zero-shot summariser and training refines it through one code path.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from stage2._version import __version__
from stage2.backbone import DEFAULT_ENCODER, load_encoder
from stage2.batching import chunk_ids, length_batches
from stage2.io import as_batch, tokenizable, warn_if_not_latin
from stage2.registry import TORCH_CONFIG, read_config
from stage2.summarization.config import WEIGHTS_NAME, SummarizerConfig, intent_prompt
from stage2.summarization.head import sentence_features, sentence_scores
from stage2.summarization.segmenting import is_dialogue
from stage2.summarization.selection import check_budget, summarize_document

logger = logging.getLogger(__name__)


class Summarizer(nn.Module):
    """A stage2 extractive summariser.

    >>> s = Summarizer.from_pretrained(None)  # doctest: +SKIP
    >>> s.summarize(article, max_sentences=3)["summary"]  # doctest: +SKIP
    """

    def __init__(self, config: SummarizerConfig, encoder: Any, tokenizer: Any) -> None:
        super().__init__()
        self.config = config
        self.encoder = encoder
        self.tokenizer = tokenizer
        hidden = int(encoder.config.hidden_size)
        dim = config.projection_dim
        # the scoring head's weights; its math is stage2.summarization.head (shared with the runtime)
        self.prior = nn.Parameter(torch.tensor([float(config.prior[f]) for f in config.features]))
        self.dialogue_prior = nn.Parameter(torch.tensor([float(config.dialogue_prior[f]) for f in config.features]))
        # a corpus's salient content, learned from a few documents (adaptation.fit_salience); zero: the prior
        self.salience = nn.Parameter(torch.zeros(hidden))
        self.dialogue_salience = nn.Parameter(torch.zeros(hidden))
        self.position_bias = nn.Embedding(config.position_buckets, 1)
        nn.init.zeros_(self.position_bias.weight)
        self.sentence_proj = nn.Linear(hidden, dim)
        self.context_proj = nn.Linear(hidden, dim)
        last = nn.Linear(128, 1)
        nn.init.zeros_(last.weight)  # the residual starts at zero: an untrained model is the zero-shot prior
        nn.init.zeros_(last.bias)
        self.mlp = nn.Sequential(nn.Linear(2 * dim + len(config.features), 128), nn.GELU(), last)
        self._prompt_cache: dict[str, torch.Tensor] = {}

    # ----------------------------------------------------------------- building and saving
    @classmethod
    def from_encoder(cls, encoder: str | None = None, **config_kwargs: Any) -> Summarizer:
        """A new summariser on a bare encoder (``None``: the bundled default)."""
        enc, tok = load_encoder(encoder)
        config = SummarizerConfig(
            encoder=encoder or DEFAULT_ENCODER, encoder_config=enc.config.to_dict(), **config_kwargs
        )
        return cls(config, enc, tok)

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path | None = None, **kwargs: Any) -> Summarizer:
        """Load a saved stage2 summariser, or build one on a bare encoder (local path or hub id)."""
        folder = Path(name_or_path) if name_or_path is not None else None
        if folder is None or not (folder / TORCH_CONFIG).exists():
            return cls.from_encoder(None if name_or_path is None else str(name_or_path), **kwargs)
        from safetensors.torch import load_file
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        config = SummarizerConfig.from_dict(read_config(folder / TORCH_CONFIG), folder / TORCH_CONFIG)
        enc_cfg = dict(config.encoder_config)
        encoder = AutoModel.from_config(AutoConfig.for_model(enc_cfg.pop("model_type"), **enc_cfg))
        model = cls(config, encoder, AutoTokenizer.from_pretrained(str(folder), trust_remote_code=False))
        missing, unexpected = model.load_state_dict(load_file(str(folder / WEIGHTS_NAME)), strict=False)
        optional = ("position_ids", "salience")  # buffers; salience vectors are zero in older models
        if unexpected or [m for m in missing if not any(o in m for o in optional)]:
            raise ValueError(f"{folder}: weights do not match the config (missing {missing}, unexpected {unexpected})")
        return model.eval()

    def save_pretrained(self, path: str | Path) -> None:
        """Write weights (safetensors), config, tokenizer and a model card to ``path``."""
        from safetensors.torch import save_file

        from stage2.model_card import summarizer_model_card

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.config.stage2_version = __version__
        for name in ("prior", "dialogue_prior"):
            weights = zip(self.config.features, getattr(self, name).tolist(), strict=True)
            setattr(self.config, name, {f: round(float(v), 6) for f, v in weights})
        save_file({k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}, str(path / WEIGHTS_NAME))
        (path / TORCH_CONFIG).write_text(json.dumps(self.config.to_dict(), indent=2), encoding="utf-8")
        self.tokenizer.save_pretrained(str(path))
        (path / "README.md").write_text(summarizer_model_card(self.config), encoding="utf-8")

    @property
    def device(self) -> torch.device:
        """Where the weights live."""
        return next(self.parameters()).device

    def train(self, mode: bool = True) -> Summarizer:
        self._prompt_cache.clear()
        return super().train(mode)

    # ----------------------------------------------------------------- encoding
    def embed(self, texts: Sequence[str], batch_size: int = 64) -> torch.Tensor:
        """Mean-pooled embeddings ``[N, hidden]``. A text longer than a window is encoded in chunks
        whose embeddings are averaged, weighted by their token counts: nothing is cut off.
        """
        if not texts:
            return torch.zeros((0, int(self.encoder.config.hidden_size)), device=self.device)
        budget = self.config.max_length - 2
        ids = self.tokenizer(tokenizable(texts), add_special_tokens=False)["input_ids"]
        cls_id = self.tokenizer.cls_token_id if self.tokenizer.cls_token_id is not None else self.tokenizer.bos_token_id
        sep_id = self.tokenizer.sep_token_id if self.tokenizer.sep_token_id is not None else self.tokenizer.eos_token_id
        chunks, owner = chunk_ids(ids, budget, cls_id, sep_id, self.tokenizer.unk_token_id or 0)
        pooled = torch.zeros((len(chunks), int(self.encoder.config.hidden_size)), device=self.device)
        weights = torch.zeros(len(chunks), device=self.device)
        pad = self.tokenizer.pad_token_id or 0
        for part in length_batches([len(c) for c in chunks], batch_size):
            length = max(len(chunks[c]) for c in part)
            input_ids = torch.full((len(part), length), pad, dtype=torch.long)
            mask = torch.zeros((len(part), length), dtype=torch.long)
            for row, c in enumerate(part):
                input_ids[row, : len(chunks[c])] = torch.tensor(chunks[c])
                mask[row, : len(chunks[c])] = 1
            out = self.encoder(input_ids=input_ids.to(self.device), attention_mask=mask.to(self.device))
            m = mask.to(self.device).unsqueeze(-1).to(out.last_hidden_state.dtype)
            index = torch.tensor(part, device=self.device)
            pooled = pooled.index_copy(0, index, (out.last_hidden_state * m).sum(1) / m.sum(1))
            weights = weights.index_copy(0, index, m.sum((1, 2)))
        owner_t = torch.tensor(owner, device=self.device)
        total = torch.zeros((len(texts), pooled.shape[1]), device=self.device).index_add(
            0, owner_t, pooled * weights[:, None]
        )
        norm = torch.zeros(len(texts), device=self.device).index_add(0, owner_t, weights)
        return total / norm[:, None]

    def intent_prompt(self, document: str, focus: str | None = None) -> str:
        """The natural-language intent the sentences are scored against."""
        return intent_prompt(self.config.to_dict(), is_dialogue(document), focus)

    def _prompt_embedding(self, prompt: str) -> torch.Tensor:
        if not self.training and prompt in self._prompt_cache:
            return self._prompt_cache[prompt]
        emb = self.embed([prompt])[0]
        if not self.training:
            self._prompt_cache[prompt] = emb.detach()
        return emb

    # ----------------------------------------------------------------- scoring
    def score_sentences(
        self,
        sentences: Sequence[str],
        prompt: str,
        extra_relevance: float = 0.0,
        dialogue: bool = False,
        focus: str | None = None,
    ) -> torch.Tensor:
        """One logit per sentence (higher: belongs in the summary); ``extra_relevance`` adds weight to
        the relevance feature (used when the user gives a focus); ``dialogue`` picks the dialogue weights;
        ``focus`` (the user's text) adds its neighbourhood term.
        """
        if not sentences:
            return torch.zeros(0, device=self.device)
        return self.score_embeddings(
            self.embed(sentences), self._prompt_embedding(prompt), sentences, extra_relevance, dialogue, focus=focus
        )

    def features(self, emb: torch.Tensor, prompt: torch.Tensor, sentences: Sequence[str]) -> torch.Tensor:
        """The hand-made features ``[n, F]`` named by ``config.features``: cosine relevance to the
        intent (differentiable) and :func:`~stage2.summarization.features.static_features`.
        """
        return sentence_features(emb, prompt, sentences, self.config.features)

    def score_embeddings(
        self,
        emb: torch.Tensor,
        prompt: torch.Tensor,
        sentences: Sequence[str],
        extra_relevance: float = 0.0,
        dialogue: bool = False,
        feats: torch.Tensor | None = None,
        focus: str | None = None,
    ) -> torch.Tensor:
        """Scores from precomputed sentence embeddings ``[n, H]`` and the prompt embedding ``[H]``
        (``feats``: the sentences' :meth:`features`, when already computed). A ``focus`` adds
        :func:`~stage2.summarization.features.focus_context`, a constant of the sentences (no gradient).
        """
        return sentence_scores(
            self.head_weights(), emb, prompt, sentences, vars(self.config), extra_relevance, dialogue, feats, focus
        )

    def head_weights(self) -> dict[str, torch.Tensor]:
        """The scoring head's parameters by their state-dict names (those ``head.npz`` keeps)."""
        return {k: v for k, v in self.named_parameters() if not k.startswith("encoder.")}

    # ----------------------------------------------------------------- summarising
    @torch.no_grad()
    def summarize(
        self,
        document: str | Sequence[str],
        max_sentences: int | None = None,
        max_words: int | None = None,
        ratio: float | None = None,
        focus: str | None = None,
    ) -> dict[str, Any] | list[dict[str, Any]]:
        """Summarise one document (returns a dict) or a batch (a list of dicts).

        Each result is ``{"summary": str, "sentences": [{"index", "text", "start", "end", "score"}]}``
        with the chosen sentences in document order. Give one of ``max_sentences`` (default 3),
        ``max_words`` or ``ratio`` (of the document's words). Empty documents give an empty summary;
        a document with fewer sentences than asked gives all of them.
        """
        check_budget(max_sentences, max_words, ratio, focus)
        docs, single = as_batch(document, "document")
        warn_if_not_latin(docs, "document")
        was_training = self.training
        self.eval()
        try:
            results = self._summarize_all(docs, max_sentences, max_words, ratio, focus)
        finally:
            self.train(was_training)
        return results[0] if single else results

    def _summarize_all(
        self,
        docs: Sequence[str],
        max_sentences: int | None,
        max_words: int | None,
        ratio: float | None,
        focus: str | None,
    ) -> list[dict[str, Any]]:
        config = self.config.to_dict()

        def score(texts: list[str], prompt: str, boost: float, dialogue: bool, focus: str | None) -> np.ndarray:
            return self.score_sentences(texts, prompt, boost, dialogue, focus).float().cpu().numpy()

        def embed(texts: list[str]) -> np.ndarray:
            return self.embed(texts).float().cpu().numpy()

        return [summarize_document(doc, config, score, embed, max_sentences, max_words, ratio, focus) for doc in docs]
