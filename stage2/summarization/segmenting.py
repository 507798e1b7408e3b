"""Sentence segmentation with character offsets, for news prose, dialogue and lists. Pure Python.

Rules, in order:
- line breaks end a unit when the line is a dialogue turn (``Speaker: text``, but ``He said: ...`` is
  prose), a bullet or numbered list item, or a blank-line paragraph break; a plain line break inside
  prose also ends a sentence (news bodies put one paragraph per line); a turn stays one unit unless it
  has more than :data:`LONG_TURN_WORDS` words (meetings), when it is split like prose;
- within a line, a sentence ends at ``.``, ``!``, ``?`` or ``…`` (with any closing quotes or brackets)
  followed by whitespace and an upper-case letter, digit or opening quote, unless the word before the
  period is a known abbreviation (Mr., Dr., U.S., e.g., Jan., No. ...), a single initial, or the period
  sits inside a number (3.5, $1.2bn).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ABBREVIATIONS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "sr",
        "jr",
        "st",
        "mt",
        "ft",
        "rev",
        "gen",
        "col",
        "lt",
        "sgt",
        "capt",
        "cmdr",
        "gov",
        "sen",
        "rep",
        "pres",
        "supt",
        "insp",
        "det",
        "vs",
        "etc",
        "eg",
        "ie",
        "al",
        "approx",
        "dept",
        "fig",
        "inc",
        "ltd",
        "co",
        "corp",
        "bros",
        "plc",
        "vol",
        "pp",
        "cf",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "tue",
        "tues",
        "thu",
        "thurs",
        "fri",
        "u.s",
        "u.k",
        "u.n",
        "e.g",
        "i.e",
        "a.m",
        "p.m",
        "u.s.a",
        "d.c",
    ]
)

# Verbs that introduce a quotation after a colon in prose ("He said: ..."); a speaker's name holds none.
REPORTING_VERBS = frozenset(
    [
        "said",
        "says",
        "added",
        "adds",
        "told",
        "tells",
        "asked",
        "asks",
        "wrote",
        "writes",
        "explained",
        "explains",
        "concluded",
        "concludes",
        "agreed",
        "agrees",
        "warned",
        "warns",
        "insisted",
        "insists",
        "stated",
        "states",
        "announced",
        "announces",
        "noted",
        "notes",
        "argued",
        "argues",
        "replied",
        "replies",
        "commented",
        "comments",
        "continued",
        "continues",
        "declared",
        "declares",
        "claimed",
        "claims",
        "admitted",
        "admits",
        "remarked",
        "remarks",
        "urged",
        "urges",
        "reported",
        "reports",
        "recalled",
        "recalls",
        "suggested",
        "suggests",
        "confirmed",
        "confirms",
        "revealed",
        "reveals",
        "acknowledged",
        "acknowledges",
        "tweeted",
        "tweets",
        "joked",
        "jokes",
        "predicted",
        "predicts",
    ]
)

LONG_TURN_WORDS = 100
"""A dialogue turn of more words is split into its sentences: meeting transcripts have turns of hundreds
of words, which as one unit would overflow a summary's budget alone. Chat turns stay whole (no SAMSum or
BBC News test or validation document has a longer turn)."""

_TURN_RE = re.compile(r"^\s*[^\s:][^:\n]{0,40}:\s+\S")  # "Speaker: text" (speaker up to 40 chars)
_BULLET_RE = re.compile(r"^\s*(?:[-*•·‣◦]|\d{1,3}[.)])\s+\S")
_END_RE = re.compile(
    r"(?:[.!?]+|…|[؟۔।॥]+)[\"'”’»)\]]*(?=\s)"  # Latin, Arabic, Urdu, Devanagari: a space follows
    r"|[。！？]+[」』”’）)]*"  # Chinese and Japanese: no space between sentences
)
_NEXT_START_RE = re.compile(r"\s*[\"'“‘«(\[「『]?(\w)")
_NUMBERED_RE = re.compile(r"\s*\d{1,3}[.)]\s+")  # "1. " / "2) " opening a list item: no sentence end


@dataclass(frozen=True)
class Sentence:
    """A sentence and where it lies in the document (``text == document[start:end]``)."""

    text: str
    start: int
    end: int


_NUMBER_ABBREVIATIONS = frozenset({"no", "nos", "op", "ch"})
"""Ordinary words that are abbreviations only before a number."""


def _is_initial(word: str) -> bool:
    """An upper-case single letter ("J. Smith"), but not the pronoun "I"."""
    return len(word) == 1 and word.isalpha() and word.isupper() and word != "I"


def _split_line(line: str, offset: int) -> list[Sentence]:
    out: list[Sentence] = []
    begin = 0
    marker = _NUMBERED_RE.match(line)
    cased = any(ch.isupper() for ch in line)  # all lower-case text, Arabic, Hindi, Chinese: not cased
    for match in _END_RE.finditer(line, marker.end() if marker else 0):
        end = match.end()
        nxt = _NEXT_START_RE.match(line, end)
        if nxt is None or (cased and nxt.group(1).islower()):
            continue  # in cased text a sentence starts with a capital, a digit or an uncased letter
        punct = match.group()
        if punct.startswith("."):
            before = line[begin : match.start()].split()
            raw = before[-1].rstrip(".").lstrip("\"'“‘([") if before else ""
            word = raw.lower()
            if word in ABBREVIATIONS or _is_initial(raw):
                continue
            if word in _NUMBER_ABBREVIATIONS and re.match(r"\s*\d", line[end:]):
                continue  # "No. 10", "Nos. 3 and 4"
        _append(out, line, begin, end, offset)
        begin = nxt.start() + len(line[nxt.start() :]) - len(line[nxt.start() :].lstrip())
    _append(out, line, begin, len(line), offset)
    return out


MAX_SENTENCE_WORDS = 120
"""A run of text with no sentence end is cut into pieces of at most this many words (at spaces), so a
summary budget holds on text without punctuation (one 10,000-word "sentence" was a whole summary)."""


def _append(out: list[Sentence], line: str, begin: int, end: int, offset: int) -> None:
    chunk = line[begin:end]
    stripped = chunk.strip()
    if not stripped:
        return
    lead = len(chunk) - len(chunk.lstrip())
    start = offset + begin + lead
    words = list(re.finditer(r"\S+", stripped))
    for i in range(0, len(words), MAX_SENTENCE_WORDS):
        piece = words[i : i + MAX_SENTENCE_WORDS]
        first, last = piece[0].start(), piece[-1].end()
        out.append(Sentence(stripped[first:last], start + first, start + last))


def split_sentences(text: str) -> list[Sentence]:
    """Split a document into sentences with character offsets.

    >>> [s.text for s in split_sentences("Mr. Smith paid $3.5bn. Shares rose.\\nAmanda: Hi!")]
    ['Mr. Smith paid $3.5bn.', 'Shares rose.', 'Amanda: Hi!']
    """
    out: list[Sentence] = []
    offset = 0
    for line in text.split("\n"):
        if line.strip():
            if _TURN_RE.match(line) and not _looks_like_prose_colon(line) and len(line.split()) <= LONG_TURN_WORDS:
                _append(out, line, 0, len(line), offset)  # a dialogue turn stays one unit
            else:  # prose, or a long turn (meetings): its sentences
                out.extend(_split_line(line, offset))
        offset += len(line) + 1
    return out


def _looks_like_prose_colon(line: str) -> bool:
    """``He said: "..."`` is prose, not a turn: the part before the colon has many words, ends a sentence
    or holds a reporting verb (``He told the crowd:``); speakers are names (``Amanda``, ``Dad paul``)."""
    head = line.split(":", 1)[0]
    words = head.split()
    if len(words) > 4 or re.search(r"[.!?]", head):
        return True
    return any(w.lower().strip(",;'\"“”‘’") in REPORTING_VERBS for w in words)


def is_dialogue(text: str) -> bool:
    """Whether most non-empty lines are ``Speaker: text`` turns."""
    lines = [ln for ln in text.split("\n") if ln.strip()]
    if not lines:
        return False
    turns = sum(1 for ln in lines if _TURN_RE.match(ln) and not _looks_like_prose_colon(ln))
    return turns >= max(2, 0.6 * len(lines))
