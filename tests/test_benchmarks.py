"""stage2.benchmarks: the label sets and data layout the benchmarks and recipes share."""

from __future__ import annotations

import gzip
import json

from stage2.benchmarks import NER_SETS, SPACY_TO_CONLL, data_dir, load_ner, load_summaries, ner_labels


def test_labels_with_and_without_descriptions():
    full, names = ner_labels("conll2003"), ner_labels("conll2003", descriptions=False)
    assert full.keys == names.keys == ["PER", "LOC", "ORG", "MISC"]
    assert [lb.name for lb in names] == ["person", "location", "organization", "miscellaneous"]
    assert all(lb.description for lb in full) and not any(lb.description for lb in names)


def test_spacy_maps_point_at_the_sets_types():
    for name, ner_set in NER_SETS.items():
        assert set(ner_set.spacy.values()) <= set(ner_set.types), name
    assert NER_SETS["conll2003"].spacy is SPACY_TO_CONLL and not NER_SETS["fewnerd-inter"].spacy


def test_data_folder_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("STAGE2_DATA", str(tmp_path))
    assert data_dir() == tmp_path
    (tmp_path / "multinerd_partial").mkdir()
    rows = [{"tokens": ["Ada", "sang"], "tags": ["B-PER", "O"]}, {"tokens": ["Rome"], "tags": ["B-LOC"]}]
    with gzip.open(tmp_path / "multinerd_partial" / "dev.jsonl.gz", "wt", encoding="utf-8") as f:
        f.write("\n".join(json.dumps(r) for r in rows) + "\n")
    assert [e.tokens for e in load_ner("multinerd", "dev", limit=1)] == [["Ada", "sang"]]
    (tmp_path / "samsum").mkdir()
    with gzip.open(tmp_path / "samsum" / "test.jsonl.gz", "wt", encoding="utf-8") as f:
        f.write(json.dumps({"document": "A: hi.\nB: bye.", "summary": "They greet."}) + "\n")
    assert load_summaries("samsum", "test")[0].summary == "They greet."


def test_a_copy_of_the_checkout_reports_the_commit_it_was_copied_from(monkeypatch, tmp_path):
    """Benchmarks run from a snapshot of the code (so editing the checkout cannot change a running row) recorded
    ``unknown``; a ``COMMIT`` file at the copy's root now names the commit."""
    import stage2.benchmarks as b

    monkeypatch.setattr(b, "CHECKOUT", tmp_path)
    assert b.git_commit() == "unknown"
    (tmp_path / "COMMIT").write_text("3eede756f1cc83967511d4738f39a8b689170774\n", encoding="utf-8")
    assert b.git_commit() == "3eede756f1cc83967511d4738f39a8b689170774"
