"""The summariser's sentence-scoring head, written once for the torch model (tensors, with gradients) and
the torch-free runtime (numpy arrays); see :mod:`stage2.arrays`.

The head's weights come by their state-dict names, which ``head.npz`` keeps: ``prior`` and
``dialogue_prior`` (feature weights), ``salience`` and ``dialogue_salience``, ``position_bias.weight``,
``sentence_proj.*``, ``context_proj.*``, ``mlp.0.*`` and ``mlp.2.*``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from stage2.arrays import Array, gelu, like, linear, namespace, to_numpy, unit
from stage2.summarization.features import feature_columns, focus_context, static_features


def relevance(emb: Array, prompt: Array) -> Array:
    """Cosine ``[n]`` of sentence embeddings ``[n, H]`` with the prompt embedding ``[H]``.

    >>> relevance(np.eye(2), np.array([1.0, 0.0])).tolist()
    [1.0, 0.0]
    """
    return unit(emb) @ unit(prompt)


def sentence_features(emb: Array, prompt: Array, sentences: Sequence[str], names: Sequence[str]) -> Array:
    """The hand-made features ``[n, F]`` named by ``names``: :func:`relevance` (differentiable) and
    :func:`~stage2.summarization.features.static_features` (constants of the sentences).

    >>> sentence_features(np.eye(2), np.ones(2), ["A b.", "C d e."], ["relevance", "length"]).shape
    (2, 2)
    """
    static = like(static_features(sentences, to_numpy(unit(emb))), emb)
    feats = namespace(emb).concatenate([relevance(emb, prompt)[:, None], static], axis=-1)
    return feats[:, feature_columns(names)]


def sentence_scores(
    head: Mapping[str, Array],
    emb: Array,
    prompt: Array,
    sentences: Sequence[str],
    config: Mapping[str, Any],
    extra_relevance: float = 0.0,
    dialogue: bool = False,
    feats: Array | None = None,
    focus: str | None = None,
) -> Array:
    """One logit per sentence (higher: belongs in the summary) from embeddings ``[n, H]``, the prompt
    embedding ``[H]`` and the ``head`` weights by name. ``config`` gives the feature names and the focus
    settings; ``extra_relevance`` adds weight to the relevance feature; ``dialogue`` picks the dialogue
    weights; ``feats``: the :func:`sentence_features`, when already computed; a ``focus`` (the user's text)
    adds :func:`~stage2.summarization.features.focus_context`, a constant of the sentences.
    """
    names = list(config["features"])
    feats = sentence_features(emb, prompt, sentences, names) if feats is None else feats
    base = feats @ head["dialogue_prior" if dialogue else "prior"]
    salience = head.get("dialogue_salience" if dialogue else "salience")
    if salience is not None:  # exports made before few-shot salience have none
        base = base + unit(emb) @ salience
    if extra_relevance and "relevance" in names:
        base = base + extra_relevance * feats[:, names.index("relevance")]
    if focus:
        context = focus_context(to_numpy(relevance(emb, prompt)), sentences, focus, config)
        base = base + like(context, base)
    return base + position_bias(head["position_bias.weight"], emb.shape[0]) + residual(head, emb, prompt, feats)


def position_bias(table: Array, n: int) -> Array:
    """The learnt bias ``[n]`` of each sentence's position bucket (``table`` ``[buckets, 1]``: the text's
    ``n`` sentences are split evenly over the buckets).

    >>> position_bias(np.array([[0.0], [1.0]]), 3).tolist()
    [0.0, 0.0, 1.0]
    """
    buckets = table.shape[0]
    bucket = np.minimum(np.arange(n) * buckets // max(n, 1), buckets - 1)
    return table[bucket.tolist(), 0]


def residual(head: Mapping[str, Array], emb: Array, prompt: Array, feats: Array) -> Array:
    """The learnt residual ``[n]``: a small MLP over the sentence-intent and sentence-document
    interactions (projected) and the features."""
    s = linear(emb, head["sentence_proj.weight"], head["sentence_proj.bias"])

    def context(x: Array) -> Array:
        return linear(x, head["context_proj.weight"], head["context_proj.bias"])

    x = namespace(emb).concatenate([s * context(prompt), s * context(emb.mean(0)), feats], axis=-1)
    hidden = gelu(linear(x, head["mlp.0.weight"], head["mlp.0.bias"]))
    return linear(hidden, head["mlp.2.weight"], head["mlp.2.bias"])[:, 0]
