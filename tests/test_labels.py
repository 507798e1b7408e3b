from __future__ import annotations

import pytest

from stage2.labels import Label, LabelSet, Span, TagError, humanize, parse_tag, spans_to_tags, tags_to_spans


@pytest.mark.parametrize(
    ("tags", "scheme", "expected"),
    [
        (["B-PER", "I-PER", "O", "B-LOC"], "iob2", [Span("PER", 0, 2), Span("LOC", 3, 4)]),
        (["B-PER", "B-PER", "I-PER"], "iob2", [Span("PER", 0, 1), Span("PER", 1, 3)]),
        (["B-PER", "I-LOC"], "iob1", [Span("PER", 0, 1), Span("LOC", 1, 2)]),
        (["I-PER", "I-PER", "O", "I-LOC"], "iob1", [Span("PER", 0, 2), Span("LOC", 3, 4)]),
        (["I-PER", "B-PER", "I-PER"], "iob1", [Span("PER", 0, 1), Span("PER", 1, 3)]),
        (["B-PER", "I-PER", "E-PER", "O", "S-LOC"], "bioes", [Span("PER", 0, 3), Span("LOC", 4, 5)]),
        (["S-PER", "S-PER", "B-LOC", "E-LOC"], "bioes", [Span("PER", 0, 1), Span("PER", 1, 2), Span("LOC", 2, 4)]),
        (["O", "O"], "iob2", []),
        ([], "iob2", []),
        (["B-ORG", "I-ORG"], "IOB2", [Span("ORG", 0, 2)]),
    ],
)
def test_tags_to_spans(tags, scheme, expected):
    assert tags_to_spans(tags, scheme=scheme) == expected


def test_strict_iob2_rejects_i_after_o_and_names_position():
    with pytest.raises(TagError, match=r"position 1") as info:
        tags_to_spans(["O", "I-PER"])
    assert "B-PER" in str(info.value)


def test_strict_iob2_rejects_i_after_other_type():
    with pytest.raises(TagError):
        tags_to_spans(["B-LOC", "I-PER"])


def test_strict_iob2_rejects_i_at_sentence_start():
    with pytest.raises(TagError, match="start of sentence"):
        tags_to_spans(["I-PER"])


def test_repair_turns_stray_i_into_entity_start():
    assert tags_to_spans(["O", "I-PER", "I-PER", "O"], repair=True) == [Span("PER", 1, 3)]
    assert tags_to_spans(["B-LOC", "I-PER"], repair=True) == [Span("LOC", 0, 1), Span("PER", 1, 2)]


def test_e_and_s_tags_need_bioes():
    with pytest.raises(TagError, match="not allowed"):
        tags_to_spans(["S-PER"], scheme="iob2")


@pytest.mark.parametrize("tag", ["PER", "B_PER", "B-", "b-PER", "X-PER", "", "o"])
def test_unknown_tag_strings_raise(tag):
    with pytest.raises(TagError, match="unknown tag"):
        tags_to_spans(["O", tag])


def test_parse_tag():
    assert parse_tag("O") == ("O", None)
    assert parse_tag("B-creative-work") == ("B", "creative-work")


def test_unknown_scheme_raises():
    with pytest.raises(ValueError, match="scheme"):
        tags_to_spans(["O"], scheme="bilou")


@pytest.mark.parametrize(
    "tags",
    [
        ["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC"],
        ["O", "O", "O"],
        ["B-A", "B-B", "B-C"],
        ["B-PER", "I-PER", "I-PER"],
    ],
)
def test_spans_to_tags_round_trip(tags):
    spans = tags_to_spans(tags)
    assert spans_to_tags(spans, len(tags)) == tags
    assert tags_to_spans(spans_to_tags(spans, len(tags))) == spans


def test_spans_to_tags_accepts_unsorted_spans():
    assert spans_to_tags([Span("LOC", 2, 3), Span("PER", 0, 1)], 3) == ["B-PER", "O", "B-LOC"]


def test_overlapping_spans_raise():
    with pytest.raises(ValueError, match="overlaps"):
        spans_to_tags([Span("PER", 0, 2), Span("LOC", 1, 3)], 4)


@pytest.mark.parametrize("span", [Span("PER", 2, 5), Span("PER", -1, 1), Span("PER", 1, 1)])
def test_spans_outside_sentence_raise(span):
    with pytest.raises(ValueError, match="outside"):
        spans_to_tags([span], 3)


def test_from_user_forms():
    from_dict = LabelSet.from_user({"person": "a human being", "city": None})
    assert from_dict.keys == ["person", "city"]
    assert from_dict.labels[0] == Label("person", "person", "a human being")
    assert from_dict.labels[1].description == ""
    assert LabelSet.from_user([" person ", "city"]).keys == ["person", "city"]
    custom = LabelSet.from_user([Label("PER", "person", "someone")])
    assert custom.labels == [Label("PER", "person", "someone")]
    assert LabelSet.from_user(custom) is custom


@pytest.mark.parametrize("bad", [[], {}])
def test_from_user_rejects_empty(bad):
    with pytest.raises(ValueError, match="empty"):
        LabelSet.from_user(bad)


@pytest.mark.parametrize("bad", [[""], ["person", "  "], {"": "nothing"}])
def test_from_user_rejects_empty_name(bad):
    with pytest.raises(ValueError, match="empty"):
        LabelSet.from_user(bad)


@pytest.mark.parametrize("bad", [["person", "person"], ["Person", "person"], {"CITY": "", "city": "a town"}])
def test_from_user_rejects_duplicates_case_insensitively(bad):
    with pytest.raises(ValueError, match="twice"):
        LabelSet.from_user(bad)


