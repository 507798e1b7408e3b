"""Names and numbers of a summary that its source lacks."""

from __future__ import annotations

from stage2.summarization.faithfulness import hallucination_rate, summary_terms, unsupported_terms


class FakeNER:
    def __init__(self, names):
        self.names = names

    def predict(self, text):
        found = [(text.lower().find(n.lower()), n) for n in self.names]
        return [{"text": n} for at, n in sorted(found) if at >= 0]


def test_numbers_match_as_digits_or_words_and_names_by_their_words():
    source = "Anna: see you at five at the Blue Cafe, Bob"
    assert unsupported_terms("Anna meets Bob at 5 at the Blue Cafe.", source, ner=None) == []
    assert unsupported_terms("Anna meets Tom at 6.", source, ner=None) == ["Tom", "6"]
    assert unsupported_terms("They go to Bob's party.", source, ner=None) == []


def test_a_name_tagger_finds_lower_case_names():
    ner = FakeNER(["tom", "anna"])
    assert summary_terms("anna meets tom", ner) == ["anna", "tom"]
    assert unsupported_terms("anna meets tom", "Anna: hi", ner=ner) == ["tom"]


def test_the_rate_counts_every_term_of_every_summary():
    rate = hallucination_rate(["Anna meets Tom at 5.", "Bob left."], ["Anna: at five?", "Bob: bye"], ner=None)
    # without a tagger, names come from capitals that do not start a sentence: Tom (made up) and 5
    assert rate == {"terms": 2, "unsupported": 1, "rate": 50.0}
