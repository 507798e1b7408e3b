from __future__ import annotations

import pytest

from stage2.labels import Span
from stage2.ner.data import NERExample, add_document_context
from stage2.ner.windows import build_windows

CLS, SEP = 101, 102


def pieces_of(words):
    return [[1000 + 10 * i + k for k in range(len(w) // 4 + 1)] for i, w in enumerate(words)]


def test_context_is_added_around_a_sentence_that_fits():
    words = ["Ada", "met", "Bob"]
    left_words, right_words = ["Yesterday", "in", "London"], ["They", "talked"]
    left = (left_words, [[1], [2], [3]])
    right = (right_words, [[4], [5]])
    (win,) = build_windows(
        0,
        words,
        [[7], [8], [9]],
        max_length=32,
        overlap=2,
        cls_id=CLS,
        sep_id=SEP,
        left=left,
        right=right,
        max_context=8,
    )
    assert win.input_ids == [CLS, 1, 2, 3, 7, 8, 9, 4, 5, SEP]
    assert win.first_subword == [4, 5, 6]
    assert len(win.shape_ids) == len(win.input_ids)
    assert win.shape_ids[1] == 2  # "Yesterday" keeps its case shape


def test_context_takes_whole_words_nearest_first_within_max_context():
    left = (["a", "b", "c"], [[1, 1], [2, 2], [3, 3]])
    right = (["d", "e"], [[4, 4, 4], [5]])
    (win,) = build_windows(
        0, ["x"], [[9]], max_length=32, overlap=0, cls_id=CLS, sep_id=SEP, left=left, right=right, max_context=5
    )
    assert win.input_ids == [CLS, 2, 2, 3, 3, 9, 4, 4, 4, 5, SEP]


def test_context_never_exceeds_the_window():
    words = ["w"] * 10
    left = (["l"] * 50, [[1]] * 50)
    right = (["r"] * 50, [[2]] * 50)
    (win,) = build_windows(
        0, words, [[9]] * 10, max_length=16, overlap=0, cls_id=CLS, sep_id=SEP, left=left, right=right, max_context=64
    )
    assert len(win.input_ids) <= 16
    assert [win.input_ids[p] for p in win.first_subword] == [9] * 10


def test_no_context_when_the_sentence_needs_several_windows():
    words = ["w"] * 40
    wins = build_windows(
        0, words, [[9]] * 40, max_length=16, overlap=2, cls_id=CLS, sep_id=SEP, left=(["l"], [[1]]), max_context=8
    )
    assert len(wins) > 1
    assert all(1 not in w.input_ids for w in wins)


def test_add_document_context_uses_neighbours_and_respects_boundaries():
    exs = [NERExample(["a", "b"]), NERExample(["c"], [Span("X", 0, 1)]), NERExample(["d", "e", "f"]), NERExample(["g"])]
    out = add_document_context(exs, words=2, boundaries=[3])
    assert out[0].context == ([], ["c", "d"])
    assert out[1].context == (["a", "b"], ["d", "e"])
    assert out[2].context == (["b", "c"], [])  # example 3 starts a new document
    assert out[3].context == ([], [])
    assert out[1].spans == exs[1].spans and exs[1].context is None  # the input is not changed
    with pytest.raises(ValueError, match="words"):
        add_document_context(exs, words=-1)


def test_model_scores_only_sentence_words_with_context(entity_model):
    words = ["Ada", "Lovelace", "met", "Bob", "."]
    ctx = (["The", "Analytical", "Engine", "was", "built", "."], ["Bob", "smiled", "."])
    (win,) = entity_model.make_windows(0, words, ctx)
    (plain,) = entity_model.make_windows(0, words)
    assert len(win.input_ids) > len(plain.input_ids)
    tok = entity_model.tokenizer
    for word, pos in zip(words, win.first_subword, strict=True):
        assert tok.convert_ids_to_tokens(win.input_ids[pos]) == tok.tokenize(word)[0]
    with_ctx = entity_model.predict_words([words], contexts=[ctx])[0]
    assert all(0 <= s.start < s.end <= len(words) for s, _ in with_ctx)
    with pytest.raises(ValueError, match="contexts"):
        entity_model.predict_words([words], contexts=[ctx, ctx])


def test_length_batches_group_similar_lengths_within_limits():
    from stage2.batching import length_batches

    lengths = [5, 100, 6, 7, 90, 5]
    batches = length_batches(lengths, batch_size=3, max_tokens=200)
    assert sorted(i for b in batches for i in b) == list(range(6))
    for b in batches:
        assert len(b) <= 3
        assert len(b) == 1 or len(b) * max(lengths[i] for i in b) <= 200
    assert batches[0] == [0, 5, 2]  # the shortest first, never padded to 100
    assert length_batches([], 4) == []
