"""Scoring of entity mentions against an annotated set (tests/eval/entity_corpus, bench/entity_quality.py).

Pure. An annotation lists, per article, entities as (surface text, label, canonical id): every word-bounded
occurrence of the text that is not inside a longer listed entity is one expected mention. Three figures:

* ``span_accuracy``: expected mentions found with exactly their bounds;
* ``id_accuracy``: expected mentions found with exactly their bounds and the expected canonical id;
* ``place_label_accuracy``: expected place mentions (GPE/LOC/FAC) found with exactly their bounds and a
  place label.

``value_leaks`` counts ``not_entities`` occurrences (dates, numbers, junk spans) that hold an entity mention.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from services.enrich.entity_ids import PLACE_LABELS


@dataclass(frozen=True)
class ExpectedEntity:
    text: str
    label: str
    canonical_id: str


@dataclass(frozen=True)
class PredictedMention:
    start: int
    end: int
    label: str
    canonical_id: str


@dataclass
class EntityScores:
    expected: int = 0
    spans_right: int = 0
    ids_right: int = 0
    places: int = 0
    places_right: int = 0
    negatives: int = 0
    value_leaks: int = 0
    misses: list[str] = field(default_factory=list)

    def add(self, other: EntityScores) -> None:
        self.expected += other.expected
        self.spans_right += other.spans_right
        self.ids_right += other.ids_right
        self.places += other.places
        self.places_right += other.places_right
        self.negatives += other.negatives
        self.value_leaks += other.value_leaks
        self.misses.extend(other.misses)

    @property
    def span_accuracy(self) -> float:
        return self.spans_right / self.expected if self.expected else 1.0

    @property
    def id_accuracy(self) -> float:
        return self.ids_right / self.expected if self.expected else 1.0

    @property
    def place_label_accuracy(self) -> float:
        return self.places_right / self.places if self.places else 1.0

    def summary(self) -> str:
        return (
            f"spans {self.span_accuracy:.3f}, ids {self.id_accuracy:.3f}, places {self.place_label_accuracy:.3f}"
            f" ({self.expected} mentions, {self.places} places), value leaks {self.value_leaks}/{self.negatives}"
        )


def _occurrences(text: str, needle: str) -> Iterable[tuple[int, int]]:
    for m in re.finditer(r"(?<!\w)" + re.escape(needle) + r"(?!\w)", text):
        yield m.start(), m.end()


def score_entities(
    text: str,
    expected: Sequence[ExpectedEntity],
    predicted: Sequence[PredictedMention],
    not_entities: Sequence[str] = (),
    *,
    doc_id: str = "",
) -> EntityScores:
    scores = EntityScores()
    by_bounds = {(p.start, p.end): p for p in predicted}
    taken: list[tuple[int, int]] = []
    for e in sorted(expected, key=lambda e: -len(e.text)):
        for start, end in _occurrences(text, e.text):
            if any(s <= start and end <= t for s, t in taken):
                continue
            taken.append((start, end))
            scores.expected += 1
            got = by_bounds.get((start, end))
            is_place = e.label in PLACE_LABELS
            scores.places += is_place
            if got is None:
                scores.misses.append(f"{doc_id}: span {e.text!r}")
                continue
            scores.spans_right += 1
            if got.canonical_id == e.canonical_id:
                scores.ids_right += 1
            else:
                scores.misses.append(f"{doc_id}: id {e.text!r} {got.canonical_id} != {e.canonical_id}")
            if is_place:
                if got.label in PLACE_LABELS:
                    scores.places_right += 1
                else:
                    scores.misses.append(f"{doc_id}: label {e.text!r} {got.label}")
    for negative in not_entities:
        for start, end in _occurrences(text, negative):
            scores.negatives += 1
            if any(start <= p.start and p.end <= end for p in predicted):
                scores.value_leaks += 1
                scores.misses.append(f"{doc_id}: leak {negative!r}")
    return scores
