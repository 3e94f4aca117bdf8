"""Waiting on a pipeline of service processes and reading Postgres, shared by the end-to-end tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import psycopg

from services.localstack import ServiceProcess


def pipeline_env(home: Path, inbox: Path, bootstrap_servers: str, database_url: str) -> dict[str, str]:
    """The environment of a pipeline whose services run as processes: its home, inbox, broker and
    database, with short poll and scan intervals so a test does not wait on defaults meant for production."""
    return {
        "NEWSFLOW_HOME": str(home),
        "INGEST_INBOX": str(inbox),
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers,
        "DATABASE_URL": database_url,
        "KAFKA_POLL_TIMEOUT_MS": "200",
        "INGEST_SETTLE_SECONDS": "0.3",
        "INGEST_SCAN_INTERVAL_SECONDS": "1",
    }


def rows(database_url: str, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(sql, params).fetchall()


def scalar(database_url: str, sql: str) -> int:
    found = rows(database_url, sql)
    assert found, f"no row from {sql}"
    return int(str(found[0][0]))


def wait_for(predicate: Callable[[], bool], services: list[ServiceProcess], timeout_s: float = 240) -> None:
    """Poll until ``predicate`` holds, failing at once if one of ``services`` died."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert all(s.running() for s in services), "a service died"
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError("not reached in time")
