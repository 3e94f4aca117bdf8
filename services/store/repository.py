"""The only module of newsflow that imports psycopg: migrations, batched idempotent upserts, raw reads.

Writes are idempotent: an article is keyed by ``article_id`` and an older enrichment never overwrites
a newer one (``enriched_at`` decides), so a redelivered batch changes nothing.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from types import TracebackType
from typing import TypeVar

import psycopg
from psycopg.types.json import Jsonb

from services.contracts import DeadLetter, EnrichedArticle
from services.runtime import metrics
from services.runtime.errors import TransientError
from services.runtime.messages import Trace
from services.runtime.postgres import apply_migrations, connect, redact

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Traces:
    """The trace each row of a batch came with (message headers), by article_id / dead_letter_id."""

    articles: Mapping[str, Trace] = field(default_factory=dict)
    dead_letters: Mapping[str, Trace] = field(default_factory=dict)


@dataclass(frozen=True)
class RedriveMark:
    dead_letter_id: str
    redriven_to: str


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


_Event = TypeVar("_Event", EnrichedArticle, DeadLetter)
# A NUL escape in an event's JSON (after an even number of backslashes, so not an escaped "\\u0000").
_NUL_ESCAPE = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


def without_nul(event: _Event) -> _Event:
    """``event`` with every NUL character replaced by U+FFFD: Postgres text and jsonb refuse NUL, and
    an event from an older or foreign producer may carry one. One character for one, so the mention
    offsets into the text still hold."""
    raw = event.model_dump_json()
    if "\\u0000" not in raw:
        return event
    return type(event).model_validate_json(_NUL_ESCAPE.sub(r"\1\\ufffd", raw))


class RowRejected(Exception):
    """Postgres refused a row for its content (constraint or data error): poison, not a fault."""


def _migrations() -> list[tuple[str, str]]:
    folder = resources.files("services.store") / "migrations"
    files = sorted((entry for entry in folder.iterdir() if entry.name.endswith(".sql")), key=lambda e: e.name)
    return [(entry.name.removesuffix(".sql"), entry.read_text(encoding="utf-8")) for entry in files]


_UPSERT_ARTICLE = """
    INSERT INTO articles (article_id, schema_version, title, standfirst, body, author, url,
        published_at, language, word_count, duplicate_of, story_id, enricher_version, model,
        ingested_at, enriched_at, event, trace_id)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
    ON CONFLICT (article_id) DO UPDATE SET
        schema_version = EXCLUDED.schema_version, title = EXCLUDED.title,
        standfirst = EXCLUDED.standfirst, body = EXCLUDED.body, author = EXCLUDED.author,
        url = EXCLUDED.url, published_at = EXCLUDED.published_at, language = EXCLUDED.language,
        word_count = EXCLUDED.word_count, duplicate_of = EXCLUDED.duplicate_of,
        story_id = EXCLUDED.story_id, enricher_version = EXCLUDED.enricher_version,
        model = EXCLUDED.model, ingested_at = EXCLUDED.ingested_at,
        enriched_at = EXCLUDED.enriched_at, event = EXCLUDED.event, stored_at = now(),
        trace_id = COALESCE(EXCLUDED.trace_id, articles.trace_id)
    WHERE articles.enriched_at <= EXCLUDED.enriched_at
    RETURNING article_id
