"""Quality gate for entities: spans, canonical ids and place labels on an annotated set written for newsflow.

``entity_corpus/articles.json`` holds 22 invented articles in the shapes of the seeds (headline repeated,
captions, datelines) with names in Latin, Cyrillic, Greek, Arabic, Han and Hangul script. Floors live in
``entity_floors.json`` and only go up; bench/entity_quality.py prints the same figures beside plain spaCy.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from spacy.language import Language

from services.enrich.entities import analyse_entities
from services.enrich.entity_evaluation import EntityScores, ExpectedEntity, PredictedMention, score_entities
from services.enrich.nlp import load_pipeline

pytestmark = pytest.mark.eval

HERE = Path(__file__).parent
FLOORS: dict[str, float] = json.loads((HERE / "entity_floors.json").read_text())


@pytest.fixture(scope="module")
def nlp() -> Language:
    return load_pipeline("en_core_web_sm")


@pytest.fixture(scope="module")
def scores(nlp: Language) -> EntityScores:
    docs: list[dict[str, Any]] = json.loads((HERE / "entity_corpus" / "articles.json").read_text())["docs"]
    total = EntityScores()
    for d in docs:
        analysis = analyse_entities(nlp(d["text"]), title=d["title"])
        total.add(
            score_entities(
                d["text"],
                [ExpectedEntity(e["text"], e["label"], e["id"]) for e in d["entities"]],
                [PredictedMention(m.start, m.end, m.label, m.canonical_id) for m in analysis.mentions],
                d["not_entities"],
                doc_id=d["id"],
            )
        )
    return total


def test_set_is_large_enough(scores: EntityScores) -> None:
    assert scores.expected >= 200 and scores.places >= 100 and scores.negatives >= 50


def test_span_boundaries(scores: EntityScores) -> None:
    assert scores.span_accuracy >= FLOORS["span_accuracy"], (scores.summary(), scores.misses)


def test_canonical_ids(scores: EntityScores) -> None:
    assert scores.id_accuracy >= FLOORS["id_accuracy"], (scores.summary(), scores.misses)


def test_place_labels(scores: EntityScores) -> None:
    assert scores.place_label_accuracy >= FLOORS["place_label_accuracy"], (scores.summary(), scores.misses)


def test_dates_and_numbers_never_become_entities(scores: EntityScores) -> None:
    assert scores.value_leaks <= FLOORS["max_value_leaks"], (scores.summary(), scores.misses)
