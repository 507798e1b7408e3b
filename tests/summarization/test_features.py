from __future__ import annotations

import numpy as np
import pytest

from stage2.summarization.features import FEATURES, content_words, lexical_salience, lexrank, static_features


def test_content_words_drop_stop_words():
    assert content_words("The Bank of England's rates rose, it said.") == ["bank", "england's", "rates", "rose"]


def test_lexical_salience_prefers_sentences_made_of_the_documents_frequent_words():
    sents = ["Rates rise.", "Rates rise again, banks say.", "Weather is fine."]
    feats = lexical_salience(sents)
    assert feats.shape == (3, 2) and feats.dtype == np.float32
    frequency, coverage = feats[:, 0], feats[:, 1]
    assert frequency.argmax() == 0 and coverage.argmax() == 1  # mean count against summed counts
    assert frequency.max() == pytest.approx(1.0) and coverage.max() == pytest.approx(1.0)
    assert frequency[2] < frequency[1]
    assert lexical_salience(["the a of", "it is"]).tolist() == [[0.0, 0.0], [0.0, 0.0]]


def test_lexrank_is_a_distribution_that_favours_the_central_sentence():
    unit = np.array([[1.0, 0.0], [0.8, 0.6], [0.6, 0.8], [0.0, 1.0]])
    rank = lexrank(unit)
    assert rank.sum() == pytest.approx(1.0)
    assert rank[1] > rank[0] and rank[2] > rank[3]


def test_static_features_shape_and_position_prior():
    rng = np.random.default_rng(0)
    unit = rng.normal(size=(4, 8)).astype(np.float32)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    sents = ["One two three.", "Four five.", "Six.", "Seven eight nine ten."]
    feats = static_features(sents, unit)
    assert feats.shape == (4, len(FEATURES) - 1)
    assert feats[:, 0].mean() == pytest.approx(0.0, abs=1e-6)  # centrality, scaled to mean 0
    assert np.all(np.diff(feats[:, 1]) < 0)  # the lead prior falls with position
    assert feats[3, 2] > feats[2, 2]  # longer sentences, larger length prior
    assert static_features([], unit[:0]).shape == (0, len(FEATURES) - 1)


def test_bm25_scores_query_words_and_ignores_others():
    from stage2.summarization.features import bm25

    scores = bm25(["the budget is late", "we like the colour", "budget budget", ""], "Budget?")
    assert scores[1] == 0.0 and scores[3] == 0.0
    assert scores[2] > scores[0] > 0
    assert bm25([], "budget").shape == (0,)
    assert not bm25(["a b", "c d"], "").any()


def test_window_mean_and_standardise():
    from stage2.summarization.features import standardise, window_mean

    x = np.array([0.0, 0.0, 3.0, 0.0, 0.0])
    assert window_mean(x, 1).tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]
    assert window_mean(x, 0).tolist() == x.tolist()
    assert window_mean(x, 30).tolist() == [0.6] * 5  # a window wider than the text
    z = standardise(np.array([1.0, 2.0, 3.0]))
    assert abs(z.mean()) < 1e-9 and abs(z.std() - 1.0) < 1e-9
    assert not standardise(np.ones(4)).any()


def test_focus_context_raises_the_neighbourhood_of_the_answer():
    from stage2.summarization.config import SummarizerConfig
    from stage2.summarization.features import focus_context

    cfg = SummarizerConfig(focus_context=2, focus_lexical_context=2).to_dict()
    sentences = ["We talk."] * 20
    sentences[10] = "The remote control budget is twelve euros."
    relevance = np.zeros(20)
    relevance[10] = 1.0
    term = focus_context(relevance, sentences, "the budget", cfg)
    assert term.dtype == np.float32 and term.shape == (20,)
    assert term[8:13].min() > term[:6].max()  # neighbours of the relevant sentence gain too
    assert not focus_context(np.zeros(3), ["A.", "B.", "C."], "xyz", cfg).any()  # nothing varies: nothing added


@pytest.mark.parametrize("n", [5, 9, 17, 20, 31, 40, 200])
def test_focus_context_peaks_at_the_relevant_passage_at_any_length(n):
    from stage2.summarization.config import SummarizerConfig
    from stage2.summarization.features import focus_context

    relevance = np.zeros(n, dtype=np.float32)
    relevance[n // 2] = 1.0
    term = focus_context(relevance, ["We talk."] * n, "xyz", SummarizerConfig().to_dict())
    assert term[n // 2] == term.max()  # never the first or last sentence for their short windows
    if n < 9:
        assert not term.any()  # too short for a window of one sentence
    else:
        assert term[0] < term[n // 2] and term[-1] < term[n // 2]


def test_lexrank_memory_is_linear_beyond_a_block():
    """Issue 23: 6,000 sentences built several 6,000 x 6,000 float64 matrices (over 1 GB at peak)."""
    import tracemalloc

    from stage2.summarization.features import LEXRANK_BLOCK, lexrank

    rng = np.random.default_rng(0)
    unit = rng.normal(size=(6000, 16))
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    tracemalloc.start()
    rank = lexrank(unit)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 4 * LEXRANK_BLOCK**2 * 8  # a few block-sized matrices, never n x n
    assert rank.shape == (6000,) and abs(rank.sum() - 1.0) < 1e-6 and (rank > 0).all()
    # up to a block, ranking is all against all, as before
    small = unit[:50]
    assert np.allclose(lexrank(small), lexrank(small, block=10_000))
    blocked = lexrank(small, block=20)  # three blocks, each weighted by its share
    assert abs(blocked.sum() - 1.0) < 1e-9
    assert np.allclose(blocked[:17] / blocked[:17].sum(), lexrank(small[:17]))
