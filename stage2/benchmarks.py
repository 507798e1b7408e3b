"""The benchmark sets that ``evaluation/`` and the recipes in ``models/`` share, so neither reaches
into the other: where the data lives, the labels a user would give for each NER set (a name they
would type and a one-line description), how spaCy's OntoNotes types map onto them, and the
summarisation length budgets. Not needed to use stage2.

The data folder is ``$STAGE2_DATA``, else ``shared/data`` beside the source checkout; each set is
``DATA/<folder>/<split>.jsonl.gz``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stage2.labels import Label, LabelSet
from stage2.registry import CHECKOUT


def data_dir() -> Path:
    """The folder of the benchmark data (``$STAGE2_DATA``, else ``../shared/data`` of the checkout)."""
    return Path(os.environ.get("STAGE2_DATA", CHECKOUT.parent / "shared" / "data"))


@dataclass(frozen=True)
class NERSet:
    """An NER benchmark set: its data ``folder``, its types (key in the data -> (name, description)),
    and spaCy's types mapped onto them (for the spacy-sm rows; types it has no counterpart of are absent)."""

    folder: str
    types: dict[str, tuple[str, str]]
    spacy: dict[str, str] = field(default_factory=dict)


CONLL_TYPES = {
    "PER": ("person", "the name of a person"),
    "LOC": ("location", "a country, city, region or other geographic place"),
    "ORG": ("organization", "a company, institution, sports team, party or other organization"),
    "MISC": ("miscellaneous", "a nationality, event, language, work, product or other named thing"),
}
SPACY_TO_CONLL = {
    "PERSON": "PER",
    "GPE": "LOC",
    "LOC": "LOC",
    "FAC": "LOC",
    "ORG": "ORG",
    "NORP": "MISC",
    "EVENT": "MISC",
    "WORK_OF_ART": "MISC",
    "PRODUCT": "MISC",
    "LANGUAGE": "MISC",
    "LAW": "MISC",
}
"""spaCy en_core_web_sm's OntoNotes types -> the CoNLL-2003 types (others dropped)."""

NER_SETS: dict[str, NERSet] = {
    "conll2003": NERSet("conll2003", CONLL_TYPES, SPACY_TO_CONLL),
    "wnut17": NERSet(
        "wnut17",
        {
            "corporation": ("corporation", "a company or business"),
            "creative-work": ("creative work", "a song, film, book, TV show, game or other creative work"),
            "group": ("group", "a band, sports team, political or other group of people that is not a company"),
            "location": ("location", "a place: country, city, building or landmark"),
            "person": ("person", "the name or user name of a person"),
            "product": ("product", "a product such as a device, car, software or brand of goods"),
        },
        {"PERSON": "person", "GPE": "location", "LOC": "location", "FAC": "location", "ORG": "corporation"},
    ),
    "fewnerd-inter": NERSet(
        "fewnerd_inter_partial",
        {
            "person-athlete": ("athlete", "a sportsman or sportswoman"),
            "person-actor": ("actor", "a film, stage or television actor"),
            "organization-government/governmentagency": ("government agency", "a government or government body"),
            "organization-politicalparty": ("political party", "a political party"),
            "location-bodiesofwater": ("body of water", "a sea, lake, river or other body of water"),
            "location-other": ("location", "a place that is not a country, city or other listed kind"),
            "building-theater": ("theater", "a theatre or concert hall"),
            "building-hospital": ("hospital", "a hospital or clinic"),
            "event-sportsevent": ("sports event", "a sports competition, tournament or match"),
            "event-election": ("election", "an election or referendum"),
            "art-music": ("music", "a song, album or other piece of music"),
            "art-writtenart": ("written work", "a book, poem, newspaper article or other written work"),
            "product-weapon": ("weapon", "a weapon such as a gun, missile or tank"),
            "product-car": ("car", "a car model or make"),
            "other-livingthing": ("living thing", "an animal, plant or other living species"),
            "other-medical": ("medical term", "a drug, treatment, medical procedure or field of medicine"),
            "other-educationaldegree": ("educational degree", "an academic degree or qualification"),
        },
    ),
    "multinerd": NERSet(
        "multinerd_partial",
        {
            "PER": ("person", "the name of a person"),
            "LOC": ("location", "a country, city, region or other geographic place"),
            "ORG": ("organization", "a company, institution, team or other organization"),
            "ANIM": ("animal", "an animal species or kind of animal"),
            "BIO": ("biological entity", "a microorganism or virus"),
            "CEL": ("celestial body", "a planet, star, galaxy or other astronomical object"),
            "DIS": ("disease", "a disease or medical condition"),
            "EVE": ("event", "a named event such as a war, festival or tournament"),
            "FOOD": ("food", "a food or drink"),
            "INST": ("instrument", "a musical instrument"),
            "MEDIA": ("media", "a book, film, song, newspaper or other media title"),
            "MYTH": ("mythological entity", "a god or figure of mythology"),
            "PLANT": ("plant", "a plant species or kind of plant"),
            "TIME": ("time", "a named period of time such as an era or century"),
            "VEHI": ("vehicle", "a car, ship, aircraft or other vehicle model"),
        },
        {"PERSON": "PER", "GPE": "LOC", "LOC": "LOC", "FAC": "LOC", "ORG": "ORG", "EVENT": "EVE"},
    ),
    "wikineural": NERSet("wikineural_partial", CONLL_TYPES, SPACY_TO_CONLL),
}
"""The NER benchmark sets by name (the zero-shot benchmark reads all five; the supervised one CoNLL and WNUT)."""

