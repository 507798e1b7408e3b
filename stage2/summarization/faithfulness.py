"""Does a written summary make things up? The names and numbers of a summary that its source does not contain.

Names are found by an NER model passed in as ``ner`` (the summarisers pass the shipped ``ner-fast`` export,
:func:`stage2.runtime.name_finder`: ONNX, a few milliseconds a summary, and it reads lower-case text as well as
cased, its encoder being uncased). Without one, capitalised words that do not start a sentence stand in for
names. Numbers are digits or number words (``three`` and ``3`` are the same number). A term is supported when
every word of it occurs in the source (case ignored).
"""

from __future__ import annotations

import re
from typing import Any

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


def unsupported_terms(summary: str, source: str, ner: Any = None) -> list[str]:
    """The names and numbers of ``summary`` with a word that ``source`` does not contain.

    >>> unsupported_terms("Anna meets Tom at 5.", "Anna: see you at five, Bob", ner=None)
    ['Tom']
    """
    return _unsupported(summary_terms(summary, ner), source)


def _unsupported(terms: list[str], source: str) -> list[str]:
    """The ``terms`` with a word that ``source`` does not contain."""
    have = _words(source) | {_number(n) for n in _DIGITS.findall(source)}
    out = []
    for term in terms:
        words = _words(term) if not _DIGITS.fullmatch(term) else {_number(term)}
        if not words <= have:
            out.append(term)
    return out


def hallucination_rate(summaries: list[str], sources: list[str], ner: Any = None) -> dict[str, float]:
    """Share (percent) of all names and numbers in ``summaries`` that their sources do not contain."""
    total = bad = 0
    for summary, source in zip(summaries, sources, strict=True):
        terms = summary_terms(summary, ner)  # the tagger runs once a summary
        total += len(terms)
        bad += len(_unsupported(terms, source))
    return {"terms": total, "unsupported": bad, "rate": round(100 * bad / total, 2) if total else 0.0}
