from __future__ import annotations

import itertools

import pytest

from stage2.summarization.segmenting import is_dialogue, split_sentences


def texts(doc: str) -> list[str]:
    return [s.text for s in split_sentences(doc)]


@pytest.mark.parametrize("name", ["news", "dialogue", "bullets"])
def test_offsets_are_exact(summ_fixtures, name):
    doc = summ_fixtures[name]
    sents = split_sentences(doc)
    assert sents
    for s in sents:
        assert doc[s.start : s.end] == s.text
        assert s.text == s.text.strip() and s.text
    starts = [s.start for s in sents]
    assert starts == sorted(starts)
    assert all(a.end <= b.start for a, b in itertools.pairwise(sents))


def test_news_abbreviations_numbers_and_quotes(summ_fixtures):
    assert texts(summ_fixtures["news"]) == [
        "Mr. Smith, the chief executive of Acme Corp., said on Jan. 5 that revenue rose 2.5% to $3.5bn in the year.",
        "Dr. Jones, who advises the U.S. Treasury, said the result beat forecasts, e.g. Europe did well.",
        "The chief executive said: “We are pleased with the progress.”",
        "Shares in the company rose 4.1% in early trading.",
        "The firm also named a new finance chief.",
        '"She starts on Feb. 1," a spokesman said.',
        "Analysts expect 3.2 million new customers!",
    ]


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ("Mr. Brown met Dr. Green. They talked.", ["Mr. Brown met Dr. Green.", "They talked."]),
        ("The U.S. Senate voted. It passed.", ["The U.S. Senate voted.", "It passed."]),
        ("Fruit, e.g. Apples, is sold. Prices rose.", ["Fruit, e.g. Apples, is sold.", "Prices rose."]),
        ("It opened on Jan. 12 in Paris. Crowds came.", ["It opened on Jan. 12 in Paris.", "Crowds came."]),
        ("Profit was $3.5bn. Sales rose 2.5%. Costs fell.", ["Profit was $3.5bn.", "Sales rose 2.5%.", "Costs fell."]),
        ("J. K. Rowling wrote it. Fans cheered.", ["J. K. Rowling wrote it.", "Fans cheered."]),
        ('He said "It works." Then he left.', ['He said "It works."', "Then he left."]),
        ("She asked: “Why?” Nobody knew.", ["She asked: “Why?”", "Nobody knew."]),
        ("Stop (now.) Go.", ["Stop (now.)", "Go."]),
        ("What? Really! Fine… Yes.", ["What?", "Really!", "Fine…", "Yes."]),
        ("Cased text: lower case follows. so no split here.", ["Cased text: lower case follows. so no split here."]),
        # text without capitals (lower-cased, Arabic, Hindi, Chinese) still splits at its sentence ends
        ("all lower case. so split here! and here? yes.", ["all lower case.", "so split here!", "and here?", "yes."]),
        ("هذه جملة. هذه جملة أخرى؟ نعم.", ["هذه جملة.", "هذه جملة أخرى؟", "نعم."]),
        ("यह एक वाक्य है। यह दूसरा है।", ["यह एक वाक्य है।", "यह दूसरा है।"]),
        ("这是第一句。这是第二句！第三句？", ["这是第一句。", "这是第二句！", "第三句？"]),
        ("He met Émile. Éric came.", ["He met Émile.", "Éric came."]),
    ],
)
def test_sentence_ends(doc, expected):
    assert texts(doc) == expected


@pytest.mark.parametrize(
    "line",
    [
        'He said: "We will win." Fans cheered.',
        "The minister told reporters: “No comment.” Then she left.",
        "Mr. Smith said: Sales rose. Costs fell.",
        'He told the crowd: "I was a nightmare." The crowd cheered.',
        'But he added: "They need to move quickly." Talks continue.',
    ],
)
def test_prose_colon_is_not_a_turn(line):
    assert len(split_sentences(line)) == 2
    assert not is_dialogue(f"{line}\n{line}\n{line}")