"""


def article_row(article: EnrichedArticle, trace: Trace | None) -> tuple[object, ...]:
    return (
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
        None if trace is None else trace.trace_id,
    )


def _insert_columns(
    cur: psycopg.Cursor[tuple[object, ...]], target: str, types: Sequence[str], rows: Sequence[Sequence[object]]
) -> None:
    """Insert ``rows`` into ``target`` ("table (columns)") in one statement: one array per column,
    ``unnest``-ed by the server, so a batch's child rows cost one statement, not one per row."""
    if not rows:
        return
    columns = [list(column) for column in zip(*rows, strict=True)]
    arrays = ", ".join(f"%s::{t}[]" for t in types)
    cur.execute(f"INSERT INTO {target} SELECT * FROM unnest({arrays})", columns)


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
            self._conn = connect(self._url, autocommit=False, connect_timeout=10)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def migrate(self) -> list[str]:
        """Apply pending migrations in order, in one transaction under the migration lock; return them.

        Raises ``TransientError`` when Postgres cannot be reached (the caller waits and tries again)."""
        try:
            return apply_migrations(self._connection(), _migrations())
        except psycopg.OperationalError as exc:
            self.close()
            raise TransientError(f"Postgres migration failed: {redact(str(exc), self._url)}") from exc

    def write_batch(
        self,
        articles: Sequence[EnrichedArticle],
        dead_letters: Sequence[DeadLetter],
        traces: Traces | None = None,
    ) -> None:
        """Upsert articles with all their children and insert dead letters, in one transaction.

        Raises ``TransientError`` if Postgres is unreachable (nothing was written) and ``RowRejected``
        if a row's content is refused (nothing was written either: the transaction rolled back)."""
        traces = traces or Traces()
        conn = self._connection()
        try:
            # Pipeline mode sends the statements without waiting for each reply: one round trip
            # per sync point instead of one per statement.
            with metrics.STORE_TRANSACTION_SECONDS.time(), conn.transaction(), conn.pipeline():
                current = self._without_outdated_versions(conn, [without_nul(a) for a in articles])
                touched = self._upsert_articles(conn, current, traces)
                touched |= self._supersede_older_versions(conn, current)
                for dead_letter in dead_letters:
                    self._insert_dead_letter(
                        conn, without_nul(dead_letter), traces.dead_letters.get(dead_letter.dead_letter_id)
                    )
                if touched:
                    self._refresh_canonical_entities(conn, touched)
        except psycopg.OperationalError as exc:
            self.close()
            raise TransientError(f"Postgres write failed: {redact(str(exc), self._url)}") from exc
        except (psycopg.DataError, psycopg.IntegrityError) as exc:
            raise RowRejected(str(exc)) from exc

    def _upsert_articles(
        self, conn: psycopg.Connection[tuple[object, ...]], articles: Sequence[EnrichedArticle], traces: Traces
    ) -> set[str]:
        """Write the batch's articles and their children; return the canonical ids whose shared name may
        change. Statements per batch, not per article: the article upserts go as one pipelined
        ``executemany`` (its RETURNING says which were written, with no round trip per row), then one
        DELETE per child table for the written articles and one INSERT per child table over arrays."""
        if not articles:
            return set()
        with conn.cursor() as cur:
            cur.executemany(
                _UPSERT_ARTICLE, [article_row(a, traces.articles.get(a.article_id)) for a in articles], returning=True
            )
            # Per row, in order: did it replace what was stored? An article twice in one batch keeps
            # the last version written, as one statement per article would.
            final: dict[str, EnrichedArticle] = {}
            for article in articles:
                if cur.fetchone() is not None:
                    final[article.article_id] = article
                cur.nextset()
            cur.executemany(
                """
                INSERT INTO article_sources (article_id, uri, version, record, format, sha256)
                VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING
                """,
                [
                    (
                        a.article_id,
                        a.source.uri,
                        a.source.version,
                        -1 if a.source.record is None else a.source.record,
                        a.source.format,
                        a.source.sha256,
                    )
                    for a in articles
                ],
            )
            metrics.STORE_ROWS.labels("article_sources").inc(len(articles))
            if not final:
                return set()  # newer enrichments of all of them are already stored
            metrics.STORE_ROWS.labels("articles").inc(len(final))
            written = sorted(final)
            # Ids the articles named before this enrichment lose their aliases: their names are refreshed too.
            cur.execute("DELETE FROM entity_aliases WHERE article_id = ANY(%s) RETURNING canonical_id", (written,))
            touched = {str(row[0]) for row in cur.fetchall()}
            for table in ("entities", "quotes", "topics"):
                cur.execute(f"DELETE FROM {table} WHERE article_id = ANY(%s)", (written,))
            kept = [final[i] for i in written]
            entities = [(a.article_id, i, e) for a in kept for i, e in enumerate(a.entities)]
            _insert_columns(
                cur,
                "entities (article_id, position, text, canonical, canonical_id, label, count, salience)",
                ["text", "int4", "text", "text", "text", "text", "int4", "float4"],
                [(aid, i, e.text, e.canonical, e.canonical_id, e.label, e.count, e.salience) for aid, i, e in entities],
            )
            quotes = [(a.article_id, i, q) for a in kept for i, q in enumerate(a.quotes)]
            _insert_columns(
                cur,
                "quotes (article_id, position, text, speaker, speaker_id, kind, confidence)",
                ["text", "int4", "text", "text", "text", "text", "float4"],
                [(aid, i, q.text, q.speaker, q.speaker_id, q.kind.value, q.confidence) for aid, i, q in quotes],
            )
            # One row per (article, code) in one statement: a code listed twice keeps its best score.
            topics: dict[tuple[str, str], tuple[str, str, str, float]] = {}
            for a in kept:
                for t in a.topics:
                    seen = topics.get((a.article_id, t.code))
                    if seen is None or t.score > seen[3]:
                        topics[(a.article_id, t.code)] = (a.article_id, t.code, seen[2] if seen else t.label, t.score)
            _insert_columns(
                cur,
                "topics (article_id, code, label, score)",
                ["text", "text", "text", "float4"],
                list(topics.values()),
            )
            aliases = [(a.article_id, x) for a in kept for x in entity_aliases(a)]
            _insert_columns(
                cur,
                "entity_aliases (article_id, canonical_id, alias, mentions, is_canonical)",
                ["text", "text", "text", "int4", "bool"],
                [(aid, x.canonical_id, x.alias, x.mentions, x.is_canonical) for aid, x in aliases],
            )
        metrics.STORE_ROWS.labels("entities").inc(len(entities))
        metrics.STORE_ROWS.labels("entity_aliases").inc(len(aliases))
        metrics.STORE_ROWS.labels("quotes").inc(len(quotes))
        metrics.STORE_ROWS.labels("topics").inc(len(topics))
        return touched | {e.canonical_id for a in kept for e in a.entities}

    # -- file versions: the newest version of a source wins ------------------------------------------
    # Keyed by ``article_id``, and per source: an article read from a newer version of the same object
    # (same uri and record, another version, a later ``ingested_at``: a file that grew or was rewritten)
    # supersedes the articles of the older versions, which are deleted; one from an older version than the
    # one stored is not written at all. One statement per batch for each question (the usual answer is
    # "none"), so the batch keeps its few round trips.

    @staticmethod
    def _without_outdated_versions(
        conn: psycopg.Connection[tuple[object, ...]], articles: list[EnrichedArticle]
    ) -> list[EnrichedArticle]:
        """``articles`` less those of which a newer version of the same source is already stored (each
        recorded as superseded by the newest stored one)."""
        if not articles:
            return articles
        rows = conn.execute(
            """
            SELECT b.i, (array_agg(s.article_id ORDER BY a.ingested_at DESC))[1]
            FROM unnest(%s::text[], %s::int8[], %s::text[], %s::text[], %s::timestamptz[])
                WITH ORDINALITY AS b(uri, record, version, article_id, ingested_at, i)
            JOIN article_sources s ON s.uri = b.uri AND s.record = b.record AND s.version <> b.version
                AND s.article_id <> b.article_id
            JOIN articles a ON a.article_id = s.article_id AND a.ingested_at > b.ingested_at
            GROUP BY b.i
            """,
            _source_columns(articles),
        ).fetchall()
        newer = {int(str(i)) - 1: str(by) for i, by in rows}
        for index, by in newer.items():
            Repository._record_superseded(conn, [articles[index].article_id], by, articles[index].source.uri)
        return [a for i, a in enumerate(articles) if i not in newer]

    @staticmethod
    def _supersede_older_versions(
        conn: psycopg.Connection[tuple[object, ...]], articles: list[EnrichedArticle]
    ) -> set[str]:
        """Drop what older versions of the batch's sources produced; return the canonical ids whose
        shared name may change. An older article that another object also produced (an exact copy
        elsewhere) stays, without this source."""
        if not articles:
            return set()
        with conn.cursor() as cur:
            cur.execute(
                """
                DELETE FROM article_sources s
                USING articles a,
                    unnest(%s::text[], %s::int8[], %s::text[], %s::text[], %s::timestamptz[])
                        AS b(uri, record, version, article_id, ingested_at)
                WHERE a.article_id = s.article_id AND s.uri = b.uri AND s.record = b.record
                  AND s.version <> b.version AND s.article_id <> b.article_id AND a.ingested_at < b.ingested_at
                RETURNING s.article_id, b.article_id, b.uri
                """,
                _source_columns(articles),
            )
            by_newer: dict[tuple[str, str], set[str]] = {}
            for old, by, uri in cur.fetchall():
                by_newer.setdefault((str(by), str(uri)), set()).add(str(old))
            touched: set[str] = set()
            for (by, uri), old_ids in sorted(by_newer.items()):
                older = sorted(old_ids)
                cur.execute("SELECT DISTINCT canonical_id FROM entity_aliases WHERE article_id = ANY(%s)", (older,))
                touched |= {str(row[0]) for row in cur.fetchall()}
                cur.execute(
                    "DELETE FROM articles a WHERE a.article_id = ANY(%s)"
                    " AND NOT EXISTS (SELECT 1 FROM article_sources s WHERE s.article_id = a.article_id)",
                    (older,),
                )
                # The new version is usually a near copy of the old one: links to a deleted version move to it.
                cur.execute(
                    "UPDATE articles SET duplicate_of = CASE WHEN article_id = %s THEN NULL ELSE %s END"
                    " WHERE duplicate_of = ANY(%s) AND NOT EXISTS"
                    " (SELECT 1 FROM articles kept WHERE kept.article_id = articles.duplicate_of)",
                    (by, by, older),
                )
                Repository._record_superseded(conn, older, by, uri)
                log.info("older versions superseded", extra={"uri": uri, "article_ids": older})
        return touched

    @staticmethod
    def _record_superseded(
        conn: psycopg.Connection[tuple[object, ...]], article_ids: list[str], by: str, uri: str
    ) -> None:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO superseded_articles (article_id, superseded_by, uri) VALUES (%s, %s, %s)"
                " ON CONFLICT (article_id) DO UPDATE SET superseded_by = EXCLUDED.superseded_by,"
                " superseded_at = now()",
                [(article_id, by, uri) for article_id in article_ids],
            )

    def _refresh_canonical_entities(self, conn: psycopg.Connection[tuple[object, ...]], ids: set[str]) -> None:
        """Re-choose the shared name of ``ids`` (rule: ``refresh_canonical_entities`` in migration 0002)."""
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_CANONICAL_LOCK_KEY,))
        conn.execute("SELECT refresh_canonical_entities(%s)", (sorted(ids),))
        metrics.STORE_ROWS.labels("canonical_entities").inc(len(ids))

    def _insert_dead_letter(
        self, conn: psycopg.Connection[tuple[object, ...]], dead_letter: DeadLetter, trace: Trace | None
    ) -> None:
        # DO NOTHING on conflict: a redelivered dead letter keeps its redrive state.
        conn.execute(
            """
            INSERT INTO dead_letters (dead_letter_id, stage, reason, error, article_id, source_uri,
                quarantine_uri, occurred_at, event, trace_id, seen_at_ms)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (dead_letter_id) DO NOTHING
            """,
            (
                dead_letter.dead_letter_id,
                dead_letter.stage.value,
                dead_letter.reason.value,
                dead_letter.error,
                dead_letter.article_id,
                _source_uri(dead_letter, trace),
                dead_letter.quarantine_uri,
                dead_letter.occurred_at,
                Jsonb(dead_letter.model_dump(mode="json")),
                None if trace is None else trace.trace_id,
                None if trace is None else trace.seen_at_ms,
            ),
        )
        metrics.STORE_ROWS.labels("dead_letters").inc()

    # -- reads (the queries themselves live in services.store.read) ---------------------------------

    def rows(self, query: str, params: Sequence[object] | dict[str, object] = ()) -> list[tuple[object, ...]]:
        """All rows of one read-only query, in its own transaction."""
        conn = self._connection()
        try:
            with conn.transaction():
                return conn.execute(query, params).fetchall()
        except psycopg.OperationalError as exc:
            # The server went away under an open connection (a crash, a restart): the next call reconnects.
            self.close()
            raise TransientError(f"Postgres read failed: {exc}") from exc

    def stream(
        self, query: str, params: Sequence[object] | dict[str, object] = (), itersize: int = 200
    ) -> Iterator[tuple[object, ...]]:
        """Rows of a large read-only query through a server-side cursor, ``itersize`` at a time."""
        conn = self._connection()
        with conn.transaction(), conn.cursor(name="newsflow_stream") as cur:
            cur.itersize = itersize
            cur.execute(query, params)
            yield from cur

    # -- redrive state (a write) ---------------------------------------------------------------------

    def mark_redriven(self, marks: Sequence[RedriveMark]) -> None:
        """Record that these dead letters were republished (after the broker acknowledged them)."""
        if not marks:
            return
        conn = self._connection()
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany(
                "UPDATE dead_letters SET state = 'redriven', redriven_at = now(), redriven_to = %s"
                " WHERE dead_letter_id = %s",
                [(mark.redriven_to, mark.dead_letter_id) for mark in marks],
            )

    # -- small writes of other modules (backfill state: services.store.backfills) -------------------------

    def write(self, statements: Sequence[Statement]) -> None:
        """Run each statement over its rows (``executemany``), all in one transaction."""
        conn = self._connection()
        try:
            with conn.transaction(), conn.cursor() as cur:
                for statement in statements:
                    cur.executemany(statement.sql, [tuple(r) for r in statement.rows])
        except psycopg.OperationalError as exc:
            self.close()
            raise TransientError(f"Postgres write failed: {redact(str(exc), self._url)}") from exc


@dataclass(frozen=True)
class Statement:
    """One parameterised write and the rows it runs over (one execution per row)."""

    sql: str
    # JSON goes as text with a ``%s::jsonb`` cast in ``sql``, so callers need no psycopg type.
    rows: Sequence[Sequence[object]]


def _source_uri(dead_letter: DeadLetter, trace: Trace | None) -> str | None:
    """Where the refused input came from: the dead letter's own source, else the ``newsflow-source-uri``
    header that travelled with it (a message that was not even JSON has no source of its own)."""
    if dead_letter.source is not None:
        return dead_letter.source.uri
    return None if trace is None else trace.source_uri


def _source_columns(articles: Sequence[EnrichedArticle]) -> tuple[list[object], ...]:
    """The batch's sources as columns (uri, record, version, article id, ingested at) for ``unnest``."""
    return (
        [a.source.uri for a in articles],
        [-1 if a.source.record is None else a.source.record for a in articles],
        [a.source.version for a in articles],
        [a.article_id for a in articles],
        [a.ingested_at for a in articles],
    )
