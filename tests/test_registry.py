from __future__ import annotations

import pytest

from stage2 import registry
from stage2.cli import _shorthand, main


def test_find_model_by_path_and_by_checkout_name(tmp_path, monkeypatch):
    folder = tmp_path / "exports" / "my-model"
    folder.mkdir(parents=True)
    (folder / registry.EXPORT_CONFIG).write_text("{}")
    assert registry.find_model(folder, registry.EXPORT_CONFIG) == folder
    monkeypatch.setattr(registry, "CHECKOUT", tmp_path)
    assert registry.find_model("my-model", registry.EXPORT_CONFIG) == folder
    with pytest.raises(FileNotFoundError, match="no model 'other'"):
        registry.find_model("other", registry.EXPORT_CONFIG)
    with pytest.raises(FileNotFoundError, match="without stage2_config"):
        registry.find_model(folder, registry.TORCH_CONFIG)
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        registry.find_model(tmp_path / "afile")


def test_shorthand_means_predict():
    assert _shorthand(["ner", "Ada met Bob."]) == ["ner", "predict", "Ada met Bob."]
    assert _shorthand(["-v", "summarize", "doc.txt"]) == ["-v", "summarize", "predict", "doc.txt"]
    assert _shorthand(["ner", "train", "--train", "x"]) == ["ner", "train", "--train", "x"]
    assert _shorthand(["ner", "--help"]) == ["ner", "--help"]
    assert _shorthand(["export", "m", "--out", "o"]) == ["export", "m", "--out", "o"]


def test_main_job_without_shipped_model_names_the_problem(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(registry, "CHECKOUT", tmp_path)  # a checkout without exports/
    assert main(["ner", "Angela Merkel met Emmanuel Macron in Paris."]) == 2
    assert "no ner-default export found" in capsys.readouterr().err


def test_shipped_torch_weights_are_found_by_name(tmp_path, monkeypatch, tiny_model):
    from stage2.ner.modeling import NERModel

    tiny_model.save_pretrained(tmp_path / "exports" / "my-ner" / "torch")
    (tmp_path / "exports" / "my-ner" / registry.EXPORT_CONFIG).write_text("{}")
    monkeypatch.setattr(registry, "CHECKOUT", tmp_path)
    assert registry.find_model("my-ner", registry.TORCH_CONFIG) == tmp_path / "exports" / "my-ner" / "torch"
    assert registry.find_model("my-ner", registry.EXPORT_CONFIG) == tmp_path / "exports" / "my-ner"
    loaded = NERModel.from_pretrained("my-ner")
    assert loaded.labels.keys == tiny_model.labels.keys


def test_run_time_labels_go_to_the_zero_shot_export(monkeypatch, tmp_path, ner_export, capsys):
    import shutil

    out = ner_export[0]
    shutil.copytree(out, tmp_path / "exports" / "ner-zero")
    monkeypatch.setattr(registry, "CHECKOUT", tmp_path)  # no ner-default here: only ner-zero
    assert main(["ner", "Ada Lovelace met Charles Babbage in London.", "--labels", "person,city"]) == 0
    capsys.readouterr()
    assert main(["ner", "Ada Lovelace met Charles Babbage in London."]) == 2
    assert "no ner-default export found" in capsys.readouterr().err


def test_run_time_labels_go_to_the_default_when_it_ships(monkeypatch, tmp_path, ner_export, capsys):
    import shutil

    import stage2.cli.ner as cli_ner

    for name in ("ner-default", "ner-zero"):
        shutil.copytree(ner_export[0], tmp_path / "exports" / name)
    monkeypatch.setattr(registry, "CHECKOUT", tmp_path)
    asked: list[str] = []
    real = cli_ner.load_model
    monkeypatch.setattr(cli_ner, "load_model", lambda name, **kw: asked.append(name) or real(name, **kw))
    assert main(["ner", "Ada Lovelace met Charles Babbage in London.", "--labels", "person,city"]) == 0
    assert main(["ner", "Ada Lovelace met Charles Babbage in London.", "--model", "ner-zero", "--labels", "city"]) == 0
    assert asked == ["ner-default", "ner-zero"]


def test_a_bare_task_with_piped_stdin_means_predict(monkeypatch):
    """Issue 24: ``cat meeting.txt | stage2 summarize`` failed with "command required"."""
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("Ada met Bob."))  # not a terminal
    assert _shorthand(["ner"]) == ["ner", "predict"]
    assert _shorthand(["-v", "summarize"]) == ["-v", "summarize", "predict"]

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr("sys.stdin", Terminal())
    assert _shorthand(["ner"]) == ["ner"]  # at a terminal: the usage message, not a wait for input


def test_piped_text_is_tagged_end_to_end():
    import subprocess
    import sys

    from stage2.registry import CHECKOUT

    if not (CHECKOUT / "exports" / "ner-default").is_dir():
        pytest.skip("no shipped ner-default export in this checkout")
    done = subprocess.run(
        [sys.executable, "-m", "stage2.cli", "ner"],
        input="Angela Merkel met Emmanuel Macron in Paris.\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Merkel" in done.stdout and "Paris" in done.stdout
