"""ROUGE through rouge-score, and the score of a summariser on reference summaries."""

from __future__ import annotations


def test_rouge_lsum_splits_unsplit_texts_into_sentences():
    from stage2.summarization.metrics import rouge_scores

    ref = "Ada wrote the notes. Babbage built the engine."
    pred = "Babbage built the engine. Ada wrote the notes."
    split = rouge_scores([ref], [pred])
    assert split["rougeLsum"] == 100.0  # sentence-level LCS: order of sentences does not matter
    assert rouge_scores([ref.replace(". ", ".\n")], [pred.replace(". ", ".\n")]) == split


def test_summary_scores_score_the_chosen_sentences():
    from stage2.summarization.data import SummaryExample
    from stage2.summarization.metrics import summary_scores

    class FirstSentence:
        def summarize(self, documents, **budget):
            assert budget == {"max_sentences": 1}
            return [{"summary": d.split(". ")[0], "sentences": [{"text": d.split(". ")[0] + "."}]} for d in documents]

    examples = [SummaryExample("The cat sat. The dog ran.", "The cat sat.")]
    assert summary_scores(FirstSentence(), examples, {"max_sentences": 1})["rouge1"] == 100.0


def test_summary_scores_pass_each_examples_focus():
    from stage2.summarization.data import SummaryExample
    from stage2.summarization.metrics import summary_scores

    asked = []

    class Recorder:
        def summarize(self, document, focus=None, **budget):
            asked.append(focus)
            return {"summary": document, "sentences": [{"text": document}]}

    examples = [SummaryExample("The cat sat.", "The cat sat.", focus="cat?"), SummaryExample("A dog.", "A dog.")]
    assert summary_scores(Recorder(), examples)["rouge1"] == 100.0
    assert asked == ["cat?", None]
