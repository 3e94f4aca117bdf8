"""The store's batch writes on a real Postgres: child rows sent per batch keep per-article semantics."""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest

from services.contracts import EnrichedArticle, EnrichmentInfo, Entity, Quote, QuoteKind, SourceRef, Topic
from services.store.repository import Repository

pytestmark = pytest.mark.integration

T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def _article(article_id: str, version: str, enriched_at: dt.datetime, names: list[str]) -> EnrichedArticle:
    text = " and ".join(names) + " met."
    return EnrichedArticle(
        article_id=article_id,
        source=SourceRef(uri=f"inbox/{article_id}.txt", version=version, format="text", size=len(text), sha256="0"),
        title=f"{article_id} {version}",
        text=text,
        word_count=len(text.split()),
        ingested_at=T0,
        entities=[
            Entity(text=n, canonical=n, canonical_id=f"person:{n.lower()}", label="PERSON", count=1, salience=0.5)
            for n in names
        ],
        quotes=[Quote(text=f"{version} said", speaker=names[0], kind=QuoteKind.FULL, confidence=0.9, start=0, end=3)],
        topics=[
            Topic(code="medtop:11000000", label="politics", score=0.4),
            Topic(code="medtop:11000000", label="politics", score=0.7),
        ],
        story_id=f"story-{article_id}",
        enrichment=EnrichmentInfo(enricher_version="t", model="m", model_version="1", enriched_at=enriched_at),
    )


def _children(url: str, article_id: str) -> tuple[str, list[str], list[str], list[tuple[str, float]]]:
    with psycopg.connect(url) as conn:
        title = conn.execute("SELECT title FROM articles WHERE article_id = %s", (article_id,)).fetchone()
        entities = conn.execute(
            "SELECT text FROM entities WHERE article_id = %s ORDER BY position", (article_id,)
        ).fetchall()
        quotes = conn.execute(
            "SELECT text FROM quotes WHERE article_id = %s ORDER BY position", (article_id,)
        ).fetchall()
        topics = conn.execute("SELECT code, score FROM topics WHERE article_id = %s", (article_id,)).fetchall()
    assert title is not None
    return (
        str(title[0]),
        [str(r[0]) for r in entities],
        [str(r[0]) for r in quotes],
        [(str(c), round(float(str(s)), 3)) for c, s in topics],
    )


def test_an_article_twice_in_one_batch_keeps_the_newer_enrichment_and_only_its_children(database_url: str) -> None:
    newer_last = [
        _article("a", "v1", T0, ["Ana", "Ben"]),
        _article("b", "v1", T0, ["Cy"]),
        _article("a", "v2", T0 + dt.timedelta(hours=1), ["Dora"]),
    ]
    newer_first = [_article("c", "v2", T0 + dt.timedelta(hours=1), ["Eve"]), _article("c", "v1", T0, ["Fay", "Gus"])]
    with Repository(database_url) as repository:
        repository.migrate()
        repository.write_batch(newer_last, [])
        repository.write_batch(newer_first, [])
        repository.write_batch(newer_last, [])  # redelivered: nothing changes
    assert _children(database_url, "a") == ("a v2", ["Dora"], ["v2 said"], [("medtop:11000000", 0.7)])
    assert _children(database_url, "b") == ("b v1", ["Cy"], ["v1 said"], [("medtop:11000000", 0.7)])
    assert _children(database_url, "c") == ("c v2", ["Eve"], ["v2 said"], [("medtop:11000000", 0.7)])
    with psycopg.connect(database_url) as conn:
        sources = conn.execute("SELECT count(*) FROM article_sources WHERE article_id = 'a'").fetchone()
        aliases = conn.execute("SELECT alias FROM entity_aliases WHERE article_id = 'a' ORDER BY alias").fetchall()
    assert sources is not None and sources[0] == 2  # both versions are recorded as sources
    assert [r[0] for r in aliases] == ["Dora"]
