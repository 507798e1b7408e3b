"""``stage2.load``: one loader chooses the class by the saved task."""

from __future__ import annotations

import json

import pytest

from stage2.loading import load, model_task
from stage2.ner.modeling import NERModel
from stage2.registry import TORCH_CONFIG


def test_load_chooses_the_class_by_task(entity_model, tmp_path):
    entity_model.save_pretrained(tmp_path / "m")
    assert model_task(tmp_path / "m") == "ner"
    assert isinstance(load(tmp_path / "m"), NERModel)


def test_load_refuses_another_task_naming_the_folder(entity_model, tmp_path):
    entity_model.save_pretrained(tmp_path / "m")
    with pytest.raises(ValueError, match=r"holds a 'ner' model; expected 'extractive-summarization'") as err:
        load(tmp_path / "m", tasks=("extractive-summarization",))
    assert str(tmp_path / "m") in str(err.value)


def test_unknown_task_names_the_config(entity_model, tmp_path):
    entity_model.save_pretrained(tmp_path / "m")
    config = json.loads((tmp_path / "m" / TORCH_CONFIG).read_text(encoding="utf-8"))
    (tmp_path / "m" / TORCH_CONFIG).write_text(json.dumps({**config, "task": "translation"}), encoding="utf-8")
    with pytest.raises(ValueError, match=r"stage2_config.json: unknown task 'translation'"):
        load(tmp_path / "m")
