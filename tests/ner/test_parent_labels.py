"""Parents offered beside fine types (the most specific type asked for wins) and hierarchy-aware label dropout."""

from __future__ import annotations

import random

from stage2.labels import Label, LabelSet
from stage2.loop import TrainingConfig
from stage2.ner.augmentation import label_dropout, offer_parents
from stage2.ner.training import NERTask, train
from tests.conftest import LABELS

FINE = LabelSet([Label("actor", "actor"), Label("athlete", "athlete"), Label("party", "party"), Label("misc", "misc")])
PARENTS = {"actor": Label("P", "person"), "athlete": Label("P", "person"), "party": Label("O", "organization")}
TAGS = [[1, 2, 0, 3, 5, 7, 8]]  # B/I-actor, O, B-athlete, B-party, B/I-misc


def _named(labels: LabelSet, tags: list[list[int]]) -> list[str]:
    """Each word's tag as 'B-name' / 'I-name' / 'O'."""
    names = [lb.name for lb in labels]
    return ["O" if t == 0 else ("B-" if t % 2 else "I-") + names[(t - 1) // 2] for t in tags[0]]


def test_parents_offered_beside_fine_types_leave_the_fine_type_gold():
    labels, tags, fallback = offer_parents(FINE, PARENTS, TAGS, random.Random(0), replace=0.0)
    assert [lb.name for lb in labels] == ["actor", "athlete", "party", "misc", "person", "organization"]
    assert _named(labels, tags) == ["B-actor", "I-actor", "O", "B-athlete", "B-party", "B-misc", "I-misc"]
    assert fallback == {0: 4, 1: 4, 2: 5}


def test_a_fine_type_left_out_hands_its_mentions_to_its_parent():
    labels, tags, _ = offer_parents(FINE, PARENTS, TAGS, random.Random(0), replace=1.0)
    assert [lb.name for lb in labels] == ["misc", "person", "organization"]
    assert _named(labels, tags) == ["B-person", "I-person", "O", "B-person", "B-organization", "B-misc", "I-misc"]


def test_a_parent_already_in_the_set_is_not_offered_twice():
    labels = LabelSet([Label("actor", "actor"), Label("PER", "person")])
    out, tags, fallback = offer_parents(labels, {"actor": Label("P", "person")}, [[1, 3]], random.Random(0), 0.0)
    assert [lb.name for lb in out] == ["actor", "person"] and tags == [[1, 3]] and fallback == {}


def test_label_dropout_tags_a_dropped_type_with_its_kept_parent():
    labels = LabelSet([Label("actor", "actor"), Label("misc", "misc"), Label("P", "person")])
    cfg = TrainingConfig(label_dropout=1.0)
    seen = set()
    for seed in range(40):
        kept, tags = label_dropout(labels, [[1, 2, 3, 5]], random.Random(seed), cfg, fallback={0: 2})
        names = [lb.name for lb in kept]
        actor = _named(kept, tags)[:2]
        if "actor" in names:
            assert actor == ["B-actor", "I-actor"]
        elif "person" in names:
            assert actor == ["B-person", "I-person"]
        else:
            assert actor == ["O", "O"]
        if "person" in names:  # a person mention stays a person whatever else is dropped
            assert _named(kept, tags)[3] == "B-person"
        seen.add(tuple(names))
    assert ("misc", "person") in seen or ("person",) in seen  # the fallback case was drawn


def test_training_with_parent_labels_runs(tiny_model, examples):
    task = NERTask(examples, LabelSet.from_user(LABELS), "toy", parents={"city": Label("LOC", "location")})
    cfg = TrainingConfig(min_steps=6, epochs=1, batch_size=2, progress=False, parent_labels=1.0, label_dropout=0.5)
    assert train(tiny_model, [task], config=cfg).steps == 6


def test_snapshots_keep_the_weights_every_n_steps(tiny_model, examples, tmp_path):
    task = NERTask(examples, LabelSet.from_user(LABELS), "toy")
    cfg = TrainingConfig(
        min_steps=4, epochs=1, batch_size=2, progress=False, snapshot_every=2, output_dir=str(tmp_path / "run")
    )
    train(tiny_model, [task], config=cfg)
    assert sorted(p.name for p in (tmp_path / "run" / "snapshots").iterdir()) == ["step-2", "step-4"]
    assert (tmp_path / "run" / "snapshots" / "step-2" / "model.safetensors").exists()


def test_name_variants_keep_keys_and_never_collide():
    from stage2.ner.augmentation import name_variant, vary_names

    rng = random.Random(0)
    forms = {name_variant("organization", rng) for _ in range(200)}
    assert {"organizations", "org", "organization name", "name of a organization"} <= forms
    assert name_variant("city", rng) in {"cities", "name of a city", "city name", "a city", "city mention", "town"}
    labels = LabelSet([Label("ORG", "organization"), Label("ORG2", "org"), Label("LOC", "location", "a place")])
    for seed in range(30):
        varied = vary_names(labels, random.Random(seed), 1.0)
        assert varied.keys == labels.keys and [lb.description for lb in varied] == ["", "", "a place"]
        assert len({lb.name for lb in varied}) == 3
    assert [lb.name for lb in vary_names(labels, random.Random(0), 0.0)] == ["organization", "org", "location"]


def test_training_with_name_variants_runs(tiny_model, examples):
    task = NERTask(examples, LabelSet.from_user(LABELS), "toy")
    cfg = TrainingConfig(min_steps=4, epochs=1, batch_size=2, progress=False, name_variants=0.5)
    assert train(tiny_model, [task], config=cfg).steps == 4
