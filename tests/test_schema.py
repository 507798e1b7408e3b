"""Saved configs are checked field by field: a hand-edited file names itself, the field and what was expected."""

from __future__ import annotations

import json
import shutil

import pytest

from stage2.ner.config import NERConfig
from stage2.registry import EXPORT_CONFIG, TORCH_CONFIG
from stage2.summarization.config import SummarizerConfig


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("labels", 5, "expected a list of objects, got 5 (int)"),
        ("labels", [{"name": "person"}], "label 0: expected an object with a non-empty string 'key'"),
        ("max_length", "256", "expected an integer, got '256' (str)"),
        ("case_embedding", "yes", "expected true or false"),
        ("encoder_config", [], "expected an object"),
        ("max_labels", True, "expected an integer"),
    ],
)
def test_ner_config_fields_are_checked(field, value, expected):
    with pytest.raises(ValueError, match=rf"cfg.json: field '{field}': .*{expected[:20]}"):
        NERConfig.from_dict({field: value}, "cfg.json")


def test_summarizer_config_fields_are_checked():
    with pytest.raises(ValueError, match=r"s.json: field 'prior': expected an object, got 3"):
        SummarizerConfig.from_dict({"prior": 3}, "s.json")
    with pytest.raises(ValueError, match=r"field 'focus_weight': expected a number"):
        SummarizerConfig.from_dict({"focus_weight": "high"})
    assert SummarizerConfig.from_dict({"max_length": 128}).max_length == 128  # good values pass


def test_a_hand_edited_model_folder_names_file_and_field(tiny_model, tmp_path):
    """Issue 23: ``"labels": 5`` in a saved model's config gave a TypeError traceback."""
    from stage2.ner.modeling import NERModel

    tiny_model.save_pretrained(tmp_path / "m")
    path = tmp_path / "m" / TORCH_CONFIG
    config = json.loads(path.read_text())
    path.write_text(json.dumps({**config, "labels": 5}))
    with pytest.raises(ValueError, match=rf"{TORCH_CONFIG}: field 'labels': expected a list of objects"):
        NERModel.from_pretrained(tmp_path / "m")


def test_a_hand_edited_export_names_file_and_field(ner_export, tmp_path):
    import stage2.runtime as rt

    out, _, _ = ner_export
    copy = tmp_path / "export"
    shutil.copytree(out, copy)
    meta = json.loads((copy / EXPORT_CONFIG).read_text())
    meta["model_config"]["max_length"] = "many"
    (copy / EXPORT_CONFIG).write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=rf"{EXPORT_CONFIG}: field 'max_length': expected an integer"):
        rt.load(copy)
