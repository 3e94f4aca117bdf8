"""Entities across articles on a real Postgres: enrich real texts, store them, read the shared ids and names."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import psycopg
import pytest
from spacy.language import Language

from services.contracts import CleanedArticle, EnrichedArticle, SourceRef
from services.enrich.nlp import load_pipeline
from services.enrich.pipeline import Enricher
from services.enrich.stories import InMemoryStoryStore
from services.enrich.taxonomy import load_taxonomy
from services.store.repository import Repository, entity_aliases

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def nlp() -> Language:
    return load_pipeline("en_core_web_sm")


def _cleaned(article_id: str, title: str, text: str) -> CleanedArticle:
    return CleanedArticle(
        article_id=article_id,
        source=SourceRef(uri=f"inbox/{article_id}.txt", version="1", format="text", size=len(text), sha256="0"),
        title=title,
        text=text,
        word_count=len(text.split()),
        ingested_at=dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
    )


ARTICLES = [
    _cleaned(
        "a-us",
        "Tariff talks resume",
        "Trade officials from the United States arrived in Geneva on Monday for a new round of tariff talks.\n"
        "The United States wants lower duties on steel, a spokesperson said.",
    ),
    _cleaned(
        "b-us",
        "Steel duties stay",
        "The US delegation left Geneva without a deal on Thursday.\nThe US said talks would go on next month.",
    ),
    _cleaned(
        "c-lavrov",
        "Lavrov in Beijing",
        "Russian Foreign Minister Sergei Lavrov arrived in Beijing on Tuesday.\n"
        "Sergei Lavrov met his Chinese counterpart Wang Yi. Lavrov said ties were strong.",
    ),
    _cleaned(
        "d-lavrov",
        "Wang receives Lavrov",
        "Sergey Lavrov was welcomed by Wang Yi in Beijing.\nSergey Lavrov praised the partnership.",
    ),
]


def _stored(database_url: str) -> dict[str, list[tuple[str, str, str]]]:
    """article_id -> [(canonical_id, entities.canonical, canonical_entities.name)]."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT e.article_id, e.canonical_id, e.canonical, c.name FROM entities e"
            " JOIN canonical_entities c USING (canonical_id) ORDER BY e.article_id, e.position"
        ).fetchall()
    out: dict[str, list[tuple[str, str, str]]] = {}
    for article_id, cid, canonical, name in rows:
        out.setdefault(str(article_id), []).append((str(cid), str(canonical), str(name)))
    return out


def _enrich(nlp: Language, articles: list[CleanedArticle]) -> list[EnrichedArticle]:
    return Enricher(nlp=nlp, taxonomy=load_taxonomy(None), stories=InMemoryStoryStore()).enrich_batch(articles)


def test_us_and_lavrov_variants_share_one_id_and_name_after_storage(nlp: Language, database_url: str) -> None:
    enriched = _enrich(nlp, ARTICLES)
    with Repository(database_url) as repo:
        repo.migrate()
        # Two batches (two transactions): the name is shared across writes, not only within one.
        repo.write_batch(enriched[:1] + enriched[2:3], [])
        repo.write_batch(enriched[1:2] + enriched[3:], [])
    stored = _stored(database_url)

    def entity(article_id: str, cid: str) -> tuple[str, str, str]:
        return next(row for row in stored[article_id] if row[0] == cid)

    assert entity("a-us", "place:united-states") == entity("b-us", "place:united-states")
    assert entity("a-us", "place:united-states")[2] == "United States"
    assert entity("c-lavrov", "person:sergi-lavrov") == entity("d-lavrov", "person:sergi-lavrov")
    _, canonical, name = entity("c-lavrov", "person:sergi-lavrov")
    assert canonical == name and name in ("Sergei Lavrov", "Sergey Lavrov")
    # Grouping by id and grouping by name give the same groups.
    with psycopg.connect(database_url) as conn:
        by_id = conn.execute("SELECT count(DISTINCT canonical_id) FROM entities").fetchone()
        by_name = conn.execute("SELECT count(DISTINCT (canonical, label)) FROM entities").fetchone()
        aliases = {
            str(a)
            for (a,) in conn.execute(
                "SELECT DISTINCT alias FROM entity_aliases WHERE canonical_id = 'person:sergi-lavrov'"
            ).fetchall()
        }
    assert by_id == by_name
    assert {"Sergei Lavrov", "Sergey Lavrov", "Lavrov"} <= aliases


