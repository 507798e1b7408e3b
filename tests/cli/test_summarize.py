from __future__ import annotations

import json

import pytest

from stage2.cli import build_parser, main

NEWS = "Acme Corp. said profit rose 12% to $1.2bn. Its shares rose 3% in New York. The chairman thanked staff."


@pytest.fixture
def summ_dir(tiny_summarizer, tmp_path):
    path = tmp_path / "summariser"
    tiny_summarizer.save_pretrained(path)
    return path


@pytest.fixture
def data_file(fixtures_dir):
    return fixtures_dir / "summarization" / "tiny.jsonl"


def test_help_exits_zero(capsys):
    for argv in (["summarize", "--help"], ["summarize", "train", "--help"], ["summarize", "predict", "--help"]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 0
    assert "--max-sentences" in capsys.readouterr().out


def test_predict_prints_a_json_line_per_document(summ_dir, capsys):
    assert main(["summarize", "predict", "--model", str(summ_dir), NEWS, "Ada sang. Bob danced."]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    first = json.loads(lines[0])
    assert isinstance(first["summary"], str) and first["summary"]
    for s in first["sentences"]:
        assert NEWS[s["start"] : s["end"]] == s["text"]


def test_predict_with_budget_focus_and_input_file(summ_dir, tmp_path, capsys):
    path = tmp_path / "docs.jsonl"
    path.write_text(json.dumps({"document": NEWS}) + "\n\n" + json.dumps({"document": ""}) + "\n", encoding="utf-8")
    argv = ["summarize", "predict", "--model", str(summ_dir), "--input", str(path), "--max-sentences", "1"]
    assert main([*argv, "--focus", "shares"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(records) == 2
    assert len(records[0]["sentences"]) == 1
    assert records[1] == {"summary": "", "sentences": []}


def test_predict_reads_each_lines_focus(summ_dir, tmp_path, capsys):
    from stage2.summarization.modeling import Summarizer

    rows = [{"document": NEWS, "focus": "shares"}, {"document": NEWS, "focus": None}, {"document": NEWS, "focus": " "}]
    path = tmp_path / "docs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    argv = ["summarize", "predict", "--model", str(summ_dir), "--input", str(path), "--max-sentences", "1"]
    assert main([*argv, "--focus", "the chairman"]) == 0
    got = [json.loads(line)["summary"] for line in capsys.readouterr().out.splitlines()]
    model = Summarizer.from_pretrained(summ_dir)
    want = [
        model.summarize(NEWS, max_sentences=1, focus=f)["summary"] for f in ("shares", "the chairman", "the chairman")
    ]
    assert got == want
    path.write_text(json.dumps({"document": NEWS, "focus": ["shares"]}) + "\n", encoding="utf-8")
    assert main(argv) == 2
    assert "docs.jsonl, line 1: 'focus' must be a string or null" in capsys.readouterr().err


def test_predict_text_file(summ_dir, tmp_path, capsys):
    path = tmp_path / "article.txt"
    path.write_text(NEWS, encoding="utf-8")
    assert main(["summarize", "predict", "--model", str(summ_dir), "--input", str(path), "--ratio", "0.5"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert json.loads(line)["summary"]


def test_predict_bad_input_line_names_file_and_line(summ_dir, tmp_path, capsys):
    path = tmp_path / "docs.jsonl"
    path.write_text(json.dumps({"document": NEWS}) + "\n" + json.dumps({"text": NEWS}) + "\n", encoding="utf-8")
    assert main(["summarize", "predict", "--model", str(summ_dir), "--input", str(path)]) == 2
    assert "docs.jsonl, line 2" in capsys.readouterr().err


def test_evaluate_prints_rouge(summ_dir, data_file, capsys):
    assert main(["summarize", "evaluate", "--model", str(summ_dir), "--data", str(data_file), "--max-words", "20"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert set(scores) == {"rouge1", "rouge2", "rougeLsum"}
    assert 0.0 < scores["rouge1"] <= 100.0


def test_train_writes_a_model(summ_dir, data_file, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["summarize", "train", "--model", str(summ_dir), "--train", str(data_file), "--out", str(out)]
    assert main(argv) == 0  # few documents: the few-shot encoder adaptation (fewer than 5: the prior is kept)
    summary = json.loads(capsys.readouterr().out)
    assert summary["steps"] == 0 and summary["model"] == str(out)
    card = json.loads((out / "stage2_config.json").read_text(encoding="utf-8"))["card"]
    assert card["training"][-1]["adaptation"] == "encoder"
    assert main([*argv, "--adaptation", "salience"]) == 0
    card = json.loads((out / "stage2_config.json").read_text(encoding="utf-8"))["card"]
    assert card["training"][-1]["adaptation"] == "salience"
    capsys.readouterr()
    argv += ["--min-steps", "2", "--epochs", "1", "--batch-size", "2", "--adaptation", "weights"]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["steps"] == 2 and summary["model"] == str(out) and summary["best_dev"] is None
    assert (out / "stage2_config.json").exists() and (out / "model.safetensors").exists()
    assert (out / "work" / "checkpoint-last" / "trainer_state.json").exists()
    config = json.loads((out / "stage2_config.json").read_text(encoding="utf-8"))
    assert config["task"] == "extractive-summarization"
    assert config["card"]["training"][-1]["steps"] == 2
    assert config["card"]["training"][-1]["trained"] == "feature weights"
    assert main(["summarize", "predict", "--model", str(out), NEWS]) == 0
    assert json.loads(capsys.readouterr().out)["summary"]


def test_train_with_dev(summ_dir, data_file, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["summarize", "train", "--model", str(summ_dir), "--train", str(data_file), "--dev", str(data_file)]
    argv += ["--out", str(out), "--min-steps", "2", "--epochs", "1", "--batch-size", "2", "--max-sentences", "2"]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["best_dev"]["rouge1"] > 0
    assert "dev" in json.loads((out / "stage2_config.json").read_text(encoding="utf-8"))["card"]["scores"]


def test_train_line_without_summary_exits_2(summ_dir, tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"document": NEWS, "summary": "x"}) + "\n" + json.dumps({"document": NEWS}) + "\n")
    argv = ["summarize", "train", "--model", str(summ_dir), "--train", str(bad), "--out", str(tmp_path / "o")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert f"{bad}, line 2" in err and "'summary'" in err
    assert not (tmp_path / "o").exists()
    assert main(["summarize", "evaluate", "--model", str(summ_dir), "--data", str(bad)]) == 2
    assert f"{bad}, line 2" in capsys.readouterr().err


def test_missing_data_file_exits_2(summ_dir, tmp_path, capsys):
    assert main(["summarize", "evaluate", "--model", str(summ_dir), "--data", str(tmp_path / "nope.jsonl")]) == 2
    assert "nope.jsonl" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["predict", "evaluate", "train"])
def test_two_budgets_are_a_usage_error(command, capsys):
    argv = ["summarize", command, "--max-sentences", "2", "--ratio", "0.3"]
    argv += {"predict": ["text"], "evaluate": ["--data", "d.jsonl"], "train": ["--train", "t", "--out", "o"]}[command]
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_bad_budget_value_exits_2(summ_dir, capsys):
    assert main(["summarize", "predict", "--model", str(summ_dir), "--ratio", "1.5", NEWS]) == 2
    assert "ratio must lie in (0, 1]" in capsys.readouterr().err


def test_parser_defaults():
    args = build_parser().parse_args(["summarize", "train", "--train", "t.jsonl", "--out", "o"])
    assert (args.epochs, args.min_steps, args.batch_size, args.model, args.seq2seq) == (3.0, 100, 4, None, None)
    assert (args.max_sentences, args.max_words, args.ratio) == (None, None, None)
    assert (args.feature_lr, args.train_encoder, args.residual) == (1e-2, False, None)
    args = build_parser().parse_args(["summarize", "train", "--train", "t", "--out", "o", "--residual"])
    assert args.residual is True


def test_train_with_residual_and_encoder_flags(summ_dir, data_file, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["summarize", "train", "--model", str(summ_dir), "--train", str(data_file), "--out", str(out)]
    argv += ["--min-steps", "2", "--epochs", "1", "--batch-size", "2", "--residual", "--train-encoder"]
    assert main(argv) == 0
    run = json.loads((out / "stage2_config.json").read_text(encoding="utf-8"))["card"]["training"][-1]
    assert run["trained"] == "feature weights and residual" and run["encoder"] == "fine-tuned"


def test_seq2seq_model_folder_is_dispatched(tiny_seq2seq, data_file, tmp_path, capsys):
    folder = tmp_path / "s2s"
    tiny_seq2seq.save_pretrained(folder)
    assert main(["summarize", "predict", "--model", str(folder), "--max-words", "4", NEWS]) == 0
    result = json.loads(capsys.readouterr().out)
    assert isinstance(result["summary"], str) and result["sentences"] == []
    assert main(["summarize", "evaluate", "--model", str(folder), "--data", str(data_file), "--max-words", "4"]) == 0
    assert "rouge1" in json.loads(capsys.readouterr().out)
    out = tmp_path / "out"
    argv = ["summarize", "train", "--seq2seq", str(folder), "--train", str(data_file), "--out", str(out)]
    assert main([*argv, "--min-steps", "1", "--epochs", "1", "--batch-size", "2"]) == 0
    assert json.loads(capsys.readouterr().out)["steps"] == 2  # one epoch of two batches
    assert json.loads((out / "stage2_config.json").read_text(encoding="utf-8"))["task"] == "abstractive-summarization"