TRANSFER_HELD_OUT: tuple[str, ...] = (
    "snips_slots",
    "scierc",
    "re3d",
    "stackoverflow_ner",
    "wlp_wnut2020",
    "bionlp13cg",
)
"""Corpora that no design run of the zero-shot transfer protocol trains on (with Few-NERD INTER's 17 test
types, which its train split never has): spoken queries, science abstracts, defence reports, software
Q&A, lab protocols and cancer genetics, types unlike the rest. Shipped models may train on them."""

GENERAL_TYPES: dict[str, tuple[str, str]] = {
    "person": ("person", "the name of a person"),
    "organization": ("organization", "the name of a company, institution or other organization"),
    "location": ("location", "the name of a place"),
    "miscellaneous": ("miscellaneous", "another named thing"),
    "date": ("date", "a date or time"),
}
"""The general types a user asks for beside specific ones (the transfer protocol offers them as distractors)."""

SUMMARY_BUDGETS: dict[str, dict[str, Any]] = {"bbc_news": {"ratio": 0.4}, "samsum": {"max_sentences": 3}}
"""The length budget of summariser rows: the lead baseline's (BBC 40% of the words, SAMSum three turns)."""


def ner_labels(dataset: str, descriptions: bool = True) -> LabelSet:
    """The labels a user would give for ``dataset``: names with descriptions, or names alone."""
    types = NER_SETS[dataset].types
    return LabelSet([Label(k, name, desc if descriptions else "") for k, (name, desc) in types.items()])


def data_file(dataset: str, split: str) -> Path:
    """The file of a split of a set: an NER set by its name in :data:`NER_SETS`, else a data folder;
    e.g. ``data_file("conll2003", "dev")`` is ``DATA/conll2003/dev.jsonl.gz``."""
    folder = NER_SETS[dataset].folder if dataset in NER_SETS else dataset
    return data_dir() / folder / f"{split}.jsonl.gz"


def load_ner(dataset: str, split: str, limit: int | None = None) -> list[Any]:
    """A split of an NER set (by its name in :data:`NER_SETS`, or a data folder), the first ``limit``
    sentences with ``limit``."""
    from stage2.ner.data import read_jsonl

    return read_jsonl(data_file(dataset, split))[:limit]


def load_summaries(dataset: str, split: str) -> list[Any]:
    """A split of a summarisation set (``bbc_news``, ``samsum``, ``qmsum``)."""
    from stage2.summarization.data import read_summarization_jsonl

    return read_summarization_jsonl(data_file(dataset, split))


EXPORT_SAMPLE_SIZE = 100
"""Examples in the fixed sample a shipped export's score is recorded on and rechecked (a few seconds each)."""

EXPORT_SAMPLES: dict[str, dict[str, Any]] = {
    "ner-default": {"data": "conll2003", "split": "dev", "first": EXPORT_SAMPLE_SIZE, "labels": "own"},
    "ner-fast": {"data": "conll2003", "split": "dev", "first": EXPORT_SAMPLE_SIZE, "labels": "own"},
    "ner-zero": {
        "data": "conll2003",
        "split": "dev",
        "first": EXPORT_SAMPLE_SIZE,
        "labels": ner_labels("conll2003", descriptions=False).to_dict(),
    },
    "summarizer-default": {
        "data": "bbc_news",
        "split": "validation",
        "first": EXPORT_SAMPLE_SIZE,
        "budget": SUMMARY_BUDGETS["bbc_news"],
    },
    "summarizer-abstractive": {
        "data": "samsum",
        "split": "validation",
        "first": EXPORT_SAMPLE_SIZE,
        "budget": {"num_beams": 1, "unsupported": False},  # greedy: the export check's decoding, a few seconds
    },
}
"""The fixed sample of each shipped export (:mod:`stage2.export.sample`): the first examples of the data its
recipe's export check reads, with the same labels (``"own"``: the export's own; ner-zero: CoNLL's types by
name alone) or length budget. Recorded in its ``export_report.json`` by the recipe and
``evaluation/export_samples.py``, recomputed by ``tests/test_exports.py``."""


def git_commit() -> str:
    """Full sha of the checkout's HEAD (with ``-dirty`` when stage2/, evaluation/ or models/ have uncommitted
    changes to tracked files; results files do not count); in a copy of a checkout without ``.git``, the sha
    its ``COMMIT`` file records; else ``unknown``."""
    import subprocess

    if not (CHECKOUT / ".git").exists() and (CHECKOUT / "COMMIT").is_file():
        return (CHECKOUT / "COMMIT").read_text(encoding="utf-8").strip() or "unknown"
    try:
        sha = subprocess.check_output(["git", "rev-parse", "HEAD"], cwd=CHECKOUT, text=True).strip()
        dirty = subprocess.run(
            ["git", "diff", "--quiet", "HEAD", "--", "stage2", "evaluation", "models", ":(exclude)evaluation/results"],
            cwd=CHECKOUT,
        ).returncode
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
