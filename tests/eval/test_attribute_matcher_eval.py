"""The indexed attribute-ruler matching on real news: every token annotated as spaCy's own ruler does.

Reads PolNeAR articles from ``../shared/eval`` at run time (``shared_eval`` fixture: skipped when absent
outside CI, failing under CI)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from services.enrich.nlp import load_pipeline

pytestmark = pytest.mark.eval

ARTICLES = 60


def test_real_articles_get_the_same_tags_pos_morphology_and_lemmas(shared_eval: Path) -> None:
    with gzip.open(shared_eval / "quotes" / "articles.jsonl.gz", "rt", encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f][:ARTICLES]
    indexed = load_pipeline("en_core_web_sm")
    stock = load_pipeline("en_core_web_sm", indexed_attribute_ruler=False)
    tokens = differing = 0
    for a, b in zip(indexed.pipe(texts, batch_size=32), stock.pipe(texts, batch_size=32), strict=True):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            tokens += 1
            differing += (x.tag_, x.pos_, str(x.morph), x.lemma_) != (y.tag_, y.pos_, str(y.morph), y.lemma_)
    assert tokens > 20_000
    assert differing == 0
