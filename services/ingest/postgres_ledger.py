"""Ingest's ledger in Postgres, shared by several ingest replicas over one bucket (ingest's own SQL;
the connection and its faults are ``services.runtime.postgres``).

Replicas divide the objects by leasing them: ``claim`` takes, in one statement, every listed version
that is not done and not leased by a live replica, for ``lease``. Two replicas listing the same bucket
at once each get a disjoint share (the primary key serialises the claims), and versions leased by a
replica that died are claimed again once the lease has run out. A lease that runs out while its owner
is still working (a very slow batch) only costs a second read: events are keyed and downstream upserts.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import uuid
from collections.abc import Callable, Sequence

from psycopg.types.json import Jsonb

from services.ingest.dedup import StoredSignature
from services.ingest.ledger import DoneVersion
from services.ingest.sources import ObjectVersion
from services.runtime.postgres import PostgresConnection, stage_migrations

_BAND_SCHEME = "near-duplicate band scheme"
_INSERT_BANDS = (
    "INSERT INTO ingest_signature_bands (band_key, seq, article_id)"
    " SELECT k, %s, %s FROM unnest(%s::bigint[]) AS t(k) ON CONFLICT DO NOTHING"
)


def migrations() -> list[tuple[str, str]]:
    return stage_migrations("services.ingest", "ingest")


class PostgresLedger:
    def __init__(self, database_url: str, *, lease: dt.timedelta, owner: str | None = None) -> None:
        self._db = PostgresConnection(database_url, application_name="newsflow-ingest")
        self._lease = lease
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def migrate(self) -> list[str]:
        return self._db.migrate(migrations())

    def claim(self, versions: Sequence[ObjectVersion]) -> list[ObjectVersion]:
        if not versions:
            return []
        with self._db.transaction() as conn:
            rows = conn.execute(
                """
                INSERT INTO ingest_objects (uri, version, owner, lease_until)
                SELECT u, v, %(owner)s, now() + %(lease)s FROM unnest(%(uris)s::text[], %(versions)s::text[]) AS t(u, v)
                ON CONFLICT (uri, version) DO UPDATE SET owner = EXCLUDED.owner, lease_until = EXCLUDED.lease_until
                WHERE ingest_objects.done_at IS NULL
                  AND (ingest_objects.lease_until < now() OR ingest_objects.owner = EXCLUDED.owner)
                RETURNING uri, version
                """,
                {
                    "owner": self.owner,
                    "lease": self._lease,
                    "uris": [v.uri for v in versions],
                    "versions": [v.version for v in versions],
                },
            ).fetchall()
        claimed = {(str(u), str(v)) for u, v in rows}
        return [v for v in versions if (v.uri, v.version) in claimed]

    def is_done(self, uri: str, version: str) -> bool:
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT 1 FROM ingest_objects WHERE uri = %s AND version = %s AND done_at IS NOT NULL", (uri, version)
            ).fetchone()
        return row is not None

    def content_done(self, uri: str, sha256: str) -> bool:
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT 1 FROM ingest_objects WHERE uri = %s AND sha256 = %s AND done_at IS NOT NULL", (uri, sha256)
            ).fetchone()
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
        with self._db.transaction() as conn:
            conn.execute(
                """
                INSERT INTO ingest_objects (uri, version, owner, lease_until, sha256, outcome, article_ids,
                    dead_letter_ids, done_at)
                VALUES (%s, %s, %s, now(), %s, %s, %s, %s, now())
                ON CONFLICT (uri, version) DO UPDATE SET owner = EXCLUDED.owner, sha256 = EXCLUDED.sha256,
                    outcome = EXCLUDED.outcome, article_ids = EXCLUDED.article_ids,
                    dead_letter_ids = EXCLUDED.dead_letter_ids, done_at = EXCLUDED.done_at
                """,
                (uri, version, self.owner, sha256, outcome, Jsonb(article_ids), Jsonb(dead_letter_ids)),
            )

    def done_versions(self) -> list[DoneVersion]:
        with self._db.transaction() as conn:
            rows = conn.execute(
                "SELECT uri, version, article_ids, dead_letter_ids FROM ingest_objects WHERE done_at IS NOT NULL"
            ).fetchall()
        return [DoneVersion(str(u), str(v), list(a or []), list(d or [])) for u, v, a, d in rows]  # type: ignore[call-overload]

    def forget(self, uri: str, version: str) -> None:
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM ingest_objects WHERE uri = %s AND version = %s", (uri, version))

    def add_signature(self, article_id: str, signature: bytes, band_keys: Sequence[int]) -> None:
        with self._db.transaction() as conn:
            row = conn.execute(
                "INSERT INTO ingest_signatures (article_id, signature) VALUES (%s, %s) ON CONFLICT DO NOTHING"
                " RETURNING seq",
                (article_id, signature),
            ).fetchone()
            if row is not None:
                conn.execute(_INSERT_BANDS, (int(str(row[0])), article_id, list(band_keys)))

    def signatures_sharing(self, band_keys: Sequence[int], after: int, limit: int) -> list[StoredSignature]:
        with self._db.transaction() as conn:
            # The earliest `limit` candidates overall are among the earliest `limit` of each band: one index
            # range per band (LATERAL), however many articles share it.
            rows = conn.execute(
                """
                SELECT s.seq, s.article_id, s.signature
                FROM (
                    SELECT DISTINCT c.seq FROM unnest(%s::bigint[]) AS k(key)
                    CROSS JOIN LATERAL (
                        SELECT seq FROM ingest_signature_bands WHERE band_key = k.key AND seq > %s
                        ORDER BY seq LIMIT %s
                    ) c
                    ORDER BY c.seq LIMIT %s
                ) c
                JOIN ingest_signatures s ON s.seq = c.seq
                ORDER BY s.seq
                """,
                (list(band_keys), after, limit, limit),
            ).fetchall()
        return [StoredSignature(str(a), bytes(s), int(str(q))) for q, a, s in rows]  # type: ignore[call-overload]

    def band_scheme(self) -> str | None:
        return self.checkpoint(_BAND_SCHEME)

    def rebuild_bands(self, scheme: str, band_keys: Callable[[bytes], list[int]]) -> int:
        with self._db.transaction() as conn:
            # Replicas starting together: one rebuilds, the others find the scheme recorded and do nothing.
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('newsflow ingest signature bands'))")
            row = conn.execute("SELECT value FROM ingest_checkpoints WHERE name = %s", (_BAND_SCHEME,)).fetchone()
            if row is not None and str(row[0]) == scheme:
                return 0
            conn.execute("DELETE FROM ingest_signature_bands")
            rows = conn.execute("SELECT seq, article_id, signature FROM ingest_signatures").fetchall()
            for seq, article_id, signature in rows:
                conn.execute(_INSERT_BANDS, (int(str(seq)), str(article_id), band_keys(bytes(signature))))  # type: ignore[call-overload]
            conn.execute(
                "INSERT INTO ingest_checkpoints (name, value) VALUES (%s, %s)"
                " ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
                (_BAND_SCHEME, scheme),
            )
        return len(rows)

    def checkpoint(self, name: str) -> str | None:
        with self._db.transaction() as conn:
            row = conn.execute("SELECT value FROM ingest_checkpoints WHERE name = %s", (name,)).fetchone()
        return None if row is None else str(row[0])

    def save_checkpoint(self, name: str, value: str) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO ingest_checkpoints (name, value) VALUES (%s, %s)"
                " ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
                (name, value),
            )

    def close(self) -> None:
        self._db.close()
