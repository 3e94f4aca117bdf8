"""The only module of newsflow that imports psycopg: migrations, batched idempotent upserts, reads.

Writes are idempotent: an article is keyed by ``article_id`` and an older enrichment never overwrites
a newer one (``enriched_at`` decides), so a redelivered batch changes nothing.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from types import TracebackType

import psycopg
from psycopg.types.json import Jsonb

from services.contracts import DeadLetter, EnrichedArticle
from services.runtime import metrics
from services.runtime.errors import TransientError

log = logging.getLogger(__name__)

# Serialises migrations when several store processes start at once.
_MIGRATION_LOCK_KEY = 0x6E657773
# Serialises the refresh of canonical entity names, so a refresh sees every alias committed before it.
_CANONICAL_LOCK_KEY = 0x656E7473


@dataclass(frozen=True)
class EntityAlias:
    """One form an entity is written in within one article."""

    canonical_id: str
    alias: str
    mentions: int
    is_canonical: bool  # the article chose this form as the entity's name


def entity_aliases(article: EnrichedArticle) -> list[EntityAlias]:
    """Every surface form of every entity of ``article`` (from its mention offsets) and its chosen name."""
    out: list[EntityAlias] = []
    for entity in article.entities:
        forms = Counter(article.text[m.start : m.end] for m in entity.mentions if m.end <= len(article.text))
        forms.pop("", None)
        for form in sorted(set(forms) | {entity.canonical}):
            out.append(EntityAlias(entity.canonical_id, form, forms.get(form, 0), form == entity.canonical))
    return out


class RowRejected(Exception):
    """Postgres refused a row for its content (constraint or data error): poison, not a fault."""


def _migrations() -> list[tuple[str, str]]:
    folder = resources.files("services.store") / "migrations"
    files = sorted((entry for entry in folder.iterdir() if entry.name.endswith(".sql")), key=lambda e: e.name)
    return [(entry.name.removesuffix(".sql"), entry.read_text(encoding="utf-8")) for entry in files]


class Repository:
    def __init__(self, database_url: str) -> None:
        self._url = database_url
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None

    def __enter__(self) -> Repository:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _connection(self) -> psycopg.Connection[tuple[object, ...]]:
        if self._conn is None or self._conn.closed:
            try:
                self._conn = psycopg.connect(self._url, autocommit=False, connect_timeout=10)
            except psycopg.OperationalError as exc:
                raise TransientError(f"cannot connect to Postgres: {exc}") from exc
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def migrate(self) -> list[str]:
        """Apply pending migrations in order, each in its own transaction; return the ones applied."""
        conn = self._connection()
        applied: list[str] = []
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK_KEY,))
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
            for version, sql in _migrations():
                if version in done:
                    continue
                conn.execute(sql.encode("utf-8"))
                conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (version,))
                applied.append(version)
        for version in applied:
            log.info("applied migration", extra={"version": version})
        return applied

    def write_batch(self, articles: Sequence[EnrichedArticle], dead_letters: Sequence[DeadLetter]) -> None:
        """Upsert articles with all their children and insert dead letters, in one transaction.

        Raises ``TransientError`` if Postgres is unreachable (nothing was written) and ``RowRejected``
        if a row's content is refused (nothing was written either: the transaction rolled back)."""
        conn = self._connection()
        try:
            # Pipeline mode sends the statements without waiting for each reply: one round trip
            # per sync point instead of one per statement.
            with metrics.STORE_TRANSACTION_SECONDS.time(), conn.transaction(), conn.pipeline():
                touched: set[str] = set()
                for article in articles:
                    touched |= self._upsert_article(conn, article)
                for dead_letter in dead_letters:
                    self._insert_dead_letter(conn, dead_letter)
                if touched:
                    self._refresh_canonical_entities(conn, touched)
        except psycopg.OperationalError as exc:
            self.close()
            raise TransientError(f"Postgres write failed: {exc}") from exc
        except (psycopg.DataError, psycopg.IntegrityError) as exc:
            raise RowRejected(str(exc)) from exc

    def _upsert_article(self, conn: psycopg.Connection[tuple[object, ...]], article: EnrichedArticle) -> set[str]:
        """Write one article and its children; return the canonical ids whose shared name may change."""
        source = article.source
        written = conn.execute(
            """
            INSERT INTO articles (article_id, schema_version, title, standfirst, body, author, url,
                published_at, language, word_count, duplicate_of, story_id, enricher_version, model,
                ingested_at, enriched_at, event)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (article_id) DO UPDATE SET
                schema_version = EXCLUDED.schema_version, title = EXCLUDED.title,
                standfirst = EXCLUDED.standfirst, body = EXCLUDED.body, author = EXCLUDED.author,
                url = EXCLUDED.url, published_at = EXCLUDED.published_at, language = EXCLUDED.language,
                word_count = EXCLUDED.word_count, duplicate_of = EXCLUDED.duplicate_of,
                story_id = EXCLUDED.story_id, enricher_version = EXCLUDED.enricher_version,
                model = EXCLUDED.model, ingested_at = EXCLUDED.ingested_at,
                enriched_at = EXCLUDED.enriched_at, event = EXCLUDED.event, stored_at = now()
            WHERE articles.enriched_at <= EXCLUDED.enriched_at
            RETURNING article_id
            """,
            (
                article.article_id,
                article.schema_version,
                article.title,
                article.standfirst,
                article.text,
                article.author,
                article.url,
                article.published_at,
                article.language,
                article.word_count,
                article.duplicate_of,
                article.story_id,
                article.enrichment.enricher_version,
                article.enrichment.model,
                article.ingested_at,
                article.enrichment.enriched_at,
                Jsonb(article.model_dump(mode="json")),
            ),
        ).fetchone()
        conn.execute(
            """
            INSERT INTO article_sources (article_id, uri, version, record, format, sha256)
            VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING
            """,
            (
                article.article_id,
                source.uri,
                source.version,
                -1 if source.record is None else source.record,
                source.format,
                source.sha256,
            ),
        )
        metrics.STORE_ROWS.labels("article_sources").inc()
        if written is None:
            return set()  # a newer enrichment of this article is already stored
        metrics.STORE_ROWS.labels("articles").inc()
        with conn.cursor() as cur:
            # Ids the article named before this enrichment lose its aliases: their names are refreshed too.
            cur.execute(
                "DELETE FROM entity_aliases WHERE article_id = %s RETURNING canonical_id", (article.article_id,)
            )
            touched = {str(row[0]) for row in cur.fetchall()}
            for table in ("entities", "quotes", "topics"):
                cur.execute(f"DELETE FROM {table} WHERE article_id = %s", (article.article_id,))
            cur.executemany(
                "INSERT INTO entities (article_id, position, text, canonical, canonical_id, label, count, salience)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                [
                    (article.article_id, i, e.text, e.canonical, e.canonical_id, e.label, e.count, e.salience)
                    for i, e in enumerate(article.entities)
                ],
            )
            cur.executemany(
                "INSERT INTO quotes (article_id, position, text, speaker, speaker_id, kind, confidence)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                [
                    (article.article_id, i, q.text, q.speaker, q.speaker_id, q.kind.value, q.confidence)
                    for i, q in enumerate(article.quotes)
                ],
            )
            cur.executemany(
                "INSERT INTO topics (article_id, code, label, score) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (article_id, code) DO UPDATE SET score = GREATEST(topics.score, EXCLUDED.score)",
                [(article.article_id, t.code, t.label, t.score) for t in article.topics],
            )
            aliases = entity_aliases(article)
            cur.executemany(
                "INSERT INTO entity_aliases (article_id, canonical_id, alias, mentions, is_canonical)"
                " VALUES (%s, %s, %s, %s, %s)",
                [(article.article_id, a.canonical_id, a.alias, a.mentions, a.is_canonical) for a in aliases],
            )
        metrics.STORE_ROWS.labels("entities").inc(len(article.entities))
        metrics.STORE_ROWS.labels("entity_aliases").inc(len(aliases))
        metrics.STORE_ROWS.labels("quotes").inc(len(article.quotes))
        metrics.STORE_ROWS.labels("topics").inc(len(article.topics))
        return touched | {e.canonical_id for e in article.entities}

    def _refresh_canonical_entities(self, conn: psycopg.Connection[tuple[object, ...]], ids: set[str]) -> None:
        """Re-choose the shared name of ``ids`` (rule: ``refresh_canonical_entities`` in migration 0002)."""
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_CANONICAL_LOCK_KEY,))
        conn.execute("SELECT refresh_canonical_entities(%s)", (sorted(ids),))
        metrics.STORE_ROWS.labels("canonical_entities").inc(len(ids))

    def _insert_dead_letter(self, conn: psycopg.Connection[tuple[object, ...]], dead_letter: DeadLetter) -> None:
        conn.execute(
            """
            INSERT INTO dead_letters (dead_letter_id, stage, reason, error, article_id, source_uri,
                quarantine_uri, occurred_at, event)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (dead_letter_id) DO NOTHING
            """,
            (
                dead_letter.dead_letter_id,
                dead_letter.stage.value,
                dead_letter.reason.value,
                dead_letter.error,
                dead_letter.article_id,
                None if dead_letter.source is None else dead_letter.source.uri,
                dead_letter.quarantine_uri,
                dead_letter.occurred_at,
                Jsonb(dead_letter.model_dump(mode="json")),
            ),
        )
        metrics.STORE_ROWS.labels("dead_letters").inc()

    # -- reads -------------------------------------------------------------------------------------

    def iter_articles(self) -> Iterator[EnrichedArticle]:
        """Every stored article as the enriched-article contract, in article_id order."""
        conn = self._connection()
        with conn.transaction(), conn.cursor(name="export_articles") as cur:
            cur.itersize = 200
            cur.execute("SELECT event FROM articles ORDER BY article_id")
            for (event,) in cur:
                yield EnrichedArticle.model_validate(event)

    def stored_article_ids(self, article_ids: Sequence[str]) -> set[str]:
        """Which of these articles are stored."""
        return self._present("SELECT article_id FROM articles WHERE article_id = ANY(%s)", article_ids)

    def dead_lettered_article_ids(self, article_ids: Sequence[str]) -> set[str]:
        """Which of these articles were refused by enrich or store."""
        return self._present("SELECT article_id FROM dead_letters WHERE article_id = ANY(%s)", article_ids)

    def dead_letter_ids(self, dead_letter_ids: Sequence[str]) -> set[str]:
        """Which of these dead letters are stored."""
        return self._present("SELECT dead_letter_id FROM dead_letters WHERE dead_letter_id = ANY(%s)", dead_letter_ids)

    def _present(self, query: str, ids: Sequence[str]) -> set[str]:
        conn = self._connection()
        with conn.transaction():
            rows = conn.execute(query, (list(ids),)).fetchall()
        return {str(row[0]) for row in rows}

    def recent_dead_letters(self, stage: str | None, reason: str | None, limit: int) -> list[DeadLetter]:
        """The newest dead letters, optionally of one stage and/or reason."""
        conn = self._connection()
        with conn.transaction():
            rows = conn.execute(
                "SELECT event FROM dead_letters WHERE (%(stage)s::text IS NULL OR stage = %(stage)s)"
                " AND (%(reason)s::text IS NULL OR reason = %(reason)s) ORDER BY occurred_at DESC LIMIT %(limit)s",
                {"stage": stage, "reason": reason, "limit": limit},
            ).fetchall()
        return [DeadLetter.model_validate(row[0]) for row in rows]

    def dead_letter_counts(self) -> list[tuple[str, str, int]]:
        """(stage, reason, count) over every stored dead letter."""
        conn = self._connection()
        with conn.transaction():
            rows = conn.execute(
                "SELECT stage, reason, count(*) FROM dead_letters GROUP BY stage, reason ORDER BY stage, reason"
            ).fetchall()
        return [(str(stage), str(reason), int(str(n))) for stage, reason, n in rows]

    def counts(self) -> dict[str, int]:
        """Stored articles and dead letters by reason, for progress displays and summaries."""
        conn = self._connection()
        with conn.transaction():
            stored = conn.execute("SELECT count(*) FROM articles").fetchone()
            by_reason = conn.execute("SELECT reason, count(*) FROM dead_letters GROUP BY reason").fetchall()
        counts = {"stored": int(str(stored[0])) if stored else 0}
        counts.update({f"dead_letter:{reason}": int(str(n)) for reason, n in by_reason})
        return counts
