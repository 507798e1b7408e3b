"""Slow checks on real data (../shared/data): run them yourself with ``pytest -m slow`` before quoting a number."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not (DATA / "conll2003").exists(), reason="no shared data")]


def test_five_shot_conll_learns_and_round_trips(tmp_path):
    """A 5-shot run on CoNLL-2003 lifts the bundled encoder well above chance and survives a save/load."""
    import torch

    from stage2.ner.data import kshot_sample, read_jsonl
    from stage2.ner.modeling import NERModel
    from stage2.ner.training import TrainingConfig, train

    torch.set_num_threads(2)
    train_data = read_jsonl(DATA / "conll2003" / "train.jsonl.gz")
    test = read_jsonl(DATA / "conll2003" / "test.jsonl.gz")[:500]
    sample = kshot_sample(train_data, 5, seed=1)
    model = NERModel.from_pretrained(None)
    labels = {"PER": "person", "LOC": "location", "ORG": "organization", "MISC": "miscellaneous"}
    train(model, sample, labels=labels, config=TrainingConfig(min_steps=150, batch_size=8, progress=False))
    scores = model.evaluate(test)
    assert scores["f1"] > 25.0
    model.save_pretrained(tmp_path / "m")
    again = NERModel.from_pretrained(tmp_path / "m")
    assert again.evaluate(test)["f1"] == scores["f1"]
