"""Joint label reading: label prompts read before the text in one sequence (label-conditioned words)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stage2.labels import LabelSet
from stage2.ner.collator import collate_windows
from stage2.ner.config import NERConfig
from stage2.ner.joint import joint_budget, joint_prefixes
from stage2.ner.modeling import NERModel
from stage2.ner.training import TrainingConfig, train
from tests.conftest import LABELS, _tiny_model

SENTENCES = [
    ["Ada", "Lovelace", "met", "Charles", "Babbage", "in", "London", "."],
    ["The", "Labour", "Party", "won", "the", "election", "in", "a", "landslide", "."],
]
MANY = [f"type number {i} of a long list" for i in range(30)]  # more than one pass beside a 32-subword window


@pytest.fixture(scope="module")
def _joint_model(tokenizer):
    model = _tiny_model(tokenizer, "label-semantic", LABELS)
    config = NERConfig.from_dict({**model.config.to_dict(), "scoring": "sigmoid", "label_reading": "joint"})
    torch.manual_seed(0)
    return NERModel(config, model.encoder, tokenizer).eval()


@pytest.fixture
def joint_model(_joint_model, copy_model):
    return copy_model(_joint_model)


def _logits(model, labels):
    windows = [model.make_windows(i, words)[0] for i, words in enumerate(SENTENCES)]
    batch = collate_windows(windows, model.tokenizer.pad_token_id)
    with torch.no_grad():
        logits = model.logits_for(batch, LabelSet.from_user(labels))
    return windows, [logits[row, w.first_subword].numpy() for row, w in enumerate(windows)]


def test_prefixes_keep_label_order_fit_the_budget_and_cut_long_prompts():
    prompts = [[1, 2], [3], [4, 5, 6, 7, 8, 9, 10, 11, 12, 13], [14]]
    prefixes = joint_prefixes(prompts, marker=100, sep=101, budget=8)
    assert [p.labels for p in prefixes] == [[0, 1], [2], [3]]
    assert prefixes[0].ids == [100, 1, 2, 100, 3, 101] and prefixes[0].spans == [(0, 3), (3, 5)]
    assert prefixes[1].ids == [100, 4, 5, 6, 7, 8, 9, 101]  # cut to the budget
    assert all(len(p.ids) <= 8 and p.ids[-1] == 101 for p in prefixes)
    pool = prefixes[0].pool_matrix()
    assert pool.shape == (2, 6) and np.allclose(pool.sum(1), 1.0) and pool[0, 3:].sum() == 0
    with pytest.raises(ValueError, match="max_length 510"):
        joint_budget(512, 510)


def test_label_reading_is_validated():
    with pytest.raises(ValueError, match="label_reading"):
        NERConfig(label_reading="together")


def test_joint_words_depend_on_the_labels_asked_for(joint_model, tiny_model):
    # separate reading: a label's column is the same whatever else is asked for
    _, alone = _logits(tiny_model, ["person"])
    _, both = _logits(tiny_model, ["person", "political party"])
    assert np.allclose(alone[0][:, 1:3], both[0][:, 1:3], atol=1e-5)
    # joint reading: the words read the whole label set, so the person column changes
    _, alone = _logits(joint_model, ["person"])
    _, both = _logits(joint_model, ["person", "political party"])
    assert alone[0].shape[1] == 3 and both[0].shape[1] == 5
    assert not np.allclose(alone[0][:, 1:3], both[0][:, 1:3], atol=1e-3)


def test_long_label_sets_are_read_in_passes_that_match_reading_each_part(joint_model):
    prefixes = joint_model.label_prefixes(LabelSet.from_user(MANY))
    assert len(prefixes) > 1
    _, full = _logits(joint_model, MANY)
    assert full[0].shape[1] == 1 + 2 * len(MANY)
    second = [MANY[j] for j in prefixes[1].labels]
    _, part = _logits(joint_model, second)
    cols = [c for j in prefixes[1].labels for c in (1 + 2 * j, 2 + 2 * j)]
    assert np.allclose(full[0][:, cols], part[0][:, 1:], atol=1e-5)


def test_joint_runtime_matches_torch_exactly(joint_model, tmp_path):
    import stage2.runtime as rt
    from stage2.export import export

    export(joint_model, tmp_path / "joint")
    runtime = rt.load(tmp_path / "joint")
    for labels in (["person", "political party"], MANY):
        windows, torch_logits = _logits(joint_model, labels)
        got = runtime.window_logits(windows, LabelSet.from_user(labels))
        for a, b in zip(got, torch_logits, strict=True):
            assert a.shape == b.shape and np.abs(a - b).max() < 1e-4
    with torch.no_grad():  # every word in an entity, so predictions compare spans and scores
        joint_model.tag_bias.fill_(30.0)
    export(joint_model, tmp_path / "entities")
    runtime = rt.load(tmp_path / "entities")
    text = "Ada Lovelace met Charles Babbage in London."
    want = joint_model.predict(text, labels=["person", "city"])
    got = runtime.predict(text, labels=["person", "city"])
    assert want and [(e["label"], e["word_start"]) for e in got] == [(e["label"], e["word_start"]) for e in want]


def test_joint_model_learns_the_types_and_reloads(joint_model, examples, tmp_path):
    cfg = TrainingConfig(
        min_steps=60, epochs=1, batch_size=4, learning_rate=1e-3, head_learning_rate=1e-2, progress=False
    )
    train(joint_model, examples, labels=LABELS, config=cfg)
    found = joint_model.predict_words([examples[0].tokens], labels=LABELS)[0]
    assert {(s.label, s.start, s.end) for s, _ in found} == {("person", 0, 2), ("city", 4, 5)}
    joint_model.save_pretrained(tmp_path / "m")
    loaded = NERModel.from_pretrained(tmp_path / "m")
    assert loaded.config.label_reading == "joint"
    _, a = _logits(joint_model.eval(), ["person", "city"])
    _, b = _logits(loaded, ["person", "city"])
    assert np.allclose(a[0], b[0], atol=1e-5)
