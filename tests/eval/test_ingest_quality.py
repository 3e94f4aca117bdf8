"""Quality gate for ingest extraction on the annotated corpus in tests/eval/ingest_corpus.

Fails when paragraph precision/recall, date accuracy or title accuracy drop below the committed floors
in tests/eval/ingest_floors.json. Raise the floors when the extractor improves; never lower them to
make a change pass without saying why in the commit.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ingest_corpus.corpus import CorpusDoc, Extraction, Scores, load_corpus, score

from services.ingest.formats import ExtractedArticle, ExtractionOptions, extract_articles
from services.runtime.errors import InvalidInput

FLOORS = Path(__file__).resolve().parent / "ingest_floors.json"

pytestmark = pytest.mark.eval


def newsflow_extraction(doc: CorpusDoc) -> Extraction:
    try:
        results = extract_articles(doc.name, doc.raw, ExtractionOptions())
    except InvalidInput:
        return Extraction(title=None, paragraphs=(), date=None)
    [article] = results
    assert isinstance(article, ExtractedArticle)
    kept = article.text.split("\n\n")  # the body includes the standfirst
    return Extraction(title=article.title, paragraphs=tuple(kept), date=article.published_at)


def _scores() -> Scores:
    return score(load_corpus(), newsflow_extraction)


def test_corpus_is_annotated() -> None:
    docs = load_corpus()
    assert len(docs) >= 10
    assert {doc.path.suffix for doc in docs} == {".txt", ".html"}
    assert all(doc.paragraphs and doc.title for doc in docs)


def test_extraction_quality_meets_floors() -> None:
    floors = json.loads(FLOORS.read_text("utf-8"))
    scores = _scores().as_dict()
    failures = {metric: (scores[metric], floor) for metric, floor in floors.items() if scores[metric] < floor}
    assert not failures, f"below floor (score, floor): {failures}; all scores: {scores}"


def test_scoring_penalises_boilerplate_and_missing_paragraphs() -> None:
    # Guards the gate itself: a perfect extraction scores 1.0, junk and omissions are counted.
    doc = load_corpus()[0]
    perfect = score([doc], lambda d: Extraction(d.title, d.paragraphs, d.date))
    assert (perfect.precision, perfect.recall, perfect.date_accuracy) == (1.0, 1.0, 1.0)
    noisy = score([doc], lambda d: Extraction(d.title, (*d.paragraphs[1:], "Subscribe", "3 Comments"), None))
    assert noisy.precision < 1.0 and noisy.recall < 1.0
