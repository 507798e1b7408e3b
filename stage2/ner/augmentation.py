"""How a training step varies the task it reads, so that the model learns to read label names
rather than memorise label sets: label and description dropout, absent entity types of other
domains as negatives, coarse types in place of fine ones, and windows re-cased (for an uncased
encoder only the case-shape ids change). Each draws from the run's random generator."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from stage2.labels import Label, LabelSet
from stage2.loop import TrainingConfig
from stage2.ner.windows import Window


def label_dropout(
    labels: LabelSet,
    tags: list[list[int]],
    rng: random.Random,
    cfg: TrainingConfig,
    fallback: dict[int, int] | None = None,
) -> tuple[LabelSet, list[list[int]]]:
    """Drop every description (``cfg.description_dropout``) and keep a random subset of the labels
    (``cfg.label_dropout``), remapping the tags to the labels kept. ``fallback`` maps a label's index
    to its parent's: a dropped label's mentions become the parent's when the parent is kept (the most
    specific type asked for), else ``O``."""
    items = list(labels)
    if cfg.description_dropout and rng.random() < cfg.description_dropout:
        items = [Label(lb.key, lb.name, "") for lb in items]
    keep = list(range(len(items)))
    if cfg.label_dropout and len(items) > 1 and rng.random() < cfg.label_dropout:
        n_keep = rng.randint(1, len(items))
        keep = sorted(rng.sample(range(len(items)), n_keep))
    new_index = {old: new for new, old in enumerate(keep)}
    target: dict[int, int] = {}
    for old in range(len(items)):
        up = old if old in new_index else (fallback or {}).get(old)
        if up is not None and up in new_index:
            target[old] = new_index[up]
    return LabelSet([items[j] for j in keep]), remap_tags(tags, len(items), target)


def remap_tags(tags: list[list[int]], n_labels: int, target: dict[int, int]) -> list[list[int]]:
    """Tags rewritten for a new label set: label ``j``'s B/I become those of label ``target[j]``; a label
    with no target becomes ``O``."""
    remap = [0] * (1 + 2 * n_labels)
    for old, new in target.items():
        remap[1 + 2 * old], remap[2 + 2 * old] = 1 + 2 * new, 2 + 2 * new
    return [[remap[t] for t in row] for row in tags]


def offer_parents(
    labels: LabelSet, parents: dict[str, Label], tags: list[list[int]], rng: random.Random, replace: float = 0.5
) -> tuple[LabelSet, list[list[int]], dict[int, int]]:
    """The task's fine types with their parents offered beside them (``actor`` and ``person`` both
    asked for): a mention keeps its fine type, so the model learns that the most specific type asked
    for wins. Each fine type is, with chance ``replace``, left out instead, its mentions then tagged
    with the parent. Returns the label set, the tags and each fine label's parent index (for
    :func:`label_dropout`)."""
    names = {lb.name.lower() for lb in labels}
    offered: dict[str, Label] = {}  # parents whose names the set lacks, once each
    for lb in labels:
        parent = parents.get(lb.key)
        if parent is not None and parent.name.lower() not in names:
            offered.setdefault(parent.name.lower(), parent)
    kept = [
        j
        for j, lb in enumerate(labels)
        if not (lb.key in parents and parents[lb.key].name.lower() in offered and rng.random() < replace)
    ]
    items = list(labels)
    merged = [items[j] for j in kept]
    parent_index: dict[str, int] = {}
    for i, (name, parent) in enumerate(offered.items()):
        parent_index[name] = len(merged)
        merged.append(Label(f"__parent_{i}", parent.name, parent.description))
    new_of = {old: new for new, old in enumerate(kept)}
    target: dict[int, int] = {}
    fallback: dict[int, int] = {}
    for j, lb in enumerate(labels):
        up = parent_index.get(parents[lb.key].name.lower()) if lb.key in parents else None
        to = new_of.get(j, up)
        if to is not None:
            target[j] = to
        if j in new_of and up is not None:
            fallback[new_of[j]] = up
    return LabelSet(merged), remap_tags(tags, len(labels), target), fallback


def add_negatives(labels: LabelSet, pool: Sequence[Label], rng: random.Random, most: int) -> LabelSet:
    """``labels`` plus up to ``most`` labels of ``pool`` whose names it lacks (appended: tags keep their indices)."""
    if not pool or most <= 0:
        return labels
    names = {lb.name.lower() for lb in labels} | {lb.key.lower() for lb in labels}
    free = [lb for lb in pool if lb.name.lower() not in names and lb.key.lower() not in names]
    chosen = rng.sample(free, min(len(free), rng.randint(0, most)))
    seen: set[str] = set()
    extra: list[Label] = []
    for lb in chosen:
        if lb.name.lower() not in seen:
            seen.add(lb.name.lower())
            extra.append(Label(f"__negative_{len(extra)}", lb.name, lb.description))
    return LabelSet([*labels, *extra])


def coarsen(labels: LabelSet, parents: dict[str, Label], tags: list[list[int]]) -> tuple[LabelSet, list[list[int]]]:
    """The task read with its coarse types: each fine type with a parent becomes that parent (fine
    types sharing a parent merge into one); types without a parent stay as they are.
    """
    merged: list[Label] = []
    index: dict[str, int] = {}
    target: dict[int, int] = {}
    for j, lb in enumerate(labels):
        up = parents.get(lb.key, lb)
        if up.name.lower() not in index:
            index[up.name.lower()] = len(merged)
            merged.append(Label(f"__coarse_{len(merged)}" if lb.key in parents else lb.key, up.name, up.description))
        target[j] = index[up.name.lower()]
    return LabelSet(merged), remap_tags(tags, len(labels), target)


UPPER_SHAPE, LOWER_SHAPE = 3, 1
CASED_SHAPES = (1, 2, 3, 4)  # lower, Title, UPPER, mIxed: the shapes a case change rewrites


def recase(window: Window, shape: int) -> Window:
    """``window`` as if its text were all upper- (or lower-) case: for an uncased encoder only the
    case-shape ids change."""
    shapes = [shape if s in CASED_SHAPES else s for s in window.shape_ids]
    return Window(window.example, window.start, window.end, window.input_ids, shapes, window.first_subword)


def is_uncased(tokenizer: Any) -> bool:
    """Whether the tokenizer gives the same ids to cased and lower-cased words."""
    probe = ["Paris", "NASA", "iPhone"]
    return bool(
        tokenizer(probe, is_split_into_words=True)["input_ids"]
        == tokenizer([w.lower() for w in probe], is_split_into_words=True)["input_ids"]
    )


_SYNONYMS = {
    "person": ("people", "individual", "human", "person name"),
    "organization": ("organisation", "org", "institution", "organization name"),
    "location": ("place", "loc", "location name"),
    "miscellaneous": ("misc", "other", "other entity"),
    "country": ("nation", "state"),
    "city": ("town",),
    "company": ("corporation", "business", "firm"),
    "corporation": ("company", "business"),
    "group": ("team or band", "collective"),
    "product": ("product name", "brand"),
    "event": ("event name", "happening"),
    "disease": ("illness", "medical condition"),
    "chemical": ("compound", "substance"),
    "gene": ("gene name",),
    "species": ("organism",),
    "work of art": ("creative work", "title"),
    "creative work": ("work of art", "title"),
    "political party": ("party",),
    "government agency": ("agency", "government body"),
    "athlete": ("sportsperson", "player"),
    "actor": ("actress", "performer"),
    "road": ("street",),
}


def _plural(name: str) -> str:
    if name.endswith(("s", "x", "ch", "sh")):
        return name + "es"
    if name.endswith("y") and name[-2:-1] not in "aeiou":
        return name[:-1] + "ies"
    return name + "s"


def name_variant(name: str, rng: random.Random) -> str:
    """Another way a user might write an entity type's name: a synonym or abbreviation (for the common
    types), the plural, or "name of a ..." / "... name" / "a ..." (the encoder is uncased: case is no variant)."""
    low = name.lower()
    forms = [_plural(low), f"name of a {low}", f"{low} name", f"a {low}", f"{low} mention"]
    if low in _SYNONYMS:
        forms += list(_SYNONYMS[low]) * 2  # synonyms as likely as the other forms together
    return rng.choice(forms)


def vary_names(labels: LabelSet, rng: random.Random, chance: float) -> LabelSet:
    """Each label's name rewritten by :func:`name_variant` with ``chance`` (keys, and so tags, unchanged;
    a variant that another label already uses is not taken)."""
    taken = {lb.name.lower() for lb in labels}
    out = []
    for lb in labels:
        name = lb.name
        if rng.random() < chance:
            variant = name_variant(lb.name, rng)
            if variant not in taken:
                taken.add(variant)
                name = variant
        out.append(Label(lb.key, name, lb.description))
    return LabelSet(out)