def test_redelivery_counts_once_and_a_newer_enrichment_replaces_aliases(nlp: Language, database_url: str) -> None:
    enriched = _enrich(nlp, ARTICLES[2:])
    with Repository(database_url) as repo:
        repo.migrate()
        repo.write_batch(enriched, [])
        repo.write_batch(enriched, [])  # redelivered batch: nothing counts twice
        with psycopg.connect(database_url) as conn:
            row = conn.execute(
                "SELECT name, articles, mentions FROM canonical_entities WHERE canonical_id = 'person:sergi-lavrov'"
            ).fetchone()
        assert row is not None and row[1] == 2 and row[2] == 5
        # Article d is re-enriched later and now names nobody: its aliases go and the counts follow.
        later = enriched[1].model_copy(
            update={
                "entities": [],
                "enrichment": enriched[1].enrichment.model_copy(
                    update={"enriched_at": enriched[1].enrichment.enriched_at + dt.timedelta(hours=1)}
                ),
            }
        )
        repo.write_batch([later], [])
        with psycopg.connect(database_url) as conn:
            row = conn.execute(
                "SELECT name, articles FROM canonical_entities WHERE canonical_id = 'person:sergi-lavrov'"
            ).fetchone()
            gone = conn.execute("SELECT count(*) FROM entity_aliases WHERE article_id = 'd-lavrov'").fetchone()
        assert row == ("Sergei Lavrov", 1)
        assert gone == (0,)


def test_entity_aliases_lists_every_surface_form_and_the_chosen_name(nlp: Language) -> None:
    article = _enrich(nlp, ARTICLES[2:3])[0]
    forms = {dataclasses.astuple(a)[1:] for a in entity_aliases(article) if a.canonical_id == "person:sergi-lavrov"}
    assert forms == {("Sergei Lavrov", 2, True), ("Lavrov", 1, False)}


def test_migration_backfills_entities_stored_before_it(database_url: str) -> None:
    """A database written under migration 0001 gets aliases and shared names for what it already holds."""
    initial = (Path(__file__).parents[2] / "services" / "store" / "migrations" / "0001_initial.sql").read_text()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(initial.encode())
        conn.execute("CREATE TABLE schema_migrations (version text PRIMARY KEY, applied_at timestamptz DEFAULT now())")
        conn.execute("INSERT INTO schema_migrations (version) VALUES ('0001_initial')")
        for article_id, canonical in (("old-1", "US"), ("old-2", "United States"), ("old-3", "United States")):
            conn.execute(
                "INSERT INTO articles (article_id, schema_version, title, body, word_count, enricher_version, model,"
                " ingested_at, enriched_at, event) VALUES (%s, 1, 't', 'b', 1, '0.1.0', 'm', now(), now(), '{}')",
                (article_id,),
            )
            conn.execute(
                "INSERT INTO entities (article_id, position, text, canonical, canonical_id, label, count, salience)"
                " VALUES (%s, 0, %s, %s, 'place:united-states', 'GPE', 1, 0.5)",
                (article_id, canonical, canonical),
            )
    with Repository(database_url) as repo:
        assert "0002_canonical_entities" in repo.migrate()
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT name, label, articles FROM canonical_entities").fetchall()
        names = conn.execute("SELECT DISTINCT canonical FROM entities").fetchall()
    assert row == [("United States", "GPE", 3)]
    assert names == [("United States",)]
