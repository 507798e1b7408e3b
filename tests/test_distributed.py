"""stage2.distributed on a local single-node Ray: the same answers as the runtime, every row once."""

from __future__ import annotations

import json

import pytest

ray = pytest.importorskip("ray")

import stage2.runtime as rt  # noqa: E402
from stage2.cli import main  # noqa: E402
from stage2.distributed import predict_dataset, read_files, summarize_dataset  # noqa: E402

TEXTS = [f"Ada Lovelace met Charles Babbage in London on day {i}." for i in range(30)]
DOCS = [
    f"The bank raised rates on day {i}. Markets fell. Analysts expect more rises. The weather was fine."
    for i in range(6)
]


@pytest.fixture(scope="module")
def local_ray():
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_tagging_a_dataset_matches_the_runtime_and_keeps_columns(local_ray, ner_export):
    folder = ner_export[0]
    ds = ray.data.from_items([{"id": i, "text": t} for i, t in enumerate(TEXTS)])
    rows = sorted(
        predict_dataset(ds, folder, labels="person,city", batch_size=4, actors=2).take_all(), key=lambda r: r["id"]
    )
    assert [r["id"] for r in rows] == list(range(len(TEXTS)))
    expected = rt.load(folder).predict(TEXTS, labels=["person", "city"])
    assert [list(r["entities"]) for r in rows] == expected
    with pytest.raises(ValueError, match="no 'body' column"):
        predict_dataset(ds, folder, text_column="body")
    with pytest.raises(ValueError, match="is empty or not a string"):
        predict_dataset(ds, folder, labels=["person", " "])


def test_summarising_a_dataset_matches_the_runtime(local_ray, summarizer_export):
    folder = summarizer_export[0]
    ds = ray.data.from_items([{"doc_id": f"d{i}", "document": d} for i, d in enumerate(DOCS)])
    rows = sorted(summarize_dataset(ds, folder, max_sentences=2, batch_size=2).take_all(), key=lambda r: r["doc_id"])
    expected = rt.load(folder).summarize(DOCS, max_sentences=2)
    assert [r["summary"] for r in rows] == [e["summary"] for e in expected]
    assert [[s["index"] for s in r["sentences"]] for r in rows] == [
        [s["index"] for s in e["sentences"]] for e in expected
    ]


def test_a_rows_focus_column_is_its_focus(local_ray, summarizer_export):
    folder = summarizer_export[0]
    foci = ["markets", None, "the weather", "", "rates", None]
    ds = ray.data.from_items(
        [{"n": i, "document": d, "focus": f} for i, (d, f) in enumerate(zip(DOCS, foci, strict=True))]
    )
    rows = sorted(summarize_dataset(ds, folder, max_sentences=1, focus="banks").take_all(), key=lambda r: r["n"])
    runtime = rt.load(folder)
    expected = [runtime.summarize(d, max_sentences=1, focus=f or "banks") for d, f in zip(DOCS, foci, strict=True)]
    assert [[dict(s) for s in r["sentences"]] for r in rows] == [e["sentences"] for e in expected]  # scores too
    job_focus = runtime.summarize(DOCS[0], max_sentences=1, focus="banks")
    assert rows[0]["sentences"][0]["score"] != job_focus["sentences"][0]["score"]  # row 0's own focus counted
    with pytest.raises(ValueError, match="no 'question' column"):
        summarize_dataset(ds, folder, max_sentences=1, focus_column="question")
    bad = ray.data.from_items([{"document": DOCS[0], "focus": 3}])
    with pytest.raises(Exception, match="column 'focus': focus must be a string or null"):
        summarize_dataset(bad, folder, max_sentences=1).take_all()


def test_cli_reads_a_glob_and_writes_one_row_per_input(local_ray, ner_export, tmp_path, capsys):
    for part in range(2):
        lines = [json.dumps({"id": f"{part}-{i}", "text": t}) for i, t in enumerate(TEXTS[part::2])]
        (tmp_path / f"in-{part}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    argv = ["ner", "predict", "--ray", "--input", str(tmp_path / "in-*.jsonl"), "--output", str(out)]
    assert main([*argv, "--model", str(ner_export[0]), "--labels", "person,city"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["output"] == str(out)
    rows = [json.loads(line) for f in sorted(out.glob("*.json*")) for line in f.read_text().splitlines() if line]
    assert sorted(r["id"] for r in rows) == sorted(f"{p}-{i}" for p in range(2) for i in range(len(TEXTS) // 2))
    assert all("entities" in r for r in rows)
    assert main(["ner", "predict", "--ray", "--input", str(tmp_path / "nothing-*.jsonl"), "--output", str(out)]) == 2
    labels = tmp_path / "labels.json"  # a labels file, as without --ray: names with descriptions
    labels.write_text(json.dumps({"person": "a human being", "city": "a town"}), encoding="utf-8")
    described = tmp_path / "described"
    argv = ["ner", "predict", "--ray", "--input", str(tmp_path / "in-0.jsonl"), "--output", str(described)]
    assert main([*argv, "--model", str(ner_export[0]), "--labels", str(labels)]) == 0
    rows = [json.loads(line) for f in sorted(described.glob("*.json*")) for line in f.read_text().splitlines() if line]
    expected = rt.load(ner_export[0]).predict(TEXTS[0::2], labels={"person": "a human being", "city": "a town"})
    assert [r["entities"] for r in sorted(rows, key=lambda r: int(r["id"].split("-")[1]))] == expected
    with pytest.raises(SystemExit, match="--ray needs --input"):
        main(["ner", "predict", "--ray", "--input", str(tmp_path / "in-*.jsonl")])


def test_cli_rerun_never_appends_to_an_earlier_output(local_ray, ner_export, tmp_path, capsys):
    (tmp_path / "in.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXTS[:2]), encoding="utf-8")
    out = tmp_path / "out"
    argv = ["ner", "predict", "--ray", "--input", str(tmp_path / "in.jsonl"), "--output", str(out)]
    argv += ["--model", str(ner_export[0])]
    assert main(argv) == 0
    assert main(argv) == 2 and "--overwrite" in capsys.readouterr().err
    assert main([*argv, "--overwrite"]) == 0
    rows = [line for f in out.glob("*.json*") for line in f.read_text().splitlines() if line]
    assert len(rows) == 2  # replaced, not 4
    (out / "mine.txt").write_text("notes", encoding="utf-8")
    assert main([*argv, "--overwrite"]) == 2 and "did not write (mine.txt" in capsys.readouterr().err
    assert (out / "mine.txt").read_text(encoding="utf-8") == "notes"


def test_read_files_names_what_is_wrong(local_ray, tmp_path):
    with pytest.raises(FileNotFoundError, match="no files match"):
        read_files(str(tmp_path / "*.jsonl"), "text")
    (tmp_path / "a.jsonl").write_text('{"text": "x"}\n', encoding="utf-8")
    (tmp_path / "b.txt").write_text("y\n", encoding="utf-8")
    with pytest.raises(ValueError, match="mixed file types"):
        read_files(str(tmp_path / "*"), "text")
    assert read_files(str(tmp_path / "*.txt"), "document").take_all() == [{"document": "y"}]
