"""`newsflow redrive` on a running pipeline (real broker, real Postgres, the services as processes): an
object ingest refused is fixed by a settings change, redriven from its quarantine copy, and ends as
exactly one stored article; `newsflow deadletters` shows the dead letter's state before and after."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from pipeline_waits import pipeline_env, scalar, wait_for

from services.localstack import EmbeddedBroker, ServiceProcess

pytestmark = pytest.mark.e2e

BRIEF = (
    b"Harbour cranes return to work\n\nDock workers in Harbourton went back to the cranes on Monday after a "
    b"two-day stoppage over night-shift pay, the port authority said, adding that ships queued outside would "
    b"berth by Wednesday.\n"
)


def test_a_refused_object_fixed_and_redriven_is_stored_exactly_once(
    broker: EmbeddedBroker, database_url: str, tmp_path: Path
) -> None:
    home, inbox = tmp_path / "home", tmp_path / "inbox"
    inbox.mkdir()
    env = pipeline_env(home, inbox, broker.bootstrap_servers, database_url)

    def newsflow(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "services.cli", *args],
            env={**os.environ, **env, **extra},
            capture_output=True,
            text=True,
            timeout=120,
        )

    assert newsflow("db", "upgrade").returncode == 0
    services = [ServiceProcess(stage, env, home / "logs" / f"{stage}.log") for stage in ("store", "enrich", "ingest")]
    try:
        (inbox / "brief.txt").write_bytes(BRIEF)  # 31 words: below the default INGEST_MIN_BODY_WORDS of 40
        wait_for(lambda: scalar(database_url, "SELECT count(*) FROM dead_letters") == 1, services)
        listed = newsflow("deadletters")
        assert listed.returncode == 0, listed.stderr
        assert "ingest   not_an_article           open      1" in listed.stdout

        # Not fixed yet: a dry run says so and changes nothing.
        unfixed = newsflow("redrive", "--stage", "ingest", "--dry-run")
        assert unfixed.returncode == 0, unfixed.stderr
        assert "still refused" in unfixed.stdout and "fewer than 40" in unfixed.stdout

        # The cause is fixed (this deployment accepts briefs): redrive it.
        fixed = {"INGEST_MIN_BODY_WORDS": "20"}
        done = newsflow("redrive", "--stage", "ingest", "--reason", "not_an_article", "--since", "1d", **fixed)
        assert done.returncode == 0, done.stderr
        assert "redriven 1, still refused 0" in done.stdout
        wait_for(lambda: scalar(database_url, "SELECT count(*) FROM articles") == 1, services)

        again = newsflow("redrive", **fixed)
        assert "redriven 0, still refused 0" in again.stdout
        listed = newsflow("deadletters", "--state", "redriven")
        assert "ingest   not_an_article           redriven  1" in listed.stdout
        assert "redriven " in listed.stdout and "to articles.cleaned[" in listed.stdout
        time.sleep(2)  # a duplicate, if one had been published, would arrive by now
        with psycopg.connect(database_url) as conn:
            rows = conn.execute(
                "SELECT a.title, s.uri, a.trace_id FROM articles a JOIN article_sources s USING (article_id)"
            ).fetchall()
            (letter_trace,) = conn.execute("SELECT trace_id FROM dead_letters").fetchone() or (None,)
        assert rows == [("Harbour cranes return to work", str(inbox / "brief.txt"), letter_trace)]
        assert letter_trace is not None

        # A new subscriber catching up from Postgres: everything stored since a time, as contract JSON lines.
        assert len(newsflow("export", "--since", "1h").stdout.splitlines()) == 1
        assert newsflow("export", "--since", "2999-01-01").stdout == ""
    finally:
        for service in services:
            service.stop()


def test_redrive_refuses_bad_arguments_in_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "NEWSFLOW_HOME": str(tmp_path), "DATABASE_URL": "postgresql://nowhere/none"}
    for args, message in (
        (["--reason", "bogus"], "unknown --reason 'bogus'"),
        (["--since", "yesterday", "--dry-run"], "--since 'yesterday': expected an ISO date/time"),
    ):
        result = subprocess.run(
            [sys.executable, "-m", "services.cli", "redrive", *args], env=env, capture_output=True, text=True
        )
        assert result.returncode == 2
        assert result.stderr.strip().splitlines() == [result.stderr.strip()] and message in result.stderr
