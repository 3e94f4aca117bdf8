"""Story state in Postgres, shared by every enrich replica on any host (enrich's own SQL; the connection
and its faults are ``services.runtime.postgres``).

Correct under concurrency by serialising assignments: each runs in one transaction that first takes a
transaction-level advisory lock, so two replicas seeing two articles of one event at once cannot both
found a story (the second sees the first's committed story and joins it) nor lose a centroid update.
The lock is held from the first read to the commit, so one consumer group assigns one article at a
time whatever its replica count (bench/results/story_state.md has the cost; spaCy runs outside it).

Per batch one statement for the lock, one for the other replicas' document-frequency changes and the
document count, one pipelined write of the batch's frequencies and count, and one commit; per article one
each for redelivery, quote hits, keyed candidates and candidate versions, then one pipelined write; no
per-article reload. Candidate states are cached by story id and version (``seq``): a state is read again
only when another replica (or this one) changed it since. Document frequencies are cached too and kept
exact by reading only the rows changed since the last read (``DocFreqCache``). A failed transaction
drops the state cache, since ``merge`` mutates cached states.

Stories not updated for ``retention`` are pruned (with their keys, shingles and assignments) at most
every ``prune_interval_s``; document frequencies are kept (they are the IDF corpus, bounded by the
vocabulary).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import Counter
from collections.abc import Mapping, Sequence

from services.enrich.stories import (
    Assignment,
    Decision,
    DocFreqCache,
    OpenWindow,
    StoryFeatures,
    StoryState,
    StoryStateCache,
    assign_story,
    state_from_json,
    state_to_json,
)
from services.runtime.postgres import Connection, PostgresConnection, stage_migrations

log = logging.getLogger(__name__)

# pg_advisory_xact_lock key of story assignment ("nfst"); distinct from the migration lock.
ASSIGNMENT_LOCK_KEY = 0x6E667374


# A story the window admits (stories.OpenWindow.admits), over story_states' range columns.
_OPEN = (
    "((st.published_first IS NULL AND st.ingested_last IS NULL)"
    " OR (st.published_first <= %(p_first)s AND st.published_last >= %(p_last)s)"
    " OR (st.ingested_first <= %(i_first)s AND st.ingested_last >= %(i_last)s))"
)


def _window(window: OpenWindow) -> dict[str, dt.date]:
    return {
        "p_first": window.published_first_at_most,
        "p_last": window.published_last_at_least,
        "i_first": window.ingested_first_at_most,
        "i_last": window.ingested_last_at_least,
    }


def migrations() -> list[tuple[str, str]]:
    return stage_migrations("services.enrich", "enrich")


class PostgresStoryStore:
    def __init__(
        self,
        database_url: str,
        *,
        retention: dt.timedelta,
        prune_interval_s: float = 600.0,
    ) -> None:
        self._db = PostgresConnection(database_url, application_name="newsflow-enrich")
        self._retention = retention
        self._prune_interval_s = prune_interval_s
        self._last_prune = time.monotonic()
        self._cache = StoryStateCache()
        self._doc_freq = DocFreqCache()
        self._conn: Connection | None = None  # the connection of the transaction in progress
        self._candidate_seqs: dict[str, int] = {}  # story id -> seq, from quote_hits/stories_with_keys
        # This batch's document-frequency counts and documents, written once at its end (_write_counts);
        # the first doc_freq() of a batch reads what other replicas changed, the rest need not (the lock).
        self._pending_df: Counter[str] = Counter()
        self._pending_docs = 0
        self._n_docs_at_start: int | None = None
        self._known: dict[str, str] | None = None  # within a batch: its articles' recorded stories

    def migrate(self) -> list[str]:
        return self._db.migrate(migrations())

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> PostgresStoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def assign(self, features: StoryFeatures) -> Decision:
        return self.assign_batch([features])[0]

    def assign_batch(self, features: Sequence[StoryFeatures]) -> list[Decision]:
        """Assign in order inside one locked transaction: one lock, one commit per batch."""
        try:
            with self._db.transaction() as conn:
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (ASSIGNMENT_LOCK_KEY,))
                self._conn = conn
                self._n_docs_at_start = None
                # The batch's articles already assigned (a redelivery), in one round trip instead of one each.
                ids = sorted({f.article_id for f in features})
                self._known = {
                    str(a): str(s)
                    for a, s in conn.execute(
                        "SELECT article_id, story_id FROM story_assignments WHERE article_id = ANY(%s)", (ids,)
                    ).fetchall()
                }
                decisions = [assign_story(self, f) for f in features]
                self._write_counts(conn)
        except BaseException:
            self._pending_df.clear()
            self._pending_docs = 0
            self._cache.clear()
            self._candidate_seqs.clear()
            self._doc_freq.watermark = None  # it may hold frequencies that were rolled back
            raise
        finally:
            self._conn = None
            self._known = None
        if time.monotonic() - self._last_prune >= self._prune_interval_s:
            self.prune()
        return decisions

    def prune(self) -> int:
        """Delete the stories not updated within the retention; return how many."""
        with self._db.transaction() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (ASSIGNMENT_LOCK_KEY,))
            # No foreign keys (a per-row check on every shingle insert costs more than it saves): the
            # story's rows go in the same statement.
            rows = conn.execute(
                """
                WITH gone AS (DELETE FROM story_states WHERE updated_at < now() - %s RETURNING story_id, n),
                    keys AS (DELETE FROM story_keys WHERE story_id IN (SELECT story_id FROM gone)),
                    shingles AS (DELETE FROM story_text_shingles WHERE story IN (SELECT n FROM gone)),
                    assigned AS (DELETE FROM story_assignments WHERE story_id IN (SELECT story_id FROM gone))
                SELECT story_id FROM gone
                """,
                (self._retention,),
            ).fetchall()
        self._last_prune = time.monotonic()
        self._cache.clear()
        if rows:
            log.info("pruned stories", extra={"stories": len(rows), "retention_days": self._retention.days})
        return len(rows)

    def document_frequencies(self, terms: set[str]) -> tuple[Mapping[str, int], int]:
        """Diagnostics: the document frequencies (through the cache) and document count assignment uses."""
        with self._db.transaction() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (ASSIGNMENT_LOCK_KEY,))
            self._conn = conn
            self._n_docs_at_start = None
            try:
                frequencies, n_docs = self.doc_freq(terms)
                return {t: frequencies.get(t, 0) for t in terms}, n_docs
            finally:
                self._conn = None

    def story_of(self, article_id: str) -> str | None:
        with self._db.transaction() as conn:
            self._conn = conn
            try:
                return self.known_story(article_id)
            finally:
                self._conn = None

    # -- the port (called inside ``assign``'s locked transaction) ---------------------------------

    def _tx(self) -> Connection:
        assert self._conn is not None, "port methods run only inside assign()"
        return self._conn

    def known_story(self, article_id: str) -> str | None:
        if self._known is not None:
            return self._known.get(article_id)
        row = (
            self._tx().execute("SELECT story_id FROM story_assignments WHERE article_id = %s", (article_id,)).fetchone()
        )
        return None if row is None else str(row[0])

    def quote_hits(self, quote_shingles: frozenset[int], window: OpenWindow) -> Mapping[str, int]:
        if not quote_shingles:
            return {}
        rows = (
            self._tx()
            .execute(
                "SELECT st.story_id, st.seq, sh.hits FROM (SELECT story, count(*) AS hits FROM story_text_shingles"
                " WHERE shingle = ANY(%(shingles)s) GROUP BY story) sh JOIN story_states st ON st.n = sh.story"
                f" WHERE {_OPEN}",
                {"shingles": sorted(quote_shingles), **_window(window)},
            )
            .fetchall()
        )
        self._candidate_seqs.update((str(story_id), int(str(seq))) for story_id, seq, _hits in rows)
        return {str(story_id): int(str(hits)) for story_id, _seq, hits in rows}

    def stories_with_keys(self, keys: frozenset[str], window: OpenWindow) -> set[str]:
        if not keys:
            return set()
        rows = (
            self._tx()
            .execute(
                "SELECT DISTINCT k.story_id, st.seq FROM story_keys k JOIN story_states st USING (story_id)"
                f" WHERE k.key = ANY(%(keys)s) AND {_OPEN}",
                {"keys": sorted(keys), **_window(window)},
            )
            .fetchall()
        )
        self._candidate_seqs.update((str(story_id), int(str(seq))) for story_id, seq in rows)
        return {str(story_id) for story_id, _seq in rows}

    def recent_states(self, story_ids: set[str], limit: int) -> list[StoryState]:
        conn = self._tx()
        # The update sequence of the candidates the two lookups above found came with them (same locked
        # transaction, so still current); only ids from elsewhere are asked for.
        known, self._candidate_seqs = self._candidate_seqs, {}
        ranked = [(i, known[i]) for i in story_ids if i in known]
        unknown = sorted(i for i in story_ids if i not in known)
        if unknown:
            ranked += [
                (str(story_id), int(str(seq)))
                for story_id, seq in conn.execute(
                    "SELECT story_id, seq FROM story_states WHERE story_id = ANY(%s)", (unknown,)
                ).fetchall()
            ]
        ranked.sort(key=lambda x: (-x[1], x[0]))
        ranked = ranked[:limit]
        stale = self._cache.stale(ranked)
        if stale:
            for story_id, seq, state in conn.execute(
                "SELECT story_id, seq, state FROM story_states WHERE story_id = ANY(%s)", (stale,)
            ).fetchall():
                self._cache.put(str(story_id), int(str(seq)), state_from_json(str(story_id), str(state)))
        return [self._cache.get(story_id) for story_id, _seq in ranked]

    def doc_freq(self, terms: set[str]) -> tuple[Mapping[str, int], int]:
        conn, cache = self._tx(), self._doc_freq
        if self._n_docs_at_start is None:  # the batch's first article: catch up on the other replicas
            if cache.watermark is None:
                row = conn.execute("SELECT coalesce(max(seq), 0) FROM story_doc_freq").fetchone()
                cache.start(int(str(row[0])) if row else 0)
            else:
                changed = conn.execute(
                    "SELECT term, df, seq FROM story_doc_freq WHERE seq > %s", (cache.watermark,)
                ).fetchall()
                cache.apply((str(t), int(str(df)), int(str(seq))) for t, df, seq in changed)
            n_docs = conn.execute("SELECT value FROM story_counters WHERE name = 'n_docs'").fetchone()
            self._n_docs_at_start = int(str(n_docs[0])) if n_docs else 0
        missing = cache.missing(terms)
        if missing:
            rows = conn.execute("SELECT term, df FROM story_doc_freq WHERE term = ANY(%s)", (missing,)).fetchall()
            found = {str(t): int(str(df)) for t, df in rows}
            pending = self._pending_df
            for term in missing:
                if term in pending:  # counted by this batch, not written yet
                    found[term] = found.get(term, 0) + pending[term]
            cache.fill(missing, found)
        return cache.frequencies, self._n_docs_at_start + self._pending_docs

    def _write_counts(self, conn: Connection) -> None:
        """The batch's document frequencies (one row per term) and document count, in one round trip."""
        if not self._pending_docs:
            return
        terms = sorted(self._pending_df)
        with conn.pipeline():
            last = conn.execute(
                "WITH written AS (INSERT INTO story_doc_freq (term, df, seq)"
                " SELECT t, n, nextval('story_doc_freq_seq') FROM unnest(%s::text[], %s::int[]) AS u(t, n)"
                " ON CONFLICT (term) DO UPDATE SET df = story_doc_freq.df + EXCLUDED.df, seq = EXCLUDED.seq"
                " RETURNING seq) SELECT max(seq) FROM written",
                (terms, [self._pending_df[t] for t in terms]),
            )
            conn.execute("UPDATE story_counters SET value = value + %s WHERE name = 'n_docs'", (self._pending_docs,))
        row = last.fetchone()
        if row is not None and row[0] is not None:
            # Written under the lock: no other replica's change lies between, and count_own counted these.
            self._doc_freq.advance(int(str(row[0])))
        self._pending_df.clear()
        self._pending_docs = 0

    def record(self, assignment: Assignment) -> None:
        conn, state, f = self._tx(), assignment.state, assignment.features
        story_id = state.story_id
        with conn.pipeline():
            conn.execute(
                "INSERT INTO story_states (story_id, seq, state, updated_at, published_first, published_last,"
                " ingested_first, ingested_last) VALUES (%s, nextval('story_seq'), %s, now(), %s, %s, %s, %s)"
                " ON CONFLICT (story_id) DO UPDATE SET seq = EXCLUDED.seq, state = EXCLUDED.state,"
                " updated_at = EXCLUDED.updated_at, published_first = EXCLUDED.published_first,"
                " published_last = EXCLUDED.published_last, ingested_first = EXCLUDED.ingested_first,"
                " ingested_last = EXCLUDED.ingested_last",
                (
                    story_id,
                    state_to_json(state),
                    state.published_first,
                    state.published_last,
                    state.ingested_first,
                    state.ingested_last,
                ),
            )
            conn.execute(
                "INSERT INTO story_keys (key, story_id) SELECT unnest(%s::text[]), %s ON CONFLICT DO NOTHING",
                (sorted(f.entities | f.places), story_id),
            )
            conn.execute(
                "INSERT INTO story_text_shingles (shingle, story)"
                " SELECT unnest(%s::bigint[]), (SELECT n FROM story_states WHERE story_id = %s) ON CONFLICT DO NOTHING",
                (sorted(f.text_shingles), story_id),
            )
            conn.execute(
                "INSERT INTO story_assignments (article_id, story_id) VALUES (%s, %s)", (f.article_id, story_id)
            )
            seq = conn.execute("SELECT seq FROM story_states WHERE story_id = %s", (story_id,))
        row = seq.fetchone()
        if row is not None:
            self._cache.put(story_id, int(str(row[0])), state)
        if self._known is not None:
            self._known[f.article_id] = story_id  # the same article again later in this batch
        self._pending_df.update(f.terms.keys())
        self._pending_docs += 1
        self._doc_freq.count_own(f.terms, None)
