"""Sigmoid scoring (each word-label pair decided on its own), negative types and the label cap."""

from __future__ import annotations

import random

import pytest
import torch

from stage2.labels import MAX_LABELS, Label, LabelSet
from stage2.ner.augmentation import add_negatives
from stage2.ner.config import NERConfig
from stage2.ner.losses import tag_loss
from stage2.ner.training import NERTask, TrainingConfig, train
from tests.conftest import LABELS, _tiny_model


@pytest.fixture(scope="module")
def _sigmoid_model(tokenizer):
    model = _tiny_model(tokenizer, "label-semantic", LABELS)
    config = NERConfig.from_dict({**model.config.to_dict(), "scoring": "sigmoid"})
    from stage2.ner.modeling import NERModel

    torch.manual_seed(0)
    return NERModel(config, model.encoder, tokenizer).eval()


@pytest.fixture
def sigmoid_model(_sigmoid_model, copy_model):

    return copy_model(_sigmoid_model)


def test_sigmoid_scoring_has_no_token_only_outside_score(sigmoid_model):
    assert sigmoid_model.outside is None
    hidden = torch.randn(2, 5, 32)
    outside, begin, inside = sigmoid_model.token_outputs(hidden)
    assert torch.equal(outside, torch.zeros(2, 5))
    assert begin.shape == inside.shape == (2, 5, 32)
    assert torch.equal(sigmoid_model.tag_bias.detach(), torch.full((2,), -8.0))  # start below the threshold


def test_scoring_is_validated():
    with pytest.raises(ValueError, match="scoring"):
        NERConfig(scoring="softmaxx")


def test_sigmoid_loss_is_per_column_binary_cross_entropy():
    gold = torch.tensor([[0, 1, 2, -100]])  # O, B-0, I-0, ignored
    right = torch.tensor([[[0, -9, -9], [0, 9, -9], [0, -9, 9], [0, 9, 9]]], dtype=torch.float)
    wrong = -right
    assert tag_loss(right, gold, "sigmoid") < 0.01
    assert tag_loss(wrong, gold, "sigmoid") > 10
    # the O column carries no loss: it is the fixed threshold
    shifted = right.clone()
    shifted[..., 0] = 50.0
    assert torch.isclose(tag_loss(shifted, gold, "sigmoid"), tag_loss(right, gold, "sigmoid"))
    assert tag_loss(right, torch.full_like(gold, -100), "sigmoid") == 0


def test_negatives_are_appended_absent_types_without_name_clashes():
    labels = LabelSet([Label("PER", "person"), Label("LOC", "location")])
    pool = [Label("GENE", "gene"), Label("X", "person"), Label("CHEM", "chemical"), Label("DUP", "gene")]
    rng = random.Random(0)
    seen = set()
    for _ in range(50):
        out = add_negatives(labels, pool, rng, 3)
        assert out.keys[:2] == ["PER", "LOC"]  # tags keep their indices
        names = [lb.name for lb in out][2:]
        assert "person" not in names and len(names) == len(set(names))
        seen.update(names)
    assert seen == {"gene", "chemical"}
    assert add_negatives(labels, pool, rng, 0) is labels


def test_sigmoid_training_with_negatives_learns_the_types(sigmoid_model, examples):
    task = NERTask(
        examples, LabelSet.from_user(LABELS), "toy", negatives=[Label("GENE", "gene"), Label("D", "disease")]
    )
    cfg = TrainingConfig(
        min_steps=60,
        epochs=1,
        batch_size=4,
        learning_rate=1e-3,
        head_learning_rate=1e-2,
        progress=False,
        negative_labels=2,
    )
    train(sigmoid_model, [task], config=cfg)
    found = sigmoid_model.predict_words([examples[0].tokens], labels=LABELS)[0]
    assert {(s.label, s.start, s.end) for s, _ in found} == {("person", 0, 2), ("city", 4, 5)}


def test_negatives_change_the_run_fingerprint(tiny_model, examples, tmp_path):
    labels = LabelSet.from_user(LABELS)
    cfg = TrainingConfig(min_steps=2, epochs=1, batch_size=2, progress=False, output_dir=str(tmp_path))
    train(tiny_model, [NERTask(examples, labels, "a"), NERTask(examples, labels, "b")], config=cfg)
    with pytest.raises(ValueError, match="another run"):
        train(
            tiny_model,
            [NERTask(examples, labels, "a", negatives=[Label("G", "gene")]), NERTask(examples, labels, "b")],
            config=TrainingConfig(min_steps=4, epochs=1, batch_size=2, progress=False, output_dir=str(tmp_path)),
        )


def test_more_labels_than_the_cap_is_a_clear_error(tiny_model):
    labels = [f"type {i}" for i in range(MAX_LABELS + 1)]
    with pytest.raises(ValueError, match=f"{MAX_LABELS + 1} labels given.*at most {MAX_LABELS}"):
        tiny_model.predict("Ada met Bob.", labels=labels)
    assert tiny_model.predict("Ada met Bob.", labels=labels[:MAX_LABELS]) is not None
    with pytest.raises(ValueError, match="over 1000 characters"):
        tiny_model.predict("Ada met Bob.", labels={"person": "x" * 2000})


