"""The shared Postgres adapter of the stages that keep state there besides the store (enrich's story
state, ingest's ledger): one place for connecting, mapping connection faults to ``TransientError``,
and applying a stage's own migrations.

Each stage owns its SQL (``services/<stage>/migrations/NNNN_name.sql``); they are recorded in the
store's ``schema_migrations`` table as ``<stage>/NNNN_name`` under the store's migration lock, so any
stage may start first and several replicas starting at once apply each file exactly once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from typing import TypeVar

import psycopg

from services.runtime.errors import TransientError

log = logging.getLogger(__name__)

# The same key as the store's migrations: every newsflow schema change is serialised.
MIGRATION_LOCK_KEY = 0x6E657773

Connection = psycopg.Connection[tuple[object, ...]]
T = TypeVar("T")


def stage_migrations(package: str, scope: str) -> list[tuple[str, str]]:
    """(version, sql) of ``<package>/migrations/*.sql`` in name order, versions prefixed by ``scope/``."""
    folder = resources.files(package) / "migrations"
    files = sorted((e for e in folder.iterdir() if e.name.endswith(".sql")), key=lambda e: e.name)
    return [(f"{scope}/{e.name.removesuffix('.sql')}", e.read_text(encoding="utf-8")) for e in files]


def apply_migrations(conn: Connection, migrations: list[tuple[str, str]]) -> list[str]:
    """Apply the ``(version, sql)`` not yet in ``schema_migrations``, in order, in one transaction under
    the migration lock (several processes may start at once); return the versions applied."""
    applied: list[str] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
        for version, sql in migrations:
            if version not in done:
                conn.execute(sql.encode("utf-8"))
                conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (version,))
                applied.append(version)
    for version in applied:
        log.info("applied migration", extra={"version": version})
    return applied


class PostgresConnection:
    """One lazily (re)opened connection. A connection-level fault closes it and raises ``TransientError``,
    so the caller backs off and the next call reconnects; anything else propagates unchanged."""

    def __init__(self, database_url: str, *, application_name: str) -> None:
        self._url = database_url
        self._application_name = application_name
        self._conn: Connection | None = None

    def _connection(self) -> Connection:
        if self._conn is None or self._conn.closed:
            try:
                self._conn = psycopg.connect(
                    self._url, autocommit=False, connect_timeout=10, application_name=self._application_name
                )
            except psycopg.OperationalError as exc:
                raise TransientError(f"cannot connect to Postgres: {exc}") from exc
        return self._conn

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A transaction; commits on success, rolls back on any exception."""
        conn = self._connection()
        try:
            with conn.transaction():
                yield conn
        except psycopg.OperationalError as exc:
            self.close()
            raise TransientError(f"Postgres transaction failed: {exc}") from exc

    def run(self, work: Callable[[Connection], T]) -> T:
        with self.transaction() as conn:
            return work(conn)

    def migrate(self, migrations: list[tuple[str, str]]) -> list[str]:
        """Apply the pending ``migrations`` (from ``stage_migrations``); return the versions applied."""
        try:
            return apply_migrations(self._connection(), migrations)
        except psycopg.OperationalError as exc:
            self.close()
            raise TransientError(f"Postgres migration failed: {exc}") from exc

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
