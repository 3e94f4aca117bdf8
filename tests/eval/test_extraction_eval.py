"""Quality gate for extraction on real pages: the shared dev set in ../shared/eval/extraction.

One pass of newsflow over the non-test pages (the README's sha1 split), saved text and HTML, scored
with the set's own score.py; fails when a figure drops below tests/eval/extraction_floors.json. Floors
only go up. The test part of the set is never scored here (bench/extraction_eval.py reports it).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from extraction_devset import (
    DevPage,
    Prediction,
    load_pages,
    load_scorer,
    newsflow_html,
    newsflow_text,
    score_bodies,
    title_accuracy,
    title_matches,
)

FLOORS = Path(__file__).resolve().parent / "extraction_floors.json"

pytestmark = pytest.mark.eval


@pytest.fixture(scope="module")
def dev_pages(shared_eval: Path) -> list[DevPage]:
    return load_pages(shared_eval, include_test=False)


def _figures(scorer: Any, pages: list[DevPage], extract: Callable[[DevPage], Prediction]) -> dict[str, float]:
    predictions = {page.id: extract(page) for page in pages}
    figures = score_bodies(scorer, pages, {pid: p.body for pid, p in predictions.items()})
    accuracy, _ = title_accuracy(pages, lambda page: predictions[page.id].title)
    return {"micro_f1": figures["micro_f1"], "mean_f1": figures["mean_f1"], "title_accuracy": accuracy}


def test_dev_split_excludes_test_pages(dev_pages: list[DevPage]) -> None:
    assert len(dev_pages) >= 350
    assert not any(page.is_test for page in dev_pages)
    assert {page.source for page in dev_pages} == {"l3s-gn1", "dragnet"}


@pytest.mark.parametrize(("fmt", "extract"), [("text", newsflow_text), ("html", newsflow_html)])
def test_extraction_meets_floors(
    shared_eval: Path, dev_pages: list[DevPage], fmt: str, extract: Callable[[DevPage], Prediction]
) -> None:
    floors = json.loads(FLOORS.read_text("utf-8"))[fmt]
    scores = _figures(load_scorer(shared_eval), dev_pages, extract)
    failures = {metric: (round(scores[metric], 4), floor) for metric, floor in floors.items() if scores[metric] < floor}
    assert not failures, f"{fmt}: below floor (score, floor): {failures}; all scores: {scores}"


def test_scoring_penalises_boilerplate_and_missing_text(shared_eval: Path, dev_pages: list[DevPage]) -> None:
    # Guards the gate itself: gold scores 1.0, padding with boilerplate or dropping half the body does not.
    scorer = load_scorer(shared_eval)
    page = dev_pages[0]
    assert score_bodies(scorer, [page], {page.id: page.gold_body})["micro_f1"] == 1.0
    padded = score_bodies(scorer, [page], {page.id: page.gold_body + "\nHome News Sport Subscribe Share" * 20})
    half = page.gold_body[: len(page.gold_body) // 2]
    assert padded["micro_precision"] < 1.0
    assert score_bodies(scorer, [page], {page.id: half})["micro_recall"] < 1.0


def test_title_match_is_on_words_of_the_headline_line() -> None:
    assert title_matches("No agreement on Kosovo?s status\nSub-headline", "No agreement on Kosovo’s status")
    assert not title_matches("No agreement on Kosovo?s status", "Home")
    assert not title_matches("No agreement on Kosovo?s status", None)
