"""Saved formats: every older format still loads, through the migrations in one place."""

from __future__ import annotations

import json
import shutil

import pytest

from stage2.formats import EXPORT_FORMAT, MODEL_FORMAT, migrate_export, migrate_model
from stage2.loading import load
from stage2.registry import EXPORT_CONFIG, TORCH_CONFIG

TEXTS = ["Angela Merkel met Emmanuel Macron in Paris.", "Ada Lovelace worked in London."]


def _as_format_1_export(folder):
    """Rewrite an export's config as stage2 0.1 wrote it (format 1)."""
    path = folder / EXPORT_CONFIG
    meta = json.loads(path.read_text(encoding="utf-8"))
    meta["format"] = 1
    if meta["task"] == "extractive-summarization":
        meta["task"] = "summarization"
    meta["special"].pop("mask")
    meta["model_config"].pop("format")
    if meta["task"] == "ner":
        meta["model_config"].pop("task")  # NER configs had no task field
    path.write_text(json.dumps(meta), encoding="utf-8")


def test_a_format_1_model_config_gets_its_task_and_is_not_changed_in_place():
    old = {"head": "label-semantic", "labels": []}
    new = migrate_model(old, "m/stage2_config.json")
    assert new["task"] == "ner" and new["format"] == MODEL_FORMAT
    assert old == {"head": "label-semantic", "labels": []}


def test_format_1_summarisers_get_the_four_original_features():
    new = migrate_model({"task": "extractive-summarization", "prior": {"relevance": 1.0}})
    assert new["features"] == ["relevance", "centrality", "position", "length"]
    assert new["dialogue_prior"] == {"relevance": 1.0} and new["redundancy"] == "trigram"


def test_a_newer_format_is_refused_with_the_way_out():
    with pytest.raises(ValueError, match=r"x.json: format 99 is newer than this stage2 reads .*upgrade stage2"):
        migrate_export({"format": 99, "task": "ner"}, "x.json")
    with pytest.raises(ValueError, match=r"field 'format': expected a positive integer, got 'two'"):
        migrate_model({"format": "two"})
    with pytest.raises(ValueError, match=r"unknown task 'translation'"):
        migrate_model({"task": "translation"})


def test_format_1_exports_name_the_extractive_task_and_get_a_mask_id():
    new = migrate_export({"task": "summarization", "special": {"sep": 102, "cls": 101}})
    assert new["task"] == "extractive-summarization" and new["format"] == EXPORT_FORMAT
    assert new["special"]["mask"] == 102


def test_new_saves_write_the_current_formats(ner_export, entity_model, tmp_path):
    assert json.loads((ner_export[0] / EXPORT_CONFIG).read_text(encoding="utf-8"))["format"] == EXPORT_FORMAT
    entity_model.save_pretrained(tmp_path / "m")
    saved = json.loads((tmp_path / "m" / TORCH_CONFIG).read_text(encoding="utf-8"))
    assert saved["format"] == MODEL_FORMAT and saved["task"] == "ner"


def test_a_format_1_ner_export_loads_and_predicts_the_same(ner_export, tmp_path):
    copy = tmp_path / "old"
    shutil.copytree(ner_export[0], copy)
    _as_format_1_export(copy)
    assert load(copy).predict(TEXTS) == load(ner_export[0]).predict(TEXTS)


def test_a_format_1_summariser_export_loads_and_summarises_the_same(summarizer_export, summ_fixtures, tmp_path):
    copy = tmp_path / "old"
    shutil.copytree(summarizer_export[0], copy)
    _as_format_1_export(copy)
    doc = summ_fixtures["news"]
    old, new = load(copy, tasks=["extractive-summarization"]), load(summarizer_export[0])
    assert old.summarize(doc, max_sentences=2) == new.summarize(doc, max_sentences=2)


def test_a_format_1_torch_model_loads(entity_model, tmp_path):
    entity_model.save_pretrained(tmp_path / "m")
    path = tmp_path / "m" / TORCH_CONFIG
    config = json.loads(path.read_text(encoding="utf-8"))
    for key in ("task", "format"):
        config.pop(key)
    path.write_text(json.dumps(config), encoding="utf-8")
    loaded = load(tmp_path / "m", backend="torch", tasks=["ner"])
    assert loaded.predict(TEXTS) == entity_model.predict(TEXTS)
