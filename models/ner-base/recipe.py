"""Recipe of stage2-ner-base: the label-semantic NER model pretrained on entity-type semantics.

Trains the default encoder (all-MiniLM-L6-v2 + case-shape embedding + label-semantic head) on the
train splits of the corpora in ``CORPORA`` (about 150 entity types), each with its own label set,
with label and description dropout so the model learns to read entity-type names. The benchmark
targets (CoNLL-2003, WNUT-17), WNUT-16 (its text overlaps WNUT-17's train split), OntoNotes 5.0
(LDC licence: nothing shipped may train on it), GUM (pronoun and common-noun mentions) and SNIPS
(lower-cased slots, not NER) are left out.

    python models/ner-base/recipe.py --out runs/ner-base --steps 3000
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from stage2.benchmarks import data_dir
from stage2.labels import Label, LabelSet, humanize
from stage2.ner.data import entity_types, read_jsonl
from stage2.ner.modeling import NERModel
from stage2.ner.training import NERTask, TrainingConfig, train

HERE = Path(__file__).resolve().parent
DATA = data_dir()

CORPORA = {  # corpus -> sampling weight (times sqrt of its size)
    "fewnerd_inter_partial": 3.0,
    "re3d": 2.0,
    "stackoverflow_ner": 1.0,
    "wlp_wnut2020": 0.5,
    "scierc": 1.0,
    "anem": 0.5,
    "ncbi_disease": 0.5,
    "bc5cdr": 0.5,
    "bionlp13cg": 0.5,
    "bionlp13pc": 0.5,
    "bionlp11id": 0.5,
    "craft": 0.5,
    "anatem": 0.5,
    "linnaeus": 0.5,
    "bc2gm": 0.5,
}


_SPLIT_WORDS = {
    "broadcastprogram": "broadcast program",
    "writtenart": "written work",
    "sportsfacility": "sports facility",
    "bodiesofwater": "body of water",
    "politicalparty": "political party",
    "sportsleague": "sports league",
    "sportsteam": "sports team",
    "astronomything": "astronomical object",
    "biologything": "biological thing",
    "educationaldegree": "educational degree",
    "livingthing": "living thing",
    "sportsevent": "sports event",
}


def _default_name(corpus: str, tag: str) -> str:
    if corpus.startswith("fewnerd") and "-" in tag:  # "person-actor" -> "actor (person)"
        coarse, fine = tag.split("-", 1)
        fine = _SPLIT_WORDS.get(fine, fine).replace("/", " or ")
        return f"{fine} ({coarse})" if fine != "other" else f"other {coarse}"
    return humanize(tag).lower()


def corpus_labels(corpus: str, types: list[str]) -> LabelSet:
    """Label set of a pretraining corpus, with the names and descriptions of labels.json."""
    table = json.loads((HERE / "labels.json").read_text(encoding="utf-8")).get(corpus, {})
    out = []
    for t in types:
        entry = table.get(t, {})
        out.append(Label(t, entry.get("name") or _default_name(corpus, t), entry.get("description", "")))
    return LabelSet(out)


def load_tasks(data_dir: Path = DATA, max_sentences: int | None = None) -> list[NERTask]:
    """The pretraining corpora as tasks."""
    tasks = []
    for corpus, weight in CORPORA.items():
        examples = read_jsonl(data_dir / corpus / "train.jsonl.gz")[:max_sentences]
        tasks.append(NERTask(examples, corpus_labels(corpus, entity_types(examples)), corpus, weight))
    return tasks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/ner-base", help="where checkpoints and the final model go")
    parser.add_argument("--steps", type=int, default=3000, help="optimizer steps")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--data", default=str(DATA), help="folder holding the corpora")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    tasks = load_tasks(Path(args.data))
    model = NERModel.from_pretrained(None)
    cfg = TrainingConfig(
        epochs=0.0,
        min_steps=args.steps,
        max_steps=args.steps,
        batch_size=args.batch_size,
        label_dropout=0.5,
        description_dropout=0.5,
        seed=args.seed,
        save_every=250,
        output_dir=str(Path(args.out) / "work"),
    )
    result = train(model, tasks, config=cfg)
    model.config.card.setdefault("licences", "see each corpus's SOURCE.md in shared/data")
    model.save_pretrained(Path(args.out) / "final")
    logging.info("done: %d steps in %.0f s", result.steps, result.seconds)


if __name__ == "__main__":
    main()
