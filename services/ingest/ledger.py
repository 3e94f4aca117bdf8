"""Ingest's durable memory: which object versions are done, the near-duplicate signatures and the S3
listing checkpoint. An object version is marked done only after everything it produced was
acknowledged by Kafka, so a crash re-reads it (at-least-once, keyed) and never forgets it.

``IngestLedger`` is the port; ``Ledger`` here is the SQLite adapter (one ingest process, the local
stack), ``services.ingest.postgres_ledger.PostgresLedger`` the one several replicas share."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from services.ingest.dedup import SignatureStore, StoredSignature
from services.ingest.sources import ObjectVersion


@dataclass(frozen=True)
class DoneVersion:
    uri: str
    version: str
    article_ids: list[str]
    dead_letter_ids: list[str]


class IngestLedger(SignatureStore, Protocol):
    """Also the near-duplicate index's store: replicas sharing a ledger see each other's articles at once."""

    def claim(self, versions: Sequence[ObjectVersion]) -> list[ObjectVersion]:
        """The versions this process should handle now: not done, and not being handled elsewhere."""
        ...

    def is_done(self, uri: str, version: str) -> bool:
        """Whether this version was handled already (by any process sharing the ledger)."""
        ...

    def content_done(self, uri: str, sha256: str) -> bool: ...

    def mark_done(
        self,
        uri: str,
        version: str,
        sha256: str | None,
        outcome: str,
        article_ids: list[str],
        dead_letter_ids: list[str],
    ) -> None: ...

    def checkpoint(self, name: str) -> str | None: ...

    def save_checkpoint(self, name: str, value: str) -> None: ...

    def close(self) -> None: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS object_versions (
    uri TEXT NOT NULL,
    version TEXT NOT NULL,
    sha256 TEXT,
    outcome TEXT NOT NULL,
    article_ids TEXT NOT NULL,
    dead_letter_ids TEXT NOT NULL,
    done_at REAL NOT NULL,
    PRIMARY KEY (uri, version)
);
CREATE INDEX IF NOT EXISTS object_versions_content ON object_versions (uri, sha256);
CREATE TABLE IF NOT EXISTS signatures (
    article_id TEXT PRIMARY KEY,
    signature BLOB NOT NULL,
    added_at REAL NOT NULL
);
-- LSH band keys of each signature (services/ingest/dedup.py): candidates for a near-duplicate lookup.
-- Keyed by (band, position): a lookup reads each band's earliest candidates from the index, never all of
-- them (a flood of near copies shares every band).
CREATE TABLE IF NOT EXISTS signature_bands (
    band_key INTEGER NOT NULL,
    position INTEGER NOT NULL,  -- the signature's rowid
    article_id TEXT NOT NULL,
    PRIMARY KEY (band_key, position)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_BAND_SCHEME = "near-duplicate band scheme"


class Ledger:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def claim(self, versions: Sequence[ObjectVersion]) -> list[ObjectVersion]:
        # One process owns a SQLite ledger: everything not done is its to handle.
        return [v for v in versions if not self.is_done(v.uri, v.version)]

    def is_done(self, uri: str, version: str) -> bool:
        row = self._db.execute("SELECT 1 FROM object_versions WHERE uri = ? AND version = ?", (uri, version)).fetchone()
        return row is not None

    def content_done(self, uri: str, sha256: str) -> bool:
        """The same bytes at the same place were already handled (a touch, or a copy over itself)."""
        row = self._db.execute("SELECT 1 FROM object_versions WHERE uri = ? AND sha256 = ?", (uri, sha256)).fetchone()
        return row is not None

    def mark_done(
        self,
        uri: str,
        version: str,
        sha256: str | None,
        outcome: str,
        article_ids: list[str],
        dead_letter_ids: list[str],
    ) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO object_versions"
            " (uri, version, sha256, outcome, article_ids, dead_letter_ids, done_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (uri, version, sha256, outcome, json.dumps(article_ids), json.dumps(dead_letter_ids), time.time()),
        )

    def done_versions(self) -> Iterator[DoneVersion]:
        rows = self._db.execute("SELECT uri, version, article_ids, dead_letter_ids FROM object_versions").fetchall()
        for uri, version, article_ids, dead_letter_ids in rows:
            yield DoneVersion(str(uri), str(version), json.loads(article_ids), json.loads(dead_letter_ids))

    def forget(self, uri: str, version: str) -> None:
        """Make a version new again, so the next scan reads and publishes it once more."""
        self._db.execute("DELETE FROM object_versions WHERE uri = ? AND version = ?", (uri, version))

    def add_signature(self, article_id: str, signature: bytes, band_keys: Sequence[int]) -> None:
        with self._transaction():
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO signatures (article_id, signature, added_at) VALUES (?, ?, ?)",
                (article_id, signature, time.time()),
            )
            if cursor.rowcount:
                self._insert_bands(int(cursor.lastrowid or 0), article_id, band_keys)

    def _insert_bands(self, position: int, article_id: str, band_keys: Sequence[int]) -> None:
        self._db.executemany(
            "INSERT OR IGNORE INTO signature_bands (band_key, position, article_id) VALUES (?, ?, ?)",
            [(key, position, article_id) for key in band_keys],
        )

    def signatures_sharing(self, band_keys: Sequence[int], after: int, limit: int) -> list[StoredSignature]:
        if not band_keys:
            return []
        # The earliest `limit` candidates overall are among the earliest `limit` of each band: one index
        # range per band, however many articles share it.
        per_band = " UNION ALL ".join(
            [
                "SELECT * FROM (SELECT position FROM signature_bands WHERE band_key = ? AND position > ?"
                " ORDER BY position LIMIT ?)"
            ]
            * len(band_keys)
        )
        rows = self._db.execute(
            f"SELECT s.rowid, s.article_id, s.signature FROM (SELECT DISTINCT position FROM ({per_band})"
            " ORDER BY position LIMIT ?) c JOIN signatures s ON s.rowid = c.position ORDER BY s.rowid",
            [*(value for key in band_keys for value in (key, after, limit)), limit],
        ).fetchall()
        return [StoredSignature(str(article_id), bytes(signature), int(rowid)) for rowid, article_id, signature in rows]

    def band_scheme(self) -> str | None:
        return self.checkpoint(_BAND_SCHEME)

    def rebuild_bands(self, scheme: str, band_keys: Callable[[bytes], list[int]]) -> int:
        with self._transaction():
            self._db.execute("DELETE FROM signature_bands")
            rows = self._db.execute("SELECT rowid, article_id, signature FROM signatures").fetchall()
            for position, article_id, signature in rows:
                self._insert_bands(int(position), str(article_id), band_keys(bytes(signature)))
            self.save_checkpoint(_BAND_SCHEME, scheme)
        return len(rows)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        # Autocommit otherwise: one fsync for a signature and its band keys, not one per row.
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def checkpoint(self, name: str) -> str | None:
        row = self._db.execute("SELECT value FROM checkpoints WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def save_checkpoint(self, name: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO checkpoints (name, value) VALUES (?, ?)", (name, value))

    def close(self) -> None:
        self._db.close()
