"""Input helpers every task shares: reading text and JSON-lines files with errors that name the file
and line, and checking what callers pass as text. Pure Python, no torch."""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any


class DataError(ValueError):
    """Bad training or evaluation data; the message names the file, line and field."""


def open_text(path: Path) -> Iterator[str]:
    """The lines of a UTF-8 text file (``.gz`` ok; a BOM is dropped); unreadable files raise :class:`DataError`."""
    if path.is_dir():
        raise DataError(f"{path}: is a folder; expected a data file")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8-sig") as fh:  # type: ignore[operator]
            yield from fh
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    except (OSError, EOFError) as err:  # e.g. a truncated or fake .gz file
        raise DataError(f"{path}: cannot be read ({err})") from None


def iter_jsonl(path: Path) -> Iterator[tuple[str, Any]]:
    """``(where, record)`` for each non-blank line of a JSON-lines file; bad JSON raises :class:`DataError`."""
    for lineno, line in enumerate(open_text(path), 1):
        if not line.strip():
            continue
        where = f"{path}, line {lineno}"
        try:
            yield where, json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{where}: not valid JSON ({err.msg})") from None


_SURROGATE = re.compile("[\ud800-\udfff]")


def tokenizable(texts: Sequence[str]) -> list[str]:
    """``texts`` with lone surrogates (which no tokenizer can encode) replaced by U+FFFD, one
    character for one, so offsets into the caller's text stay exact."""
    return [_SURROGATE.sub("\ufffd", t) if _SURROGATE.search(t) else t for t in texts]


def as_batch(value: str | Sequence[str], what: str = "text") -> tuple[list[str], bool]:
    """``(items, single)``: one string or a sequence of strings as a list; anything else raises ``TypeError``."""
    if value is None or isinstance(value, bytes | bytearray) or not isinstance(value, str | Sequence):
        hint = ": decode it first, e.g. value.decode('utf-8')" if isinstance(value, bytes | bytearray) else ""
        raise TypeError(f"expected a {what} (str) or a list of them, got {type(value).__name__}{hint}")
    single = isinstance(value, str)
    items: list[str] = [value] if isinstance(value, str) else list(value)
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise TypeError(f"{what} {i} is {type(item).__name__}, expected str")
    return items, single


ENGLISH_ONLY = "the models read English (their encoder's vocabulary is English WordPiece)"


def warn_if_not_latin(texts: Sequence[str], what: str = "text") -> None:
    """Log a warning when most letters of a text are outside the Latin script (Chinese, Arabic, Hindi ...):
    the shipped models read English, so such a text mostly gets nothing back, and the user should know why."""
    import logging
    import unicodedata

    for n, text in enumerate(texts):
        letters = [ch for ch in text[:2000] if ch.isalpha()]
        if len(letters) < 4:
            continue
        latin = sum(ch.isascii() or "LATIN" in unicodedata.name(ch, "") for ch in letters)
        if latin < len(letters) / 2:
            where = f"{what} {n}" if len(texts) > 1 else what
            logging.getLogger("stage2").warning(
                "%s is mostly in a script other than Latin (%d of %d letters): %s",
                where,
                len(letters) - latin,
                len(letters),
                ENGLISH_ONLY,
            )