def test_sigmoid_export_matches_torch(sigmoid_model, examples, tmp_path):
    import stage2.runtime as rt
    from stage2.export import export

    task = NERTask(examples, LabelSet.from_user(LABELS), "toy")
    cfg = TrainingConfig(
        min_steps=40, epochs=1, batch_size=4, learning_rate=1e-3, head_learning_rate=1e-2, progress=False
    )
    train(sigmoid_model, [task], config=cfg)
    report = export(sigmoid_model, tmp_path / "x")
    assert report["parity"]["max_abs_diff"] <= 1e-4
    runtime = rt.load(tmp_path / "x")
    text = "Alan Turing lived in Rome and Grace Hopper in Berlin."
    for labels in (None, {"scientist": "", "city": "a town"}):
        a, b = runtime.predict(text, labels=labels), sigmoid_model.predict(text, labels=labels)
        assert [(e["label"], e["char_start"], e["char_end"]) for e in a] == [
            (e["label"], e["char_start"], e["char_end"]) for e in b
        ]
    with pytest.raises(ValueError, match="at most"):
        runtime.predict(text, labels=[f"t{i}" for i in range(MAX_LABELS + 1)])


def test_coarse_labels_merge_fine_types_and_remap_tags():
    from stage2.ner.augmentation import coarsen

    labels = LabelSet([Label("actor", "actor"), Label("gpe", "country or city"), Label("athlete", "athlete")])
    parents = {"actor": Label("P", "person"), "athlete": Label("P", "person")}
    # O, B-actor, I-actor, B-gpe, B-athlete, I-athlete
    coarse, tags = coarsen(labels, parents, [[0, 1, 2, 3, 5, 6]])
    assert [lb.name for lb in coarse] == ["person", "country or city"]
    assert tags == [[0, 1, 2, 3, 1, 2]]


def test_case_augmentation_rewrites_only_case_shapes(tiny_model):
    from stage2.ner.augmentation import is_uncased, recase

    (window,) = tiny_model.make_windows(0, ["Ada", "met", "NASA", "in", "2024", "."])
    upper = recase(window, 3)
    assert upper.input_ids == window.input_ids
    assert [upper.shape_ids[i] for i in upper.first_subword] == [3, 3, 3, 3, 5, 6]
    assert is_uncased(tiny_model.tokenizer)


def test_training_with_coarse_labels_and_case_augmentation_runs(tiny_model, examples):
    task = NERTask(examples, LabelSet.from_user(LABELS), "toy", parents={"city": Label("LOC", "location")})
    cfg = TrainingConfig(min_steps=6, epochs=1, batch_size=2, progress=False, coarse_labels=0.5, case_augmentation=0.5)
    assert train(tiny_model, [task], config=cfg).steps == 6


def _covered(found) -> set[tuple[int, int]]:
    """(sentence, word) pairs inside a predicted span."""
    return {(i, w) for i, spans in enumerate(found) for span, _ in spans for w in range(span.start, span.end)}


def test_threshold_is_a_sigmoid_models_decision_threshold(sigmoid_model, examples):
    words = [e.tokens for e in examples]
    default = sigmoid_model.predict_words(words, labels=LABELS)
    assert default == sigmoid_model.predict_words(words, labels=LABELS, threshold=0.5)  # the untuned boundary
    low = sigmoid_model.predict_words(words, labels=LABELS, threshold=0.001)
    assert _covered(default) < _covered(low)  # a lower threshold finds more, never less
    assert sigmoid_model.predict_words(words, labels=LABELS, threshold=1.0) == [[] for _ in words]
    sigmoid_model.config.decision_threshold = 0.001  # the model's own default (chosen on the protocol)
    assert sigmoid_model.predict_words(words, labels=LABELS) == low


def test_decision_threshold_is_validated():
    for bad in (0.0, 1.0, "0.3", True):
        with pytest.raises(ValueError, match="decision_threshold"):
            NERConfig(scoring="sigmoid", decision_threshold=bad)


def test_runtime_reads_the_exported_decision_threshold_like_torch(sigmoid_model, examples, tmp_path):
    from stage2.export import export
    from stage2.runtime import open_export

    sigmoid_model.config.decision_threshold = 0.01
    export(sigmoid_model, tmp_path / "x")
    runtime = open_export(tmp_path / "x")
    words = [e.tokens for e in examples]
    for threshold in (None, 0.5, 0.001):
        mine = [[s for s, _ in p] for p in sigmoid_model.predict_words(words, labels=LABELS, threshold=threshold)]
        theirs = [[s for s, _ in p] for p in runtime.predict_words(words, labels=LABELS, threshold=threshold)]
        assert mine == theirs, threshold
    assert _covered(runtime.predict_words(words, labels=LABELS)) > _covered(
        runtime.predict_words(words, labels=LABELS, threshold=0.5)
    )
