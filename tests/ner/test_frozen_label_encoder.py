"""A frozen label encoder: a copy of the starting encoder reads the label prompts and is never trained."""

from __future__ import annotations

import pytest
import torch

from stage2.labels import LabelSet
from stage2.ner.config import NERConfig
from stage2.ner.modeling import NERModel
from stage2.ner.training import NERTask, TrainingConfig, train
from tests.conftest import LABELS, _tiny_model


@pytest.fixture
def frozen_model(tokenizer):
    model = _tiny_model(tokenizer, "label-semantic", LABELS)
    config = NERConfig.from_dict({**model.config.to_dict(), "scoring": "sigmoid", "label_encoder": "frozen"})
    return NERModel(config, model.encoder, tokenizer)


def test_the_label_encoder_starts_as_a_frozen_copy(frozen_model):
    assert frozen_model.label_encoder is not frozen_model.encoder
    assert not any(p.requires_grad for p in frozen_model.label_encoder.parameters())
    pairs = zip(
        frozen_model.encoder.state_dict().values(), frozen_model.label_encoder.state_dict().values(), strict=True
    )
    assert all(torch.equal(a, b) for a, b in pairs)
    frozen_model.train()
    assert frozen_model.encoder.training and not frozen_model.label_encoder.training


def test_training_moves_the_text_encoder_only(frozen_model, examples):
    before = {k: v.clone() for k, v in frozen_model.label_encoder.state_dict().items()}
    text_before = [p.clone() for p in frozen_model.encoder.parameters()]
    labels = LabelSet.from_user(LABELS)
    cfg = TrainingConfig(min_steps=3, epochs=1, batch_size=2, learning_rate=1e-3, progress=False)
    train(frozen_model, [NERTask(examples, labels, "toy")], config=cfg)
    assert all(torch.equal(before[k], v) for k, v in frozen_model.label_encoder.state_dict().items())
    assert any(not torch.equal(a, b) for a, b in zip(text_before, frozen_model.encoder.parameters(), strict=True))
    with torch.no_grad():
        frozen_model.eval()
        assert not frozen_model.encode_labels(labels).requires_grad


def test_a_saved_frozen_model_reloads_both_encoders(frozen_model, tmp_path):
    with torch.no_grad():
        next(frozen_model.encoder.parameters()).add_(1.0)  # the two encoders now differ
    frozen_model.save_pretrained(tmp_path)
    loaded = NERModel.from_pretrained(tmp_path)
    assert loaded.config.label_encoder == "frozen"
    mine, theirs = frozen_model.state_dict(), loaded.state_dict()
    assert set(mine) == set(theirs) and any(k.startswith("label_encoder.") for k in mine)
    assert all(torch.equal(mine[k], theirs[k]) for k in mine)
    labels = LabelSet.from_user(LABELS)
    frozen_model.eval()
    with torch.no_grad():
        assert torch.allclose(frozen_model.encode_labels(labels), loaded.encode_labels(labels))


def test_label_encoder_setting_is_validated():
    with pytest.raises(ValueError, match="label_encoder"):
        NERConfig(label_encoder="thawed")
    with pytest.raises(ValueError, match="separate"):
        NERConfig(label_encoder="frozen", label_reading="joint")


def test_export_refuses_a_frozen_label_encoder_by_name(frozen_model, tmp_path):
    from stage2.export.spec import make_spec

    frozen_model.save_pretrained(tmp_path / "m")
    with pytest.raises(NotImplementedError, match="frozen label encoder"):
        make_spec(str(tmp_path / "m"))
