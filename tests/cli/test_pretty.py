"""``stage2 ner --format pretty``: highlighted entities that stay readable without colour."""

from __future__ import annotations

import io

from rich.console import Console

from stage2.cli import main
from stage2.cli.pretty import PALETTE, Highlighter


def _plain(highlighter: Highlighter, text: str, entities: list[dict]) -> str:
    out = io.StringIO()
    highlighter.console = Console(file=out, color_system=None, width=200)
    highlighter.print(text, entities)
    return out.getvalue()


def test_entities_are_marked_in_place():
    text = "Ada Lovelace met Charles Babbage in London."
    ents = [
        {"label": "city", "char_start": 36, "char_end": 42},
        {"label": "person", "char_start": 0, "char_end": 12},
        {"label": "person", "char_start": 17, "char_end": 32},
    ]
    assert _plain(Highlighter(), text, ents) == (
        "[Ada Lovelace person] met [Charles Babbage person] in [London city].\n"
    )


def test_overlapping_entities_keep_the_first_and_no_text_is_lost():
    text = "New York City"
    ents = [{"label": "city", "char_start": 0, "char_end": 13}, {"label": "state", "char_start": 0, "char_end": 8}]
    assert _plain(Highlighter(), text, ents) == "[New York City city]\n"


def test_each_label_keeps_its_colour():
    h = Highlighter()
    assert [h.colour(x) for x in ("person", "city", "person")] == [PALETTE[0], PALETTE[1], PALETTE[0]]
    styled = h.render("Ada", [{"label": "person", "char_start": 0, "char_end": 3}])
    assert any(PALETTE[0] in str(span.style) for span in styled.spans)


def test_cli_pretty_format(entity_model, tmp_path, capsys):
    entity_model.save_pretrained(tmp_path / "m")
    assert main(["ner", "--model", str(tmp_path / "m"), "--format", "pretty", "Ada Lovelace met Charles Babbage."]) == 0
    out = capsys.readouterr().out
    assert not out.startswith("{") and "person]" in out  # highlighted text, not JSON
    assert out.replace("[", "").replace(" person]", "").replace(" city]", "") == "Ada Lovelace met Charles Babbage.\n"