def test_from_user_rejects_bare_string():
    with pytest.raises(TypeError, match="single string"):
        LabelSet.from_user("person")


def test_from_user_rejects_non_string_items():
    with pytest.raises(TypeError):
        LabelSet.from_user(["person", 3])
    with pytest.raises(TypeError):
        LabelSet.from_user({"person": 3})


def test_labelset_dict_round_trip():
    ls = LabelSet([Label("PER", "person", "a human being"), Label("LOC", "location")])
    assert LabelSet.from_dict(ls.to_dict()) == ls
    assert LabelSet.from_dict([{"key": "ORG"}]).labels == [Label("ORG", "ORG", "")]
    assert len(ls) == 2
    assert [lb.key for lb in ls] == ["PER", "LOC"]


def test_from_keys_humanizes_names():
    ls = LabelSet.from_keys(["PER", "creative-work"], {"PER": "a person"})
    assert ls.labels == [Label("PER", "PER", "a person"), Label("creative-work", "creative work", "")]


def test_label_prompt():
    assert Label("PER", "person", "a human being").prompt() == "person: a human being"
    assert Label("PER", "person").prompt() == "person"
    assert Label("PER", "person", "a human").prompt("{name} ({description})") == "person (a human)"
    assert Label("PER", "person").prompt("{name} ({description})") == "person"
    ls = LabelSet.from_user({"person": "a human being", "city": ""})
    assert ls.prompts() == ["person: a human being", "city"]


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("Gene_or_gene_product", "gene or gene product"),
        ("creative-work", "creative work"),
        ("camelCase", "camel case"),
        ("PER", "PER"),
        ("PER_NAME", "PER NAME"),
        ("a__b//c", "a b c"),
    ],
)
def test_humanize(key, expected):
    assert humanize(key) == expected


def test_a_model_trained_on_its_own_labels_refuses_others(tiny_model, tmp_path):
    """Issue 24: ner-fast (trained on CoNLL's four types only) answered --labels dinosaur,spaceship with
    Marie Curie = dinosaur (0.78). A model whose config says open_labels=false refuses other labels and
    reads a subset of its own with its own names and descriptions."""
    from stage2.ner.config import NERConfig
    from stage2.ner.modeling import NERModel

    closed = NERModel(
        NERConfig.from_dict({**tiny_model.config.to_dict(), "open_labels": False}),
        tiny_model.encoder,
        tiny_model.tokenizer,
    )
    with pytest.raises(ValueError, match=r"trained on its own labels .* cannot read others: \['dinosaur'\]"):
        closed.predict("Marie Curie lived in Paris.", labels=["dinosaur", "person"])
    own = list(closed.labels)
    subset = closed.resolve_labels([own[0].key])
    assert list(subset) == [own[0]]  # its own name and description, not the key as a name
    assert len(tiny_model.resolve_labels(["dinosaur"])) == 1  # an open model reads any label


def test_every_shipped_ner_export_reads_run_time_labels_or_refuses_them():
    """Issue 25: no shipped model answers labels it was not trained to read. The old ner-fast (CoNLL types
    only) refused them; the distilled ner-fast reads them like its teacher ner-zero."""
    import json

    import stage2.runtime as rt
    from stage2.registry import CHECKOUT

    exports = [p for p in sorted((CHECKOUT / "exports").glob("ner-*")) if (p / "stage2_export.json").is_file()]
    if not exports:
        pytest.skip("no shipped NER export in this checkout")
    for folder in exports:
        model = rt.load(folder, threads=1)
        config = json.loads((folder / "stage2_export.json").read_text(encoding="utf-8"))["model_config"]
        if not config.get("open_labels", True):
            with pytest.raises(ValueError, match="cannot read others"):
                model.predict("Marie Curie lived in Paris.", labels=["dinosaur", "spaceship"])
            continue
        found = model.predict("Marie Curie lived in Paris.", labels=["person", "city"])
        assert {(e["text"], e["label"]) for e in found} == {("Marie Curie", "person"), ("Paris", "city")}, folder.name
        assert model.predict("Marie Curie lived in Paris.", labels=["dinosaur", "spaceship"]) == [], folder.name


def test_one_label_grammar_for_every_door():
    """Issue 24: the CLI's labels file took {"PER": {"name", "description"}}, which the API refused.
    Now LabelSet.from_user reads every form, and the CLI, service, spaCy and Ray all call it."""
    nested = LabelSet.from_user({"PER": {"name": "person", "description": "a human"}, "LOC": None})
    assert nested.to_dict() == [
        {"key": "PER", "name": "person", "description": "a human"},
        {"key": "LOC", "name": "LOC", "description": ""},
    ]
    assert LabelSet.from_user(nested.to_dict()) == nested  # the saved form reads back
    with pytest.raises(ValueError, match=r"label 'PER': expected string 'name' and 'description' only"):
        LabelSet.from_user({"PER": {"name": "person", "colour": "red"}})
    with pytest.raises(TypeError, match=r"label 'PER': expected a description string or an object"):
        LabelSet.from_user({"PER": 5})


def test_comma_separated_names_read_the_same_in_the_cli_and_ray():
    """Issue 24's audit: the CLI dropped empty names between commas and Ray's API kept them, so
    ``"person,"`` worked in one and raised in the other. Both read them through ``LabelSet.from_names``."""
    from stage2.cli.common import parse_labels
    from stage2.distributed import _run_time_labels

    assert LabelSet.from_names(" person, city,").keys == ["person", "city"]
    assert _run_time_labels("person,").keys == parse_labels("person,").keys == ["person"]
    with pytest.raises(ValueError, match="no label names"):
        LabelSet.from_names(" , ")
