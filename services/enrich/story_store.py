"""The only module that touches sqlite: persistent story state for the streaming clusterer.

Safe for several processes on one host: WAL journal (readers never block the writer), a busy timeout,
and every assignment runs inside ``BEGIN IMMEDIATE`` so two processes cannot both found a story for
the same event or lose each other's centroid updates. State survives restarts because it is only ever
changed inside committed transactions; an article seen again (Kafka redelivery) gets its recorded
story back without changing anything.
"""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy
import orjson

from services.enrich.stories import (
    Assignment,
    Decision,
    DocFreqCache,
    OpenWindow,
    StoryFeatures,
    StoryState,
    StoryStateCache,
    assign_story,
    latest_day,
    state_from_json,
    state_to_json,
)

_SCHEMA = """
-- The date ranges are copies of the state's (ISO dates), so candidate queries apply the time gates
-- (stories.OpenWindow) without reading states; NULL where the state has none.
CREATE TABLE IF NOT EXISTS stories (
    story_id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    state TEXT NOT NULL,
    n INTEGER,
    published_first TEXT,
    published_last TEXT,
    ingested_first TEXT,
    ingested_last TEXT
);
-- last_day: the story's latest date (stories.latest_day; NO_DAY when it has none), indexed with the key,
-- so a key shared by years of stories reads only those recent enough to be open (OpenWindow.latest_at_least).
CREATE TABLE IF NOT EXISTS story_keys (
    key TEXT NOT NULL,
    story_id TEXT NOT NULL,
    last_day TEXT NOT NULL DEFAULT '9999-12-31',
    PRIMARY KEY (key, story_id)
) WITHOUT ROWID;
-- A story's text 4-grams under its number (stories.n), not its id: ~800 rows an article, and an
-- integer instead of the 38-byte id makes the index (and each batch's WAL write) a third the size.
CREATE TABLE IF NOT EXISTS story_text_shingles (
    shingle INTEGER NOT NULL,
    story INTEGER NOT NULL,
    PRIMARY KEY (shingle, story)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS assignments (
    article_id TEXT PRIMARY KEY,
    story_id TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS doc_freq (
    term TEXT PRIMARY KEY,
    df INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
"""


NO_DAY = "9999-12-31"  # story_keys.last_day of a story without dates: every window reads it
_DATE_COLUMNS = ("published_first", "published_last", "ingested_first", "ingested_last")
# A story the window admits (stories.OpenWindow.admits), over the columns above; parameters: _window.
_OPEN = (
    "((st.published_first IS NULL AND st.ingested_last IS NULL)"
    " OR (st.published_first <= ? AND st.published_last >= ?)"
    " OR (st.ingested_first <= ? AND st.ingested_last >= ?))"
)


# An IN list bound as one JSON array: a third faster than a parameter per value for the ~130 quote 4-grams
# of an article, and no limit on the number of values.
_JSON_LIST = "(SELECT value FROM json_each(?))"


def _window(window: OpenWindow) -> tuple[str, str, str, str]:
    return (
        window.published_first_at_most.isoformat(),
        window.published_last_at_least.isoformat(),
        window.ingested_first_at_most.isoformat(),
        window.ingested_last_at_least.isoformat(),
    )


def _sorted_json_array(values: frozenset[int]) -> str:
    """A JSON array of 63-bit integers in ascending order (sorted inserts keep to neighbouring b-tree
    pages). numpy sorts ~800 of them in a third of ``sorted``'s time; the text is the same."""
    array = numpy.fromiter(values, dtype=numpy.int64, count=len(values))
    array.sort()
    return orjson.dumps(array, option=orjson.OPT_SERIALIZE_NUMPY).decode()


def _date_range(state: StoryState) -> tuple[str | None, ...]:
    """The state's range columns, in ``_DATE_COLUMNS`` order."""
    days = (state.published_first, state.published_last, state.ingested_first, state.ingested_last)
    return tuple(None if day is None else day.isoformat() for day in days)


