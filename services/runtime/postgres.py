"""The shared Postgres adapter of the stages that keep state there besides the store (enrich's story
state, ingest's ledger): one place for connecting, mapping connection faults to ``TransientError``,
and applying a stage's own migrations.

Each stage owns its SQL (``services/<stage>/migrations/NNNN_name.sql``); they are recorded in the
store's ``schema_migrations`` table as ``<stage>/NNNN_name`` under the store's migration lock, so any
stage may start first and several replicas starting at once apply each file exactly once.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from typing import TypeVar

import psycopg

from services.runtime.errors import ConfigurationError, TransientError

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


# The password of a URL (scheme://user:password@host, or a mistyped scheme) or of a keyword DSN
# (password=...), even when the rest of the string does not parse.
_URL_PASSWORD = re.compile(r"(?P<user>[^\s/:@\"']*):(?P<password>[^@\s\"']*)@")
_KEYWORD_PASSWORD = re.compile(r"password\s*=\s*(?P<password>'(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)
_SSL_MODES = frozenset({"disable", "allow", "prefer", "require", "verify-ca", "verify-full"})
_PORTS = re.compile(r"^\d{1,5}(?:,\d{1,5})*$")


def redact(text: str, database_url: str) -> str:
    """``text`` (an error message, a log line) with the password of ``database_url`` removed, however
    malformed the URL is: every occurrence of the password, then any password-shaped part left."""
    secrets = {m.group("password") for m in _URL_PASSWORD.finditer(database_url)}
    secrets |= {m.group("password").strip("'") for m in _KEYWORD_PASSWORD.finditer(database_url)}
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    text = _URL_PASSWORD.sub(lambda m: f"{m.group('user')}:***@", text)
    return _KEYWORD_PASSWORD.sub("password=***", text).strip()


def _checked(database_url: str) -> None:
    """Refuse, before any connection attempt, what would otherwise be retried forever as if the server
    were down: a string that does not parse, a port that is not a number, an unknown sslmode."""
    try:
        options = psycopg.conninfo.conninfo_to_dict(database_url)
    except psycopg.ProgrammingError as exc:
        raise ConfigurationError(
            f"DATABASE_URL is not a valid connection string: {redact(str(exc), database_url)}"
        ) from None
    port = options.get("port")
    if port is not None and not _PORTS.match(str(port)):
        raise ConfigurationError(f"DATABASE_URL has a port that is not a number: {redact(str(port), database_url)}")
    sslmode = options.get("sslmode")
    if sslmode is not None and str(sslmode) not in _SSL_MODES:
        raise ConfigurationError(f"DATABASE_URL has an unknown sslmode: {redact(str(sslmode), database_url)}")


def connect(database_url: str, **options: object) -> Connection:
    """``psycopg.connect`` with newsflow's error vocabulary and no secret in any message: a URL that
    cannot work is a ``ConfigurationError``, a server that cannot be reached a ``TransientError``.
    Neither chains psycopg's exception, whose text may quote the whole URL."""
    _checked(database_url)
    try:
        conn: Connection = psycopg.connect(database_url, **options)  # type: ignore[arg-type]
    except psycopg.ProgrammingError as exc:
        raise ConfigurationError(
            f"DATABASE_URL is not a valid connection string: {redact(str(exc), database_url)}"
        ) from None
    except psycopg.OperationalError as exc:
        raise TransientError(f"cannot connect to Postgres: {redact(str(exc), database_url)}") from None
    return conn


class PostgresConnection:
    """One lazily (re)opened connection. A connection-level fault closes it and raises ``TransientError``,
    so the caller backs off and the next call reconnects; anything else propagates unchanged."""

    def __init__(self, database_url: str, *, application_name: str) -> None:
        self._url = database_url
        self._application_name = application_name
        self._conn: Connection | None = None

    def _connection(self) -> Connection:
        if self._conn is None or self._conn.closed:
            self._conn = connect(
                self._url, autocommit=False, connect_timeout=10, application_name=self._application_name
            )
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
            raise TransientError(f"Postgres transaction failed: {redact(str(exc), self._url)}") from exc

    def run(self, work: Callable[[Connection], T]) -> T:
        with self.transaction() as conn:
            return work(conn)

    def migrate(self, migrations: list[tuple[str, str]]) -> list[str]:
        """Apply the pending ``migrations`` (from ``stage_migrations``); return the versions applied."""
        try:
            return apply_migrations(self._connection(), migrations)
        except psycopg.OperationalError as exc:
            self.close()
            raise TransientError(f"Postgres migration failed: {redact(str(exc), self._url)}") from exc

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
