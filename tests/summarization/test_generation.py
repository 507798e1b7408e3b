"""The numpy search shared by torch and ONNX: greedy, beam, repeated n-grams, lengths, casing."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stage2.summarization.generation import (
    SearchSettings,
    _banned,
    beam_search,
    detokenize,
    greedy,
    recase,
    source_casing,
    write_summaries,
)

START, END, PAD = 1, 2, 0


class TableSteps:
    """Next-token probabilities looked up by the tokens written so far (a tuple -> {token: prob})."""

    start_id, end_id, pad_id = START, END, PAD

    def __init__(self, table: dict[tuple[int, ...], dict[int, float]], vocab: int = 8) -> None:
        self.table = table
        self.vocab = vocab
        self.calls = 0

    def source(self, text: str) -> dict[str, np.ndarray]:
        return {"kv": np.zeros((1, 3, 2), dtype=np.float32)}

    def step(self, ids, positions, past, source):
        self.calls += 1
        rows = [] if past is None else list(past[0, 0])
        rows = [list(r) for r in rows] if rows else [[] for _ in range(ids.shape[0])]
        history = [[*r, int(i)] for r, i in zip(rows, ids[:, 0], strict=True)]
        logp = np.full((ids.shape[0], self.vocab), -30.0, dtype=np.float32)
        for b, h in enumerate(history):
            for token, p in self.table.get(tuple(h[1:]), {END: 1.0}).items():
                logp[b, token] = math.log(p)
        new_past = np.array(history, dtype=np.float32)[None, None]  # [1, 1, B, t]: the tokens themselves
        return logp, new_past

    def decode(self, ids):
        return " ".join(f"w{i}" for i in ids)


def test_banned_tokens_are_those_that_would_repeat_an_ngram():
    assert _banned([5, 6, 7, 5, 6], 3) == [7]
    assert _banned([5, 6], 3) == []
    assert _banned([5, 6, 5], 0) == []


def test_beam_search_finds_the_likelier_summary_that_greedy_misses():
    table = {(): {3: 0.6, 4: 0.4}, (3,): {5: 0.3, 6: 0.3, 7: 0.4}, (4,): {5: 0.95}, (4, 5): {END: 1.0}}
    table.update({(3, t): {END: 1.0} for t in (5, 6, 7)})
    s = SearchSettings(num_beams=1, min_new=0, no_repeat_ngram=0, length_penalty=0.0)
    assert greedy(TableSteps(table), {}, s) == [3, 7]
    wide = SearchSettings(num_beams=2, min_new=0, no_repeat_ngram=0, length_penalty=0.0)
    assert beam_search(TableSteps(table), {"kv": np.zeros((1, 1))}, wide) == [4, 5]  # 0.38 > 0.24


def test_no_repeated_trigram_and_a_minimum_length():
    loop = {(): {3: 0.9, 4: 0.1}}
    for prefix in [(3,), (3, 4), (3, 4, 3), (3, 4, 3, 4), (3, 4, 3, 4, 3)]:
        loop[prefix] = {4 if prefix[-1] == 3 else 3: 0.9, END: 0.1}
    s = SearchSettings(num_beams=1, max_new=6, min_new=0, no_repeat_ngram=3)
    out = greedy(TableSteps(loop), {}, s)
    trigrams = [tuple(out[i : i + 3]) for i in range(len(out) - 2)]
    assert len(trigrams) == len(set(trigrams))
    early = {(): {END: 0.9, 3: 0.1}, (3,): {END: 0.9, 4: 0.1}}
    assert greedy(TableSteps(early), {}, SearchSettings(num_beams=1, min_new=2)) == [3, 4]


def test_generation_stops_at_max_new():
    endless = {tuple([3] * n): {3: 1.0} for n in range(20)}
    s = SearchSettings(num_beams=2, max_new=5, no_repeat_ngram=0)
    assert beam_search(TableSteps(endless), {"kv": np.zeros((1, 1))}, s) == [3] * 5


def test_recasing_takes_names_from_the_source_not_from_sentence_starts():
    source = "Amanda: Sure! I will be sure to call Jerry at Starbucks.\nJerry: Sure, thanks"
    casing = source_casing(source)
    assert casing["amanda"] == "Amanda" and casing["jerry"] == "Jerry"
    assert casing["sure"] == "sure"  # "Sure" only ever starts a sentence or turn
    assert recase("amanda will call jerry. i will be sure.", source) == "Amanda will call Jerry. I will be sure."
    assert recase("a will get a puppy.", "A: I want a puppy\nB: ok") == "A will get a puppy."


def test_detokenize_joins_wordpiece_punctuation():
    assert detokenize("anna ' s tickets cost $ 5. 50 ( cash ) , ok ?") == "anna's tickets cost $5.50 (cash), ok?"


def test_write_summaries_budgets_and_refusals():
    table = {(): {3: 1.0}, (3,): {4: 1.0}, (3, 4): {5: 1.0}, (3, 4, 5): {6: 1.0}, (3, 4, 5, 6): {END: 1.0}}
    steps = TableSteps(table)
    out = write_summaries(steps, ["a b c d e f", ""], max_words=2, num_beams=1, unsupported=False)
    assert out[0]["summary"].split() == ["W3", "w4"] and out[1]["summary"] == ""
    assert out[0]["abstractive"] is True and out[0]["sentences"] == []
    with pytest.raises(ValueError, match="only one"):
        write_summaries(steps, "a", max_words=2, ratio=0.5)
    with pytest.raises(ValueError, match="no focus"):
        write_summaries(steps, "a", focus="why?")


def test_a_repetition_penalty_prefers_a_new_subword():
    table = {(): {3: 0.9, 4: 0.1}, (3,): {3: 0.5, 4: 0.4, END: 0.1}, (3, 3): {END: 1.0}, (3, 4): {END: 1.0}}
    plain = SearchSettings(num_beams=1, min_new=0, no_repeat_ngram=0)
    assert greedy(TableSteps(table), {}, plain) == [3, 3]
    penalised = SearchSettings(num_beams=1, min_new=0, no_repeat_ngram=0, repetition_penalty=1.5)
    assert greedy(TableSteps(table), {}, penalised) == [3, 4]
