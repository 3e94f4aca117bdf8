"""Shared fixtures: a real Tansu broker and a real PostgreSQL (embedded, or ``DATABASE_URL``).

Postgres starts once per session and each test gets its own database; each test gets its own broker,
so tests never see each other's data.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from services.localstack import EmbeddedBroker, EmbeddedPostgres

REPO_ROOT = Path(__file__).resolve().parents[1]
SEEDS = REPO_ROOT.parent / "shared" / "seeds"
SHARED_EVAL = REPO_ROOT.parent / "shared" / "eval"


@pytest.fixture(scope="session")
def shared_eval() -> Path:
    """The real public dev sets (``../shared/eval``), read at test time and never copied here.

    Absent outside CI the eval test is skipped; absent under CI (``CI=true``) it fails, so a CI run
    can never pass a quality gate by not running it.
    """
    if not (SHARED_EVAL / "score.py").is_file():
        message = f"the shared dev sets are missing: expected {SHARED_EVAL}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return SHARED_EVAL


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    """A fresh in-memory broker per test (Tansu starts in milliseconds), so topics are always empty."""
    broker = EmbeddedBroker(tmp_path / "broker.log")
    yield broker
    broker.kill()


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    url = os.environ.get("DATABASE_URL")
    if url:
        yield url
        return
    # Not under pytest's basetemp: a concurrent pytest run prunes old basetemps, which would delete
    # the data directory of a server that is still running.
    with tempfile.TemporaryDirectory(prefix="newsflow-test-pg-") as folder:
        postgres = EmbeddedPostgres(Path(folder) / "pgdata")
        yield postgres.database_url
        postgres.stop()


@pytest.fixture
def database_url(postgres_admin_url: str) -> Iterator[str]:
    """A fresh, empty database for one test, dropped afterwards."""
    name = f"newsflow_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    info = psycopg.conninfo.conninfo_to_dict(postgres_admin_url)
    info["dbname"] = name
    yield psycopg.conninfo.make_conninfo(**info)
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def namespace() -> str:
    """A unique suffix for consumer groups and homes in one test."""
    return uuid.uuid4().hex[:10]


def _npm_ci(folder: Path) -> None:
    """``npm ci`` unless the folder's node_modules already matches its lock file (bootstrap ran it)."""
    installed = folder / "node_modules" / ".package-lock.json"
    lock = folder / "package-lock.json"
    if installed.exists() and installed.stat().st_mtime >= lock.stat().st_mtime:
        return
    if shutil.which("npm") is None:
        pytest.fail("npm is not installed: the Node.js tools and examples need Node.js 18+ and npm")
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=folder, check=True, timeout=600)


@pytest.fixture(scope="session")
def node_package() -> Callable[[Path], Path]:
    """Installs a Node.js package folder of the repository (its committed package-lock.json) once."""

    def install(folder: Path) -> Path:
        _npm_ci(folder)
        return folder

    return install
