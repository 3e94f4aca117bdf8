"""The only module that touches sqlite: persistent story state for the streaming clusterer.

Safe for several processes on one host: WAL journal (readers never block the writer), a busy timeout,
and every assignment runs inside ``BEGIN IMMEDIATE`` so two processes cannot both found a story for
the same event or lose each other's centroid updates. State survives restarts because it is only ever
changed inside committed transactions; an article seen again (Kafka redelivery) gets its recorded
story back without changing anything.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import time
from collections import Counter
from pathlib import Path
from typing import Any

from services.enrich.stories import (
    MAX_CANDIDATES,
    Decision,
    StoryFeatures,
    StoryState,
    choose_story,
    idf_function,
    merge,
    new_story,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS stories (
    story_id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    state TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS story_keys (
    key TEXT NOT NULL,
    story_id TEXT NOT NULL,
    PRIMARY KEY (key, story_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS story_shingles (
    shingle INTEGER NOT NULL,
    story_id TEXT NOT NULL,
    PRIMARY KEY (shingle, story_id)
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


def _state_to_json(s: StoryState) -> str:
    return json.dumps(
        {
            "published_first": _iso(s.published_first),
            "published_last": _iso(s.published_last),
            "ingested_first": _iso(s.ingested_first),
            "ingested_last": _iso(s.ingested_last),
            "n_articles": s.n_articles,
            "years": sorted(s.years),
            "event_dates": sorted(s.event_dates),
            "entities": dict(sorted(s.entities.items())),
            "places": dict(sorted(s.places.items())),
            "terms": dict(sorted(s.terms.items())),
            "quote_shingles": sorted(s.quote_shingles),
        },
        separators=(",", ":"),
    )


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None


def _date(raw: Any) -> dt.date | None:
    return dt.date.fromisoformat(raw) if raw else None


def _state_from_json(story_id: str, raw: str) -> StoryState:
    d: dict[str, Any] = json.loads(raw)
    if "first_day" in d:
        # Earlier format: one range, publication dates only when every member had one.
        kind = "published" if d.get("days_published") else "ingested"
        d[f"{kind}_first"], d[f"{kind}_last"] = d["first_day"], d["last_day"]
    return StoryState(
        story_id=story_id,
        published_first=_date(d.get("published_first")),
        published_last=_date(d.get("published_last")),
        ingested_first=_date(d.get("ingested_first")),
        ingested_last=_date(d.get("ingested_last")),
        n_articles=int(d["n_articles"]),
        years=set(d["years"]),
        event_dates=set(d["event_dates"]),
        entities=Counter(d["entities"]),
        places=Counter(d["places"]),
        terms={k: float(v) for k, v in d["terms"].items()},
        # Earlier states held word trigrams as strings; they cannot match hashed 4-grams.
        quote_shingles={int(h) for h in d.get("quote_shingles", []) if isinstance(h, int)},
    )


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
        self._conn.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
        self._conn.executescript(_SCHEMA)

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
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            known = conn.execute(
                "SELECT story_id FROM assignments WHERE article_id = ?", (features.article_id,)
            ).fetchone()
            if known is not None:
                conn.execute("COMMIT")
                return Decision(story_id=str(known[0]), joined=True, score=1.0)
            hits = self._quote_hits(features)
            candidates = self._candidates(features, set(hits))
            # Document frequencies for every term either side of a comparison uses: the article's and the
            # candidate centroids' (a story term missing here would get the maximum IDF and skew norms).
            terms = set(features.terms)
            for c in candidates:
                terms.update(c.terms)
            idf = idf_function(self._doc_freq(terms), self._meta("n_docs"))
            decision = choose_story(features, candidates, idf, hits)
            if decision.joined:
                state = next(s for s in candidates if s.story_id == decision.story_id)
                merge(state, features)
                conn.execute(
                    "UPDATE stories SET state = ?, seq = ? WHERE story_id = ?",
                    (_state_to_json(state), self._next_seq(), state.story_id),
                )
            else:
                state = new_story(features, decision.story_id)
                conn.execute(
                    "INSERT INTO stories (story_id, seq, state) VALUES (?, ?, ?)",
                    (state.story_id, self._next_seq(), _state_to_json(state)),
                )
            conn.executemany(
                "INSERT OR IGNORE INTO story_keys (key, story_id) VALUES (?, ?)",
                [(k, state.story_id) for k in sorted(features.entities | features.places)],
            )
            conn.executemany(
                "INSERT OR IGNORE INTO story_shingles (shingle, story_id) VALUES (?, ?)",
                [(h, state.story_id) for h in sorted(features.text_shingles)],
            )
            conn.execute(
                "INSERT INTO assignments (article_id, story_id) VALUES (?, ?)",
                (features.article_id, decision.story_id),
            )
            conn.executemany(
                "INSERT INTO doc_freq (term, df) VALUES (?, 1) ON CONFLICT(term) DO UPDATE SET df = df + 1",
                [(t,) for t in sorted(features.terms)],
            )
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('n_docs', 1) ON CONFLICT(key) DO UPDATE SET value = value + 1"
            )
            conn.execute("COMMIT")
            return decision
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _meta(self, key: str) -> int:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return int(row[0]) if row else 0

    def _next_seq(self) -> int:
        seq = self._meta("seq") + 1
        self._conn.execute(
            "INSERT INTO meta (key, value) VALUES ('seq', ?) ON CONFLICT(key) DO UPDATE SET value = ?",
            (seq, seq),
        )
        return seq

    def _quote_hits(self, features: StoryFeatures) -> dict[str, int]:
        """Per story, how many of the article's quote 4-grams occur in its members' texts."""
        hits: dict[str, int] = {}
        quoted = sorted(features.quote_shingles)
        for i in range(0, len(quoted), 500):
            chunk = quoted[i : i + 500]
            marks = ",".join("?" * len(chunk))
            for story_id, n in self._conn.execute(
                f"SELECT story_id, COUNT(*) FROM story_shingles WHERE shingle IN ({marks}) GROUP BY story_id",
                chunk,
            ):
                hits[str(story_id)] = hits.get(str(story_id), 0) + int(n)
        return hits

    def _candidates(self, features: StoryFeatures, ids: set[str]) -> list[StoryState]:
        """Stories sharing an entity or place id or echoing a quote (``ids``), most recently updated
        first (bounded)."""
        keys = sorted(features.entities | features.places)
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            marks = ",".join("?" * len(chunk))
            ids.update(
                r[0]
                for r in self._conn.execute(f"SELECT DISTINCT story_id FROM story_keys WHERE key IN ({marks})", chunk)
            )
        if not ids:
            return []
        out: list[tuple[int, StoryState]] = []
        id_list = sorted(ids)
        for i in range(0, len(id_list), 500):
            chunk = id_list[i : i + 500]
            marks = ",".join("?" * len(chunk))
            for story_id, seq, state in self._conn.execute(
                f"SELECT story_id, seq, state FROM stories WHERE story_id IN ({marks})", chunk
            ):
                out.append((int(seq), _state_from_json(str(story_id), str(state))))
        out.sort(key=lambda x: (-x[0], x[1].story_id))
        return [s for _seq, s in out[:MAX_CANDIDATES]]

    def _doc_freq(self, wanted: set[str]) -> dict[str, int]:
        terms = sorted(wanted)
        out: dict[str, int] = {}
        for i in range(0, len(terms), 500):
            chunk = terms[i : i + 500]
            marks = ",".join("?" * len(chunk))
            for term, df in self._conn.execute(f"SELECT term, df FROM doc_freq WHERE term IN ({marks})", chunk):
                out[str(term)] = int(df)
        return out
