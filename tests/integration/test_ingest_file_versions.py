"""A file that changes after it was ingested is a new version of the same source: in Postgres the newest
version's article replaces the older ones (same uri and record), in whatever order they arrive; and a
NUL that reaches the store anyway is written, not refused."""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest

from services.contracts import EnrichedArticle, EnrichmentInfo, Entity, SourceRef
from services.store.read import StoreReader
from services.store.repository import Repository

pytestmark = pytest.mark.integration

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def version_of(uri: str, n: int, text: str, *, record: int | None = None) -> EnrichedArticle:
    """Version ``n`` of the object at ``uri``: a growing file, read again each time it changed."""
    return EnrichedArticle(
        article_id=f"{uri.rsplit('/', 1)[-1]}-{record}-v{n}",
        source=SourceRef(uri=uri, version=f"{100 * n}-{n}", record=record, format="text", size=100 * n, sha256="ab"),
        title="Harbour strike",
        text=text,
        word_count=len(text.split()),
        ingested_at=T0 + dt.timedelta(seconds=2 * n),
        entities=[
            Entity(
                text="Mara Quill",
                canonical="Mara Quill",
                canonical_id="p:mara-quill",
                label="PERSON",
                count=1,
                salience=0.5,
            )
        ],
        enrichment=EnrichmentInfo(
            enricher_version="test",
            model="en_core_web_sm",
            model_version="3.8.0",
            enriched_at=T0 + dt.timedelta(seconds=2 * n + 1),
        ),
    )


def rows(database_url: str, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(sql).fetchall()


def test_the_newest_version_of_a_growing_file_is_the_one_article_stored(database_url: str) -> None:
    uri = "/inbox/growing.txt"
    text = "Mara Quill said the strike would go on."
    with Repository(database_url) as repository:
        repository.migrate()
        for n in range(1, 30):  # appended every 2 s for a minute, read after each append
            repository.write_batch([version_of(uri, n, text + " More." * n)], [])
        # A redelivered older version changes nothing; another file and a JSON Lines record are untouched.
        repository.write_batch([version_of(uri, 3, text)], [])
        repository.write_batch([version_of("/inbox/other.txt", 1, text)], [])
        repository.write_batch([version_of("/inbox/feed.jsonl", 1, text, record=0)], [])
        repository.write_batch([version_of("/inbox/feed.jsonl", 2, text + " Later.", record=1)], [])
        # What ingest published has all arrived: the superseded versions count as stored.
        published = [f"growing.txt-None-v{n}" for n in range(1, 30)]
        assert StoreReader(repository).stored_article_ids(published) == set(published)
    stored = rows(database_url, "SELECT article_id FROM articles ORDER BY article_id")
    assert [r[0] for r in stored] == ["feed.jsonl-0-v1", "feed.jsonl-1-v2", "growing.txt-None-v29", "other.txt-None-v1"]
    sources = rows(database_url, "SELECT article_id, version FROM article_sources WHERE uri = '/inbox/growing.txt'")
    assert sources == [("growing.txt-None-v29", "2900-29")]
    aliases = rows(database_url, "SELECT count(*) FROM entity_aliases WHERE article_id LIKE 'growing.txt-None-v2_'")
    assert aliases == [(1,)]  # only the newest version's


def test_an_older_version_arriving_after_the_newer_one_is_not_stored(database_url: str) -> None:
    uri = "/inbox/rewritten.txt"
    with Repository(database_url) as repository:
        repository.migrate()
        repository.write_batch([version_of(uri, 2, "The second draft of the story.")], [])
        repository.write_batch([version_of(uri, 1, "The first draft.")], [])
        assert StoreReader(repository).stored_article_ids(["rewritten.txt-None-v1"]) == {"rewritten.txt-None-v1"}
    assert rows(database_url, "SELECT article_id FROM articles") == [("rewritten.txt-None-v2",)]
    assert rows(database_url, "SELECT article_id, superseded_by FROM superseded_articles") == [
        ("rewritten.txt-None-v1", "rewritten.txt-None-v2")
    ]


def test_a_nul_that_reaches_the_store_is_replaced_not_refused(database_url: str) -> None:
    article = version_of("/inbox/nul.txt", 1, "Mara Quill said\x00 the strike would go on.")
    with Repository(database_url) as repository:
        repository.migrate()
        repository.write_batch([article], [])
    [(body, event_text)] = rows(database_url, "SELECT body, event->>'text' FROM articles")
    assert body == event_text == "Mara Quill said\ufffd the strike would go on."