def _enable_wal(conn: sqlite3.Connection, timeout: float) -> None:
    """Switch to WAL, retrying: several enrich processes opening a new file at once race for the
    switch, and SQLite answers SQLITE_BUSY to it without consulting the busy timeout."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class SqliteStoryStore:
    def __init__(self, path: str | Path, *, timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN/COMMIT ourselves so the write lock is taken up front.
        self._conn = sqlite3.connect(str(self.path), timeout=timeout, isolation_level=None)
        _enable_wal(self._conn, timeout)
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA cache_size=-65536")
        self._conn.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
        self._conn.executescript(_SCHEMA)
        self._migrate()
        self._cache = StoryStateCache()
        self._candidate_seqs: dict[str, int] = {}  # story id -> seq, from quote_hits/stories_with_keys
        self._doc_freq_cache = DocFreqCache()
        self._pending_df: Counter[str] = Counter()  # this batch's document-frequency counts, not written yet
        self._pending_seq = 0
        # Within a batch this connection holds the write lock: nobody else can change the file, so the
        # counters, the assignments asked for and the other writers' frequency changes are read once at
        # its start and the counters written once at its end (a dozen statements an article before).
        self._counters: dict[str, int] = {}
        self._known: dict[str, str] = {}
        self._caught_up = False
        self._in_batch = False

    def _migrate(self) -> None:
        """Bring a file written by an older newsflow up to date (once, under the write lock: several
        processes may open an old file at the same time): document frequencies get a change sequence,
        stories a number, and the text 4-grams move from story ids to story numbers."""
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            columns = {row[1] for row in conn.execute("PRAGMA table_info(doc_freq)")}
            if "seq" not in columns:
                conn.execute("ALTER TABLE doc_freq ADD COLUMN seq INTEGER NOT NULL DEFAULT 0")
            conn.execute("CREATE INDEX IF NOT EXISTS doc_freq_seq ON doc_freq (seq)")
            if "n" not in {row[1] for row in conn.execute("PRAGMA table_info(stories)")}:
                conn.execute("ALTER TABLE stories ADD COLUMN n INTEGER")
            conn.execute("UPDATE stories SET n = rowid WHERE n IS NULL")
            story_columns = {row[1] for row in conn.execute("PRAGMA table_info(stories)")}
            if "published_first" not in story_columns:
                for column in _DATE_COLUMNS:
                    conn.execute(f"ALTER TABLE stories ADD COLUMN {column} TEXT")
                rows = conn.execute("SELECT story_id, state FROM stories").fetchall()
                conn.executemany(
                    "UPDATE stories SET published_first = ?, published_last = ?, ingested_first = ?,"
                    " ingested_last = ? WHERE story_id = ?",
                    [(*_date_range(state_from_json(str(i), str(raw))), i) for i, raw in rows],
                )
            if "last_day" not in {row[1] for row in conn.execute("PRAGMA table_info(story_keys)")}:
                conn.execute(f"ALTER TABLE story_keys ADD COLUMN last_day TEXT NOT NULL DEFAULT '{NO_DAY}'")
                conn.execute(
                    "UPDATE story_keys SET last_day = coalesce((SELECT nullif(max(coalesce(st.published_last, ''),"
                    " coalesce(st.ingested_last, '')), '') FROM stories st WHERE st.story_id = story_keys.story_id),"
                    " ?)",
                    (NO_DAY,),
                )
            conn.execute("CREATE INDEX IF NOT EXISTS story_keys_by_day ON story_keys (key, last_day)")
            conn.execute("CREATE INDEX IF NOT EXISTS story_keys_by_story ON story_keys (story_id)")
            conn.execute("CREATE UNIQUE INDEX IF NOT EXISTS stories_n ON stories (n)")
            # Covering the candidate queries, which name them (without statistics the planner takes the
            # primary key): a story's row holds its state (kilobytes of JSON in overflow pages) before
            # these columns, so reading them from the table walks the state's pages (keyed candidates
            # 0.31 -> 0.22 ms an article).
            window = ", ".join(_DATE_COLUMNS)
            conn.execute(f"CREATE INDEX IF NOT EXISTS stories_window_by_id ON stories (story_id, seq, {window})")
            conn.execute(f"CREATE INDEX IF NOT EXISTS stories_window_by_n ON stories (n, story_id, seq, {window})")
            conn.execute(
                "INSERT INTO meta (key, value) SELECT 'story_n', coalesce(max(n), 0) FROM stories"
                " WHERE true ON CONFLICT(key) DO UPDATE SET value = max(value, excluded.value)"
            )
            old = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'story_shingles'")
            if old.fetchone():
                conn.execute(
                    "INSERT OR IGNORE INTO story_text_shingles (shingle, story)"
                    " SELECT sh.shingle, st.n FROM story_shingles sh JOIN stories st USING (story_id)"
                )
                conn.execute("DROP TABLE story_shingles")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> SqliteStoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def story_of(self, article_id: str) -> str | None:
        row = self._conn.execute("SELECT story_id FROM assignments WHERE article_id = ?", (article_id,)).fetchone()
        return str(row[0]) if row else None

    def assign(self, features: StoryFeatures) -> Decision:
        return self.assign_batch([features])[0]

    def assign_batch(self, features: Sequence[StoryFeatures]) -> list[Decision]:
        """Assign in order inside one ``BEGIN IMMEDIATE`` transaction: each article sees the ones
        before it (same connection), other processes see all of them or none, and the commit (the WAL
        write, most of an article's cost when committed one by one) happens once per batch."""
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            self._start_batch([f.article_id for f in features])
            decisions = [assign_story(self, f) for f in features]
            self._write_doc_freq()
            self._write_counters()
            conn.execute("COMMIT")
            self._in_batch = False
            return decisions
        except BaseException:
            self._in_batch = False
            conn.execute("ROLLBACK")
            self._pending_df.clear()
            self._cache.clear()  # merge may have changed a cached state that was not committed
            self._candidate_seqs.clear()
            self._doc_freq_cache.watermark = None  # it may hold frequencies that were rolled back
            raise

    # -- the port (called inside ``assign``'s transaction) ------------------------------------------

    def known_story(self, article_id: str) -> str | None:
        return self._known.get(article_id)

    def _start_batch(self, article_ids: Sequence[str]) -> None:
        self._counters = {
            str(k): int(v)
            for k, v in self._conn.execute("SELECT key, value FROM meta WHERE key IN ('seq', 'story_n', 'n_docs')")
        }
        self._known = {}
        unique = sorted(set(article_ids))
        for i in range(0, len(unique), 500):
            chunk = unique[i : i + 500]
            marks = ",".join("?" * len(chunk))
            self._known.update(
                self._conn.execute(f"SELECT article_id, story_id FROM assignments WHERE article_id IN ({marks})", chunk)
            )
        self._caught_up = False
        self._in_batch = True

    def _write_counters(self) -> None:
        self._conn.execute(
            "INSERT INTO meta (key, value) SELECT key, value FROM json_each(?) WHERE true"
            " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (orjson.dumps(self._counters).decode(),),
        )

    def record(self, assignment: Assignment) -> None:
        conn, state, f = self._conn, assignment.state, assignment.features
        seq = self._next_seq()
        if assignment.founded:
            number = self._bump("story_n")
            conn.execute(
                "INSERT INTO stories (story_id, seq, state, n, published_first, published_last, ingested_first,"
                " ingested_last) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (state.story_id, seq, state_to_json(state), number, *_date_range(state)),
            )
        else:
            row = conn.execute(
                "UPDATE stories SET state = ?, seq = ?, published_first = ?, published_last = ?, ingested_first = ?,"
                " ingested_last = ? WHERE story_id = ? RETURNING n",
                (state_to_json(state), seq, *_date_range(state), state.story_id),
            ).fetchone()
            number = int(row[0])
        self._cache.put(state.story_id, seq, state)
        # One statement each, the rows unpacked by SQLite (json_each), not bound one by one.
        last = latest_day(state)
        last_day = NO_DAY if last is None else last.isoformat()
        if not assignment.founded:  # a member may have moved the story's latest date
            conn.execute(
                "UPDATE story_keys SET last_day = ? WHERE story_id = ? AND last_day <> ?",
                (last_day, state.story_id, last_day),
            )
        conn.execute(
            "INSERT OR IGNORE INTO story_keys (key, story_id, last_day) SELECT value, ?, ? FROM json_each(?)",
            (state.story_id, last_day, orjson.dumps(sorted(f.entities | f.places)).decode()),
        )
        conn.execute(
            "INSERT OR IGNORE INTO story_text_shingles (shingle, story) SELECT value, ? FROM json_each(?)",
            (number, _sorted_json_array(f.text_shingles)),
        )
        conn.execute("INSERT INTO assignments (article_id, story_id) VALUES (?, ?)", (f.article_id, state.story_id))
        self._known[f.article_id] = state.story_id  # the same article again later in this batch
        # Document frequencies are written once per batch (_write_doc_freq): the batch's articles share
        # most of their common terms, so the table takes a fraction of the rows. This transaction holds
        # the write lock and doc_freq() brought the cache up to date just before, so no other writer's
        # change lies between: the cache takes this article's counts directly.
        self._pending_df.update(f.terms.keys())
        self._pending_seq = seq
        self._doc_freq_cache.count_own(f.terms, seq)
        self._bump("n_docs")

    def _write_doc_freq(self) -> None:
        """The batch's document-frequency counts, one row per term, stamped with the batch's last sequence
        value (other writers' DocFreqCache applies every row changed after their watermark)."""
        if not self._pending_df:
            return
        self._conn.execute(
            "INSERT INTO doc_freq (term, df, seq) SELECT key, value, ? FROM json_each(?) WHERE true"
            " ON CONFLICT(term) DO UPDATE SET df = df + excluded.df, seq = excluded.seq",
            (self._pending_seq, orjson.dumps(self._pending_df, option=orjson.OPT_SORT_KEYS).decode()),
        )
        self._pending_df.clear()

    def _next_seq(self) -> int:
        return self._bump("seq")

    def _bump(self, key: str) -> int:
        """The counter ``key`` plus one (written at the batch's end, inside its transaction)."""
        value = self._counters[key] = self._counters.get(key, 0) + 1
        return value

    def quote_hits(self, quote_shingles: frozenset[int], window: OpenWindow) -> Mapping[str, int]:
        hits: dict[str, int] = {}
        if not quote_shingles:
            return hits
        rows: list[tuple[str, int, int]] = self._conn.execute(
            "SELECT st.story_id, st.seq, sh.hits FROM (SELECT story, COUNT(*) AS hits FROM story_text_shingles"
            f" WHERE shingle IN {_JSON_LIST} GROUP BY story) sh"
            # The covering index: the table's row would be read past the state to its date columns.
            f" JOIN stories st INDEXED BY stories_window_by_n ON st.n = sh.story WHERE {_OPEN}",
            (_sorted_json_array(quote_shingles), *_window(window)),
        ).fetchall()
        for story_id, seq, n in rows:
            hits[story_id] = n
            self._candidate_seqs[story_id] = seq
        return hits

    def stories_with_keys(self, keys: frozenset[str], window: OpenWindow) -> set[str]:
        if not keys:
            return set()
        # (TEXT, INTEGER) columns: sqlite3 returns them as str and int, no conversion needed.
        rows: dict[str, int] = dict(
            self._conn.execute(
                # A semi-join: each story once, without DISTINCT's temporary b-tree over (key, story) pairs.
                "SELECT st.story_id, st.seq FROM stories st INDEXED BY stories_window_by_id WHERE st.story_id IN"
                f" (SELECT story_id FROM story_keys INDEXED BY story_keys_by_day WHERE key IN {_JSON_LIST}"
                f" AND last_day >= ?) AND {_OPEN}",
                (orjson.dumps(sorted(keys)).decode(), window.latest_at_least.isoformat(), *_window(window)),
            ).fetchall()
        )
        self._candidate_seqs.update(rows)
        return set(rows)

    def recent_states(self, story_ids: set[str], limit: int) -> list[StoryState]:
        # The update sequence of the candidates the two lookups above found came with them (same
        # transaction, so still current); only ids from elsewhere are asked for.
        known, self._candidate_seqs = self._candidate_seqs, {}
        ranked: list[tuple[str, int]] = [(i, known[i]) for i in story_ids if i in known]
        id_list = sorted(i for i in story_ids if i not in known)
        for i in range(0, len(id_list), 500):
            chunk = id_list[i : i + 500]
            marks = ",".join("?" * len(chunk))
            ranked += [
                (str(story_id), int(seq))
                for story_id, seq in self._conn.execute(
                    f"SELECT story_id, seq FROM stories WHERE story_id IN ({marks})", chunk
                )
            ]
        ranked.sort(key=lambda x: (-x[1], x[0]))
        ranked = ranked[:limit]
        stale = self._cache.stale(ranked)
        for i in range(0, len(stale), 500):
            chunk = stale[i : i + 500]
            marks = ",".join("?" * len(chunk))
            for story_id, seq, state in self._conn.execute(
                f"SELECT story_id, seq, state FROM stories WHERE story_id IN ({marks})", chunk
            ):
                self._cache.put(str(story_id), int(seq), state_from_json(str(story_id), str(state)))
        return [self._cache.get(story_id) for story_id, _seq in ranked]

    def doc_freq(self, terms: set[str]) -> tuple[Mapping[str, int], int]:
        cache = self._doc_freq_cache
        if cache.watermark is None:
            row = self._conn.execute("SELECT coalesce(max(seq), 0) FROM doc_freq").fetchone()
            cache.start(int(row[0]) if row else 0)
        elif not (self._in_batch and self._caught_up):  # no other writer's change comes while a batch holds the lock
            cache.apply(
                (str(t), int(df), int(seq))
                for t, df, seq in self._conn.execute(
                    "SELECT term, df, seq FROM doc_freq WHERE seq > ?", (cache.watermark,)
                )
            )
        missing = cache.missing(terms)
        found: dict[str, int] = (
            dict(
                self._conn.execute(
                    f"SELECT term, df FROM doc_freq WHERE term IN {_JSON_LIST}", (orjson.dumps(missing).decode(),)
                )
            )
            if missing
            else {}
        )
        pending = self._pending_df
        for term in missing:
            if term in pending:  # counted by this batch, not written yet
                found[term] = found.get(term, 0) + pending[term]
        cache.fill(missing, found)
        self._caught_up = True
        if self._in_batch:
            return cache.frequencies, self._counters.get("n_docs", 0)
        row = self._conn.execute("SELECT value FROM meta WHERE key = 'n_docs'").fetchone()
        return cache.frequencies, int(row[0]) if row else 0
