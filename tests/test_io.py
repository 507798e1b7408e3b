"""stage2.io: the input helpers both tasks share."""

from __future__ import annotations

import gzip

import pytest

from stage2.io import DataError, as_batch, iter_jsonl, open_text, tokenizable


def test_as_batch_one_or_many_and_type_errors():
    assert as_batch("Ada") == (["Ada"], True)
    assert as_batch(("Ada", "Bob")) == (["Ada", "Bob"], False)
    with pytest.raises(TypeError, match="decode it first"):
        as_batch(b"Ada")
    with pytest.raises(TypeError, match="text 1 is int"):
        as_batch(["Ada", 3])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="got NoneType"):
        as_batch(None)  # type: ignore[arg-type]


def test_tokenizable_replaces_lone_surrogates_one_for_one():
    text = "Ada\udcff met Bob"
    (clean,) = tokenizable([text])
    assert clean == "Ada\ufffd met Bob" and len(clean) == len(text)


def test_open_text_reads_gzip_and_names_bad_files(tmp_path):
    with gzip.open(tmp_path / "a.txt.gz", "wt", encoding="utf-8") as f:
        f.write("\ufeffone\ntwo\n")
    assert list(open_text(tmp_path / "a.txt.gz")) == ["one\n", "two\n"]  # the BOM is dropped
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe\xfa")
    with pytest.raises(DataError, match=r"bad\.txt: not UTF-8"):
        list(open_text(tmp_path / "bad.txt"))
    with pytest.raises(DataError, match="is a folder"):
        list(open_text(tmp_path))


def test_iter_jsonl_skips_blanks_and_names_the_bad_line(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"a": 1}\n\n{"a": \n', encoding="utf-8")
    rows = iter_jsonl(path)
    assert next(rows) == (f"{path}, line 1", {"a": 1})
    with pytest.raises(DataError, match=r"d\.jsonl, line 3: not valid JSON"):
        next(rows)


@pytest.mark.parametrize(
    ("text", "warned"),
    [
        ("安格拉·默克尔在柏林会见了马克龙。", True),
        ("التقت أنجيلا ميركل بماكرون في باريس", True),
        ("अंगेला मर्केल ने पेरिस में मैक्रों से मुलाकात की", True),
        ("Angela Merkel met Emmanuel Macron in Paris.", False),
        ("Zoë visited São Paulo and Kraków (Poland) — naïve café.", False),
        ("Merkel (默克尔) met Macron.", False),
    ],
)
def test_text_mostly_outside_the_latin_script_is_warned_about(text, warned, caplog, ner_export):
    """Issue 24: Chinese, Arabic or Hindi text returned [] with no word that the models read English."""
    import stage2.runtime as rt

    with caplog.at_level("WARNING", logger="stage2"):
        rt.load(ner_export[0]).predict(text)
    assert ("models read English" in caplog.text) is warned
