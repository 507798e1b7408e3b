from __future__ import annotations

import json

import pytest

from stage2.cli import build_parser, main


@pytest.fixture
def model_dir(entity_model, tmp_path):
    path = tmp_path / "model"
    entity_model.save_pretrained(path)
    return path


def test_help_exits_zero(capsys):
    for argv in (["--help"], ["ner", "--help"], ["ner", "train", "--help"], ["ner", "predict", "--help"]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 0
    assert "--min-steps" in capsys.readouterr().out


def test_missing_subcommand_is_usage_error(capsys, monkeypatch):
    import io

    class Terminal(io.StringIO):  # at a terminal; with piped stdin a bare `stage2 ner` means predict
        def isatty(self):
            return True

    monkeypatch.setattr("sys.stdin", Terminal())
    with pytest.raises(SystemExit) as info:
        main(["ner"])
    assert info.value.code == 2


def test_predict_prints_json_lines(model_dir, capsys):
    texts = ["Ada Lovelace met Charles Babbage in London.", "Grace flew to Rome."]
    assert main(["ner", "predict", "--model", str(model_dir), *texts]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    records = [json.loads(line) for line in lines]
    assert [r["text"] for r in records] == texts
    for record in records:
        assert record["entities"]
        for ent in record["entities"]:
            assert record["text"][ent["char_start"] : ent["char_end"]] == ent["text"]
            assert ent["label"] in {"person", "city"}


def test_predict_with_labels_and_input_file(model_dir, tmp_path, capsys):
    path = tmp_path / "texts.jsonl"
    path.write_text('{"text": "Ada sang."}\n{"text": "Rome"}\n', encoding="utf-8")
    assert main(["ner", "predict", "--model", str(model_dir), "--input", str(path), "--labels", "song, singer"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["text"] for r in records] == ["Ada sang.", "Rome"]
    assert {e["label"] for r in records for e in r["entities"]} <= {"song", "singer"}


def test_predict_threshold_drops_low_scores_and_refuses_bad_values(model_dir, capsys):
    text = "Ada Lovelace met Charles Babbage in London."
    assert main(["ner", "predict", "--model", str(model_dir), text]) == 0
    everything = json.loads(capsys.readouterr().out)["entities"]
    scores = sorted({e["score"] for e in everything})
    cut = (scores[0] + scores[-1]) / 2
    assert main(["ner", "predict", "--model", str(model_dir), "--threshold", str(cut), text]) == 0
    kept = json.loads(capsys.readouterr().out)["entities"]
    assert kept == [e for e in everything if e["score"] >= cut] and 0 < len(kept) < len(everything)
    with pytest.raises(SystemExit) as info:
        main(["ner", "predict", "--model", str(model_dir), "--threshold", "2", text])
    assert info.value.code == 2 and "expected a number from 0 to 1" in capsys.readouterr().err


def test_predict_bad_input_line_names_file_and_line(model_dir, tmp_path, capsys):
    path = tmp_path / "texts.jsonl"
    path.write_text('{"text": "Ada sang."}\n{"txt": "Rome"}\n', encoding="utf-8")
    assert main(["ner", "predict", "--model", str(model_dir), "--input", str(path)]) == 2
    assert "texts.jsonl, line 2" in capsys.readouterr().err


def test_evaluate_prints_scores(model_dir, fixtures_dir, capsys):
    assert main(["ner", "evaluate", "--model", str(model_dir), "--data", str(fixtures_dir / "tiny.conll")]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert {"precision", "recall", "f1", "per_type"} <= set(scores)
    assert 0.0 <= scores["f1"] <= 100.0
    assert scores["sentences"] == 2


def test_evaluate_warns_when_label_keys_do_not_match(model_dir, tmp_path, capsys):
    """Data whose entity types are not the model's keys gives F1 0: say so instead of printing it silently."""
    data = tmp_path / "other.jsonl"
    data.write_text(json.dumps({"tokens": ["Ada", "left"], "tags": ["B-PER", "O"]}) + "\n")
    assert main(["ner", "evaluate", "--model", str(model_dir), "--data", str(data)]) == 0
    err = capsys.readouterr().err
    assert "none of the data's entity types ['PER']" in err and "--labels" in err
    assert main(["ner", "evaluate", "--model", str(model_dir), "--data", str(data), "--labels", "PER"]) == 0
    assert "warning" not in capsys.readouterr().err


def test_train_writes_a_model(model_dir, fixtures_dir, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["ner", "train", "--model", str(model_dir), "--train", str(fixtures_dir / "tiny.jsonl"), "--out", str(out)]
    argv += ["--min-steps", "3", "--epochs", "1", "--batch-size", "2"]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["steps"] == 3 and summary["model"] == str(out)
    assert (out / "stage2_config.json").exists() and (out / "model.safetensors").exists()
    assert (out / "work" / "checkpoint-last" / "trainer_state.json").exists()
    config = json.loads((out / "stage2_config.json").read_text(encoding="utf-8"))
    assert [lb["key"] for lb in config["labels"]] == ["person", "city"]
    assert config["card"]["training"][-1]["steps"] == 3


def test_train_self_distills_and_saves_a_decision_threshold(model_dir, fixtures_dir, tmp_path, capsys):
    """The few-shot recipe from the CLI: ``--self-distill`` (the starting model's own answers beside the
    tags) and ``--decision-threshold`` saved as the trained model's default; a threshold outside (0, 1) is
    refused before any work."""
    out = tmp_path / "out"
    argv = ["ner", "train", "--model", str(model_dir), "--train", str(fixtures_dir / "tiny.jsonl"), "--out", str(out)]
    argv += ["--min-steps", "3", "--epochs", "1", "--batch-size", "2", "--self-distill", "0.25"]
    assert main([*argv, "--decision-threshold", "1.5"]) != 0
    assert "--decision-threshold 1.5" in capsys.readouterr().err and not out.exists()
    assert main([*argv, "--decision-threshold", "0.4"]) == 0
    config = json.loads((out / "stage2_config.json").read_text(encoding="utf-8"))
    assert config["decision_threshold"] == 0.4


def test_train_ctrl_c_leaves_a_checkpoint_and_the_rerun_resumes(model_dir, fixtures_dir, tmp_path, capsys, monkeypatch):
    import os
    import signal

    import stage2.ner.training as training

    out = tmp_path / "out"
    argv = ["ner", "train", "--model", str(model_dir), "--train", str(fixtures_dir / "tiny.jsonl"), "--out", str(out)]
    argv += ["--min-steps", "6", "--epochs", "1", "--batch-size", "2"]
    original, calls = training.collate_windows, []

    def collate_then_ctrl_c(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGINT)
        return original(*args, **kwargs)

    monkeypatch.setattr(training, "collate_windows", collate_then_ctrl_c)
    assert main(argv) == 130
    err = capsys.readouterr().err
    assert "after step 2 of 6" in err and "resume" in err and "Traceback" not in err
    state = json.loads((out / "work" / "checkpoint-last" / "trainer_state.json").read_text(encoding="utf-8"))
    assert state["step"] == 2
    monkeypatch.setattr(training, "collate_windows", original)
    assert main(argv) == 0
    assert len(calls) == 2  # the rerun went on from step 2 with the real collate
    assert json.loads(capsys.readouterr().out)["steps"] == 6


def test_train_with_dev_and_labels_file(model_dir, fixtures_dir, tmp_path, capsys):
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps({"person": {"name": "person", "description": "a human"}, "city": "a town"}))
    out = tmp_path / "out"
    argv = ["ner", "train", "--model", str(model_dir), "--train", str(fixtures_dir / "tiny.jsonl"), "--out", str(out)]
    argv += ["--dev", str(fixtures_dir / "tiny.conll"), "--labels", str(labels), "--min-steps", "2", "--epochs", "1"]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["best_dev"] is not None
    config = json.loads((out / "stage2_config.json").read_text(encoding="utf-8"))
    assert config["labels"][0] == {"key": "person", "name": "person", "description": "a human"}
    assert "dev" in config["card"]["scores"]
    assert "| person | person | a human |" in (out / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("content", "where"),
    [
        ("Ada B-person\nLondon\n", "line 2"),
        ("Ada B-person\n\nsang O\nLondon I-city\n", "sentence starting at line 3"),
    ],
)
def test_bad_data_file_exits_2_naming_file_and_line(model_dir, tmp_path, capsys, content, where):
    bad = tmp_path / "bad.conll"
    bad.write_text(content, encoding="utf-8")
    assert main(["ner", "evaluate", "--model", str(model_dir), "--data", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert f"{bad}, {where}" in err
    argv = ["ner", "train", "--model", str(model_dir), "--train", str(bad), "--out", str(tmp_path / "o")]
    assert main(argv) == 2
    assert str(bad) in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_missing_data_file_exits_2(model_dir, tmp_path, capsys):
    assert main(["ner", "evaluate", "--model", str(model_dir), "--data", str(tmp_path / "nope.conll")]) == 2
    assert "nope.conll" in capsys.readouterr().err


def test_parser_defaults():
    args = build_parser().parse_args(["ner", "train", "--train", "t.conll", "--out", "o"])
    assert (args.epochs, args.min_steps, args.batch_size, args.scheme, args.model) == (3.0, 150, 16, "iob2", None)


def test_console_script_points_at_main():
    from importlib.metadata import entry_points

    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "stage2"]
    assert script.load() is main


def test_train_out_holding_other_files_is_refused_before_work(fixtures_dir, tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "README.md").write_text("my notes", encoding="utf-8")
    argv = ["ner", "train", "--train", str(fixtures_dir / "tiny.conll"), "--out", str(out), "--min-steps", "2"]
    assert main(argv) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "README.md").read_text(encoding="utf-8") == "my notes" and not (out / "work").exists()
    afile = tmp_path / "afile"
    afile.write_text("x", encoding="utf-8")
    argv[argv.index(str(out))] = str(afile / "sub")
    assert main(argv) == 2
    assert "cannot be created" in capsys.readouterr().err
