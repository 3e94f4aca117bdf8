from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from spacy.language import Language

from services.contracts.events import CleanedArticle, SourceRef
from services.enrich.nlp import load_pipeline


@pytest.fixture(scope="session")
def nlp() -> Language:
    return load_pipeline("en_core_web_sm")


def make_article(
    article_id: str, text: str, *, title: str = "Title", published: dt.date | None = None
) -> CleanedArticle:
    return CleanedArticle(
        article_id=article_id,
        source=SourceRef(uri=f"test://{article_id}", version="1", format="text", size=len(text), sha256="0"),
        title=title,
        text=text,
        published_at=published,
        word_count=len(text.split()),
        ingested_at=dt.datetime(2026, 1, 5, 12, tzinfo=dt.UTC),
    )


@pytest.fixture
def article() -> Callable[..., CleanedArticle]:
    return make_article