def test_dialogue_turns_are_one_unit_each(summ_fixtures):
    doc = summ_fixtures["dialogue"]
    sents = split_sentences(doc)
    lines = [ln for ln in doc.split("\n") if ln.strip()]
    assert [s.text for s in sents] == lines  # "Amanda: Lemme check. Sorry, can't find it." stays whole
    assert is_dialogue(doc)


def test_multiword_speakers_are_turns():
    doc = "Mary Jane: Hi. Are you in?\nDad paul: Yes. See you.\nLaurien in Buxton: Great.\n#Person1#: Bye."
    assert texts(doc) == doc.split("\n")
    assert is_dialogue(doc)


@pytest.mark.parametrize("name", ["news", "bullets"])
def test_prose_is_not_dialogue(summ_fixtures, name):
    assert not is_dialogue(summ_fixtures[name])


def test_is_dialogue_edge_cases():
    assert not is_dialogue("")
    assert not is_dialogue("Amanda: hi")  # one turn is not a conversation
    assert is_dialogue("Amanda: hi\nTom: hello")


def test_bullets_are_separate_units(summ_fixtures):
    assert texts(summ_fixtures["bullets"]) == [
        "Quarterly highlights:",
        "- Revenue rose 2.5% to $3.5bn.",
        "- Costs fell and margins improved",
        "* A new CFO joins on Feb. 1.",
        "• Dividend unchanged",
        "1. Pay the dividend.",  # the list number is no sentence of its own
        "It is due in May.",
        "2) Buy back shares.",
    ]


def test_line_breaks_and_indentation():
    doc = "First paragraph here\n\n   Second one, indented.\r\nThird."
    sents = split_sentences(doc)
    assert [s.text for s in sents] == ["First paragraph here", "Second one, indented.", "Third."]
    assert all(doc[s.start : s.end] == s.text for s in sents)


@pytest.mark.parametrize("doc", ["", " ", "\n\n", " \t \n  "])
def test_empty_or_whitespace_gives_nothing(doc):
    assert split_sentences(doc) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("He sat. Then she left.", ["He sat.", "Then she left."]),
        ("They said no. Then it rained.", ["They said no.", "Then it rained."]),
        ("So did I. Then we left.", ["So did I.", "Then we left."]),
        ("It grew 3.5 m. Next year it shrank.", ["It grew 3.5 m.", "Next year it shrank."]),
        ("J. K. Rowling wrote it. No. 10 said so.", ["J. K. Rowling wrote it.", "No. 10 said so."]),
    ],
)
def test_ordinary_words_and_pronoun_i_end_sentences(text, expected):
    assert [s.text for s in split_sentences(text)] == expected


def test_a_long_meeting_turn_is_split_into_sentences_a_short_one_stays_whole():
    from stage2.summarization.segmenting import LONG_TURN_WORDS

    long_turn = "Grad A: Um . So this is the recorder project . " + "We tested the microphones today . " * 25
    assert len(long_turn.split()) > LONG_TURN_WORDS
    doc = "PhD B: OK , let us start .\n" + long_turn.strip()
    units = split_sentences(doc)
    assert units[0].text == "PhD B: OK , let us start ."  # a short turn: one unit
    assert len(units) > 20 and units[1].text.startswith("Grad A: Um .")
    assert all(doc[u.start : u.end] == u.text for u in units)  # offsets into the meeting stay exact


def test_text_without_sentence_ends_is_cut_by_length_so_budgets_hold(summarizer_export):
    """Issue 23: a document with no punctuation was one sentence, so any summary budget returned all of it."""
    import stage2.runtime as rt
    from stage2.summarization.segmenting import MAX_SENTENCE_WORDS, split_sentences

    text = " ".join(f"word{i % 50}" for i in range(5000))
    sentences = split_sentences(text)
    assert len(sentences) == -(-5000 // MAX_SENTENCE_WORDS)
    assert all(len(s.text.split()) <= MAX_SENTENCE_WORDS and text[s.start : s.end] == s.text for s in sentences)
    summary = rt.load(summarizer_export[0]).summarize(text, max_words=2 * MAX_SENTENCE_WORDS)
    assert len(summary["summary"].split()) <= 2 * MAX_SENTENCE_WORDS
