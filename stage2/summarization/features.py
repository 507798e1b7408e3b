"""Hand-made sentence features of the extractive summariser, in numpy, shared by the torch model
and the ONNX runtime so both score a document identically.

Besides relevance to the intent (computed by each backend from its own embeddings), a sentence is
described by its LexRank centrality, its position, its length and two lexical-salience features in
the spirit of Luhn (1958) and SumBasic: how frequent its content words are in the document
(``frequency``, the mean document count of its content words) and how much of the document's
frequent vocabulary it covers (``coverage``, the sum of those counts); both are scaled so that the
document's best sentence scores 1.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

FEATURES = ("relevance", "centrality", "position", "length", "frequency", "coverage")
"""The feature order of :func:`static_features` (after ``relevance``) and of the prior weights."""

_STOPWORDS = """a about above after again against all also am an and any are aren't as at be because been before being
    below between both but by can can't cannot could couldn't did didn't do does doesn't doing don't down during
    each few for from further had hadn't has hasn't have haven't having he he'd he'll he's her here here's hers
    herself him himself his how how's i i'd i'll i'm i've if in into is isn't it it's its itself just let's me
    more most mr mrs ms much must my myself no nor not now of off on once only or other ought our ours ourselves
    out over own said same say says she she'd she'll she's should shouldn't so some such than that that's the
    their theirs them themselves then there there's these they they'd they'll they're they've this those
    through to too under until up us very was wasn't we we'd we'll we're we've were weren't what what's when
    when's where where's which while who who's whom why why's will with won't would wouldn't yet you you'd
    you'll you're you've your yours yourself yourselves one two three new"""
STOPWORDS = frozenset(_STOPWORDS.split())
"""English function words left out of the lexical-salience counts."""

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def feature_columns(names: Sequence[str]) -> list[int]:
    """Columns of ``names`` in the full feature matrix (relevance, then :func:`static_features`)."""
    return [FEATURES.index(name) for name in names]


def content_words(text: str) -> list[str]:
    """Lower-cased words of ``text`` that are not stop words."""
    return [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS]


LEXRANK_BLOCK = 2048
"""Sentences LexRank compares all against all; a longer document is ranked in consecutive blocks of
at most this many (memory and time linear in sentences beyond it, not quadratic)."""


