from __future__ import annotations

import pytest

from stage2.backbone import keep_layers
from stage2.ner.modeling import NERModel

WORDS = [["Ada", "Lovegood", "visited", "Berlin", "."]]


def test_keep_layers_shrinks_the_encoder_and_round_trips(tiny_model, tmp_path):
    before = sum(p.numel() for p in tiny_model.parameters())
    second = tiny_model.encoder.encoder.layer[1]
    keep_layers(tiny_model, [1])
    assert len(tiny_model.encoder.encoder.layer) == 1 and tiny_model.encoder.encoder.layer[0] is second
    assert tiny_model.encoder.config.num_hidden_layers == 1
    assert tiny_model.config.encoder_config["num_hidden_layers"] == 1
    assert sum(p.numel() for p in tiny_model.parameters()) < before
    predicted = tiny_model.predict_words(WORDS)
    tiny_model.save_pretrained(tmp_path / "small")
    again = NERModel.from_pretrained(tmp_path / "small")
    assert again.encoder.config.num_hidden_layers == 1
    assert again.predict_words(WORDS) == predicted


@pytest.mark.parametrize("layers", [[], [2], [1, 0], [0, 0], [-1]])
def test_keep_layers_rejects_bad_indices(tiny_model, layers):
    with pytest.raises(ValueError, match="layers must be"):
        keep_layers(tiny_model, layers)
