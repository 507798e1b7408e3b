from __future__ import annotations

import itertools

import numpy as np
import pytest

from stage2.labels import Span, tags_to_spans
from stage2.ner.decoding import decode_spans, log_softmax, merge_windows, num_tags, viterbi
from stage2.ner.windows import NUM_SHAPES, make_windows, word_shape


@pytest.mark.parametrize(
    ("word", "shape"),
    [
        ("ada", 1),
        ("Ada", 2),
        ("A", 2),
        ("NASA", 3),
        ("iPhone", 4),
        ("McDonald", 4),
        ("2024", 5),
        ("A4", 5),
        (",", 6),
        ("", 6),
        ("Zoë", 2),
        ("well-known", 1),
        ("U.S.", 3),
    ],
)
def test_word_shape(word, shape):
    assert word_shape(word) == shape
    assert 0 < word_shape(word) < NUM_SHAPES


def test_num_tags():
    assert num_tags(0) == 1
    assert num_tags(3) == 7


def _check_windows(counts, budget, overlap, windows):
    covered = set()
    for start, end in windows:
        assert 0 <= start < end <= len(counts)
        # Within budget, unless the window is a single over-long word.
        assert sum(counts[start:end]) <= budget or end - start == 1
        covered.update(range(start, end))
    assert covered == set(range(len(counts)))
    assert windows[0][0] == 0
    assert windows[-1][1] == len(counts)
    for (s1, e1), (s2, _) in itertools.pairwise(windows):
        assert s1 < s2 <= e1  # moves forward, leaves no gap
        assert e1 - s2 <= overlap  # shares at most ``overlap`` words


def test_make_windows_docstring_example():
    assert make_windows([1] * 10, 4, 1) == [(0, 4), (3, 7), (6, 10)]


@pytest.mark.parametrize(
    ("counts", "budget", "overlap"),
    [
        ([1] * 10, 4, 1),
        ([1] * 100, 30, 8),
        ([3, 1, 2, 5, 1, 1, 4, 2, 2, 1, 3] * 7, 10, 2),
        ([1] * 5, 100, 3),
        ([2] * 20, 6, 0),
    ],
)
def test_make_windows_covers_respects_budget_and_overlaps(counts, budget, overlap):
    windows = make_windows(counts, budget, overlap)
    _check_windows(counts, budget, overlap, windows)
    if len(windows) > 1 and overlap:
        assert all(e1 > s2 for (_, e1), (s2, _) in itertools.pairwise(windows))


def test_make_windows_single_window_when_it_fits():
    assert make_windows([1, 2, 3], 6, 2) == [(0, 3)]
    assert make_windows([], 6, 2) == []


def test_make_windows_overlong_word_gets_own_window():
    windows = make_windows([1, 50, 1], 10, 2)
    assert windows == [(0, 1), (1, 2), (2, 3)]
    _check_windows([1, 50, 1], 10, 2, windows)
    assert make_windows([50], 10, 2) == [(0, 1)]


def test_merge_windows_takes_each_word_from_its_most_central_window():
    windows = [(0, 6), (3, 9)]
    scores = [np.full((6, 3), 1.0, dtype=np.float32), np.full((6, 3), 2.0, dtype=np.float32)]
    merged = merge_windows(9, windows, scores)
    assert merged.shape == (9, 3)
    # word 3: margin 2 in the first window, 0 in the second; word 4: a tie (1 and 1), the first
    # window wins; word 5: margin 0 vs 2.
    assert merged[:, 0].tolist() == [1, 1, 1, 1, 1, 2, 2, 2, 2]


def test_merge_windows_keeps_per_word_rows():
    scores = [np.arange(12, dtype=np.float32).reshape(4, 3)]
    np.testing.assert_array_equal(merge_windows(4, [(0, 4)], scores), scores[0])


def test_log_softmax_is_normalised_and_stable():
    x = np.array([[1000.0, 1000.0, 999.0], [-5.0, 0.0, 5.0]])
    out = log_softmax(x)
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(np.exp(out).sum(-1), 1.0, rtol=1e-6)


def _is_valid_bio(path):
    prev = 0
    for tag in path:
        if tag and tag % 2 == 0 and prev not in (tag - 1, tag):
            return False
        prev = tag
    return True


def test_viterbi_fixes_stray_inside_tags():
    # Word-wise argmax would be O, I-0, I-0: invalid. Viterbi must choose a valid path.
    probs = np.array([[0.9, 0.05, 0.05], [0.1, 0.3, 0.6], [0.1, 0.2, 0.7]])
    assert np.argmax(probs, -1).tolist() == [0, 2, 2]
    path = viterbi(np.log(probs))
    assert path == [0, 1, 2]


def test_viterbi_never_outputs_unpreceded_inside_tags():
    rng = np.random.default_rng(0)
    for _ in range(200):
        n_labels = int(rng.integers(1, 4))
        n = int(rng.integers(1, 12))
        log_probs = log_softmax(rng.normal(scale=3.0, size=(n, num_tags(n_labels))))
        log_probs[:, 2::2] += 2.0  # favour inside tags so stray ones would win word by word
        path = viterbi(log_probs)
        assert len(path) == n
        assert _is_valid_bio(path), path
        tags = ["O" if t == 0 else ("B-" if t % 2 else "I-") + str((t - 1) // 2) for t in path]
        tags_to_spans(tags)  # strict IOB2 accepts it


def test_viterbi_agrees_with_argmax_when_valid():
    probs = np.array([[0.1, 0.8, 0.1], [0.1, 0.1, 0.8], [0.8, 0.1, 0.1]])
    assert viterbi(np.log(probs)) == [1, 2, 0]
    assert viterbi(np.zeros((0, 3))) == []


def test_decode_spans_labels_and_scores():
    probs = np.array(
        [
            [0.05, 0.9, 0.01, 0.02, 0.02],  # B-PER
            [0.05, 0.05, 0.8, 0.05, 0.05],  # I-PER
            [0.9, 0.02, 0.02, 0.03, 0.03],  # O
            [0.1, 0.05, 0.05, 0.7, 0.1],  # B-LOC
        ]
    )
    spans = decode_spans(np.log(probs), ["PER", "LOC"])
    assert [s for s, _ in spans] == [Span("PER", 0, 2), Span("LOC", 3, 4)]
    assert spans[0][1] == pytest.approx((0.9 + 0.8) / 2)
    assert spans[1][1] == pytest.approx(0.7)


def test_decode_spans_scores_in_unit_interval():
    rng = np.random.default_rng(1)
    found = 0
    for _ in range(100):
        spans = decode_spans(log_softmax(rng.normal(scale=4.0, size=(10, 5))), ["A", "B"])
        for span, score in spans:
            found += 1
            assert 0.0 <= score <= 1.0
            assert 0 <= span.start < span.end <= 10
            assert span.label in {"A", "B"}
    assert found > 0


def test_above_threshold_keeps_spans_at_or_over_it():
    from stage2.labels import Span
    from stage2.ner.decoding import above_threshold

    found = [[(Span("a", 0, 1), 0.4), (Span("b", 2, 3), 0.7)], []]
    assert above_threshold(found, 0.0) == found
    assert above_threshold(found, 0.7) == [[(Span("b", 2, 3), 0.7)], []]
    assert above_threshold(found, 1.0) == [[], []]