def lexrank(
    unit: np.ndarray,
    threshold: float = 0.1,
    damping: float = 0.85,
    iterations: int = 30,
    block: int = LEXRANK_BLOCK,
) -> np.ndarray:
    """LexRank scores (sum to 1) of sentences from their unit-length embeddings ``[n, H]``.

    Up to ``block`` sentences are ranked all against all; beyond it, each of ``ceil(n / block)``
    near-equal consecutive blocks is ranked on its own and weighted by its share of the sentences.
    """
    n = unit.shape[0]
    if n <= block:
        return _lexrank_dense(unit, threshold, damping, iterations)
    parts = -(-n // block)
    bounds = np.linspace(0, n, parts + 1).round().astype(int)
    return np.concatenate(
        [
            _lexrank_dense(unit[a:b], threshold, damping, iterations) * ((b - a) / n)
            for a, b in itertools.pairwise(bounds.tolist())
        ]
    )


def _lexrank_dense(unit: np.ndarray, threshold: float, damping: float, iterations: int) -> np.ndarray:
    n = unit.shape[0]
    sim = unit @ unit.T
    np.clip(sim, 0.0, None, out=sim)
    np.fill_diagonal(sim, 0.0)
    sim[sim < threshold] = 0.0
    rows = sim.sum(axis=1, keepdims=True)
    trans = np.where(rows > 0, sim / np.maximum(rows, 1e-9), 1.0 / n)
    del sim
    rank = np.full(n, 1.0 / n, dtype=unit.dtype)
    for _ in range(iterations):
        rank = (1.0 - damping) / n + damping * (trans.T @ rank)
    return rank


def lexical_salience(sentences: Sequence[str]) -> np.ndarray:
    """``[n, 2]``: the ``frequency`` and ``coverage`` features of each sentence (see the module doc).

    >>> sentences = ["Rates rise.", "Rates rise again, banks say.", "Weather is fine."]
    >>> lexical_salience(sentences).astype(float).round(2).tolist()
    [[1.0, 0.8], [0.83, 1.0], [0.5, 0.4]]
    """
    words = [content_words(s) for s in sentences]
    counts = Counter(w for ws in words for w in ws)
    frequency = np.array([np.mean([counts[w] for w in ws]) if ws else 0.0 for ws in words])
    coverage = np.array([float(sum(counts[w] for w in ws)) for ws in words])
    frequency = frequency / max(float(frequency.max(initial=0.0)), 1e-9)
    coverage = coverage / max(float(coverage.max(initial=0.0)), 1e-9)
    return np.stack([frequency, coverage], axis=-1).astype(np.float32)


def static_features(sentences: Sequence[str], unit: np.ndarray) -> np.ndarray:
    """``[n, 5]`` features of a document's sentences other than relevance, in :data:`FEATURES` order:
    LexRank centrality (scaled to mean 0), a lead prior ``1/sqrt(1 + position)``, a length prior
    ``log(1 + words) / 4`` and the two lexical-salience features. ``unit`` holds the sentences'
    unit-length embeddings ``[n, H]``.
    """
    n = len(sentences)
    if n == 0:
        return np.zeros((0, len(FEATURES) - 1), dtype=np.float32)
    centrality = lexrank(unit.astype(np.float64)) * n - 1.0
    position = 1.0 / np.sqrt(1.0 + np.arange(n, dtype=np.float64))
    length = np.log1p(np.array([len(s.split()) for s in sentences], dtype=np.float64)) / 4.0
    basic = np.stack([centrality, position, length], axis=-1).astype(np.float32)
    return np.concatenate([basic, lexical_salience(sentences)], axis=-1)


def bm25(sentences: Sequence[str], query: str, k1: float = 1.5, b: float = 0.75) -> np.ndarray:
    """Okapi BM25 of each sentence for the words of ``query``, the sentences being the collection
    (idf ``log(1 + (N - df + 0.5) / (df + 0.5))``, never negative).

    >>> bm25(["the budget is late", "we like the colour", "budget budget"], "budget").round(2).tolist()
    [0.43, 0.0, 0.77]
    """
    docs = [_WORD.findall(s.lower()) for s in sentences]
    n = len(docs)
    if n == 0:
        return np.zeros(0, dtype=np.float64)
    lengths = np.array([len(d) for d in docs], dtype=np.float64)
    norm = k1 * (1.0 - b + b * lengths / max(float(lengths.mean()), 1e-9))
    counts = [Counter(d) for d in docs]
    out = np.zeros(n, dtype=np.float64)
    for word in set(_WORD.findall(query.lower())):
        tf = np.array([c[word] for c in counts], dtype=np.float64)
        df = float((tf > 0).sum())
        if df:
            out += np.log1p((n - df + 0.5) / (df + 0.5)) * tf * (k1 + 1.0) / (tf + norm)
    return out


def window_mean(values: np.ndarray, window: int) -> np.ndarray:
    """The mean of ``values`` over each position's ``window`` neighbours on either side (fewer at the ends)."""
    n = values.size
    if window <= 0 or n == 0:
        return values.astype(np.float64)
    total = np.concatenate([[0.0], np.cumsum(values, dtype=np.float64)])
    lo = np.maximum(np.arange(n) - window, 0)
    hi = np.minimum(np.arange(n) + window + 1, n)
    return (total[hi] - total[lo]) / (hi - lo)


def standardise(values: np.ndarray) -> np.ndarray:
    """``values`` centred and scaled to unit deviation; all zeros when they (nearly) do not vary."""
    spread = float(values.std()) if values.size else 0.0
    if spread < 1e-6:
        return np.zeros_like(values, dtype=np.float64)
    return (values - values.mean()) / spread


WINDOW_FRACTION = 8
"""A focus window reaches at most ``(n - 1) // 8`` sentences to either side of a text of ``n``: a window
that spans most of the text averages the standardised values to about zero everywhere but at the two
ends, and standardising that would reward the first and last sentences."""


def focus_context(relevance: np.ndarray, sentences: Sequence[str], focus: str, config: Mapping[str, Any]) -> np.ndarray:
    """What a focus adds to each sentence's score for its neighbourhood: a question is answered by a
    passage, not a lone sentence (QMSum's gold spans are runs of turns), so a sentence gains
    ``focus_context_weight`` times the standardised mean relevance (to the focus prompt) of the
    ``focus_context`` sentences on either side of it, and ``focus_lexical_weight`` times the
    standardised mean :func:`bm25` match with the focus's words over ``focus_lexical_context`` sentences.
    Windows are capped by :data:`WINDOW_FRACTION`; a text too short for a window of one gets nothing.
    """
    n = len(sentences)
    out = np.zeros(n, dtype=np.float64)
    dense = min(int(config["focus_context"]), (n - 1) // WINDOW_FRACTION)
    if dense > 0:
        similar = standardise(relevance.astype(np.float64))
        out += float(config["focus_context_weight"]) * standardise(window_mean(similar, dense))
    lexical = min(int(config["focus_lexical_context"]), (n - 1) // WINDOW_FRACTION)
    if lexical > 0:
        matches = standardise(bm25(sentences, focus))
        out += float(config["focus_lexical_weight"]) * standardise(window_mean(matches, lexical))
    return out.astype(np.float32)
