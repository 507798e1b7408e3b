"""``--format pretty``: texts with their entities highlighted in the terminal (rich).

Each label gets its own colour; an entity is shown as ``[text label]``, so the output stays readable
when it is piped and the colours are dropped."""

from __future__ import annotations

from typing import Any

PALETTE = ("cyan", "magenta", "green", "yellow", "blue", "red", "bright_cyan", "bright_magenta", "bright_green")


class Highlighter:
    """Renders tagged texts, one colour per label in the order labels are first seen."""

    def __init__(self) -> None:
        try:
            from rich.console import Console
        except ModuleNotFoundError:  # pragma: no cover - rich is a core dependency
            raise ModuleNotFoundError("--format pretty needs rich: pip install rich", name="rich") from None
        self.console = Console(highlight=False, soft_wrap=True)
        self.colours: dict[str, str] = {}

    def colour(self, label: str) -> str:
        """The colour of ``label`` (assigned on first sight, cycling through the palette)."""
        if label not in self.colours:
            self.colours[label] = PALETTE[len(self.colours) % len(PALETTE)]
        return self.colours[label]

    def render(self, text: str, entities: list[dict[str, Any]]) -> Any:
        """A rich Text of ``text`` with ``entities`` (dicts with char_start, char_end, label) marked."""
        from rich.text import Text

        out = Text()
        pos = 0
        for ent in sorted(entities, key=lambda e: (e["char_start"], -e["char_end"])):
            start, end = ent["char_start"], ent["char_end"]
            if start < pos:  # overlaps cannot be drawn inline: the longest of the first wins
                continue
            colour = self.colour(ent["label"])
            out.append(text[pos:start])
            out.append("[", style=colour)
            out.append(text[start:end], style=f"bold {colour}")
            out.append(f" {ent['label']}]", style=f"dim {colour}")
            pos = end
        out.append(text[pos:])
        return out

    def print(self, text: str, entities: list[dict[str, Any]]) -> None:
        """Print one tagged text."""
        self.console.print(self.render(text, entities))
