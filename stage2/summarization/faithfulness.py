"""Does a written summary make things up? The names and numbers of a summary that its source does not contain.

Names are found by the shipped ``ner-fast`` export (ONNX, a few milliseconds a summary; it reads lower-case
text as well as cased, its encoder being uncased). Without it, capitalised words that do not start a sentence
stand in for names. Numbers are digits or number words (``three`` and ``3`` are the same number). A term is
supported when every word of it occurs in the source (case ignored).
"""

from __future__ import annotations

import functools
import logging
import re
from typing import Any

logger = logging.getLogger(__name__)

NUMBER_WORDS = {  # from two: "one" is far more often a pronoun ("one of them") than a count
    w: str(i)
    for i, w in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
            "twenty",
        ]
    )
    if i > 1
}
_TOKEN = re.compile(r"[^\W_]+")
_POSSESSIVE = re.compile(r"['\u2019]s\b")
_DIGITS = re.compile(r"\d+(?:[.,:]\d+)*")


def _norm(word: str) -> str:
    low = word.lower()
    return NUMBER_WORDS.get(low, low)


def _number(text: str) -> str:
    """``8.30`` and ``8:30`` alike, ``8:00`` as ``8``, ``1,000`` as ``1000``."""
    return re.sub(r":00$", "", text.replace(",", "").replace(".", ":"))


def _words(text: str) -> set[str]:
    """Normalised words; a possessive ``'s`` is dropped (``Chloe's`` is supported by ``Chloe``)."""
    return {_norm(w) for w in _TOKEN.findall(_POSSESSIVE.sub("", text))}


@functools.lru_cache(maxsize=1)
def default_ner() -> Any:
    """The shipped ``ner-fast`` export, or None when it cannot be found (then capitalisation stands in)."""
    try:
        from stage2.registry import EXPORT_CONFIG, find_model
        from stage2.runtime.ner import NERRuntime

        return NERRuntime(find_model("ner-fast", EXPORT_CONFIG))
    except (FileNotFoundError, ImportError, ValueError) as err:
        logger.info("no ner-fast export (%s): names are taken from capitalisation", err)
        return None


def summary_terms(summary: str, ner: Any = None) -> list[str]:
    """The names and numbers of ``summary``, in order, each once."""
    terms: list[str] = []
    if ner is not None:
        terms += [e["text"] for e in ner.predict(summary)]
    else:
        terms += [
            m.group()
            for m in re.finditer(r"(?<![.!?]\s)(?<!^)\b[A-Z][\w'-]*", summary)
            if m.group() != "I" and m.start() > 0
        ]
    terms += _DIGITS.findall(summary)
    terms += [w for w in _TOKEN.findall(summary) if w.lower() in NUMBER_WORDS]
    seen: dict[str, str] = {}
    for term in terms:
        seen.setdefault(_POSSESSIVE.sub("", term).lower(), term)
    return list(seen.values())


def unsupported_terms(summary: str, source: str, ner: Any = "default") -> list[str]:
    """The names and numbers of ``summary`` with a word that ``source`` does not contain.

    >>> unsupported_terms("Anna meets Tom at 5.", "Anna: see you at five, Bob", ner=None)
    ['Tom']
    """
    if ner == "default":
        ner = default_ner()
    have = _words(source) | {_number(n) for n in _DIGITS.findall(source)}
    out = []
    for term in summary_terms(summary, ner):
        words = _words(term) if not _DIGITS.fullmatch(term) else {_number(term)}
        if not words <= have:
            out.append(term)
    return out


def hallucination_rate(summaries: list[str], sources: list[str], ner: Any = "default") -> dict[str, float]:
    """Share (percent) of all names and numbers in ``summaries`` that their sources do not contain."""
    if ner == "default":
        ner = default_ner()
    total = bad = 0
    for summary, source in zip(summaries, sources, strict=True):
        total += len(summary_terms(summary, ner))
        bad += len(unsupported_terms(summary, source, ner))
    return {"terms": total, "unsupported": bad, "rate": round(100 * bad / total, 2) if total else 0.0}
