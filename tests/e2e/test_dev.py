"""`newsflow dev` as a user runs it: embedded broker and Postgres, files dropped while it runs,
Ctrl-C stops every process; a restart after a crash republishes what was in flight."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from services.cli import _requeue_lost
from services.contracts import EnrichedArticle
from services.ingest.ledger import Ledger
from services.localstack import EmbeddedBroker, Stack
from services.store.read import StoreReader
from services.store.repository import Repository

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "ingest"


def _env() -> dict[str, str]:
    return {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "NEWSFLOW_HOME")
    }


def _export(cwd: Path) -> list[EnrichedArticle]:
    result = subprocess.run(
        [sys.executable, "-m", "services.cli", "export"],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return [EnrichedArticle.model_validate_json(line) for line in result.stdout.splitlines()]


@pytest.mark.e2e
def test_dev_processes_dropped_files_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    dev = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "dev", "--inbox", "inbox", "--metrics-base-port", "0"],
        cwd=tmp_path,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # Started as a non-interactive shell starts a background job: SIGINT ignored. Ctrl-C must still stop it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        deadline = time.monotonic() + 120
        children: list[psutil.Process] = []
        while time.monotonic() < deadline:
            children = psutil.Process(dev.pid).children(recursive=True)
            # ingest, enrich, store and the lag exporter
            if len([c for c in children if "services." in " ".join(c.cmdline())]) == 4:
                break
            time.sleep(0.5)
        shutil.copy(FIXTURES / "science_prize_related.txt", tmp_path / "inbox" / "prize.txt")
        shutil.copy(FIXTURES / "port_strike_gtag.txt", tmp_path / "inbox" / "port.txt")
        while time.monotonic() < deadline and len(_export(tmp_path)) < 2:
            time.sleep(1)
        assert sorted(Path(a.source.uri).name for a in _export(tmp_path)) == ["port.txt", "prize.txt"]
        # One view of the running stack, from the metrics every child serves on its own port.
        status = subprocess.run(
            [sys.executable, "-m", "services.cli", "status"],
            cwd=tmp_path,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert status.returncode == 0, status.stdout + status.stderr
        rows = {line.split()[1]: line for line in status.stdout.splitlines() if line.startswith("│")}
        assert {"ingest", "enrich", "store", "lag-exporter"} <= set(rows), status.stdout
        assert all("│ yes " in rows[name] for name in ("ingest", "enrich", "store", "lag-exporter")), status.stdout
        dev.send_signal(signal.SIGINT)
        output, _ = dev.communicate(timeout=120)
    finally:
        if dev.poll() is None:
            dev.kill()
    assert dev.returncode == 0, output
    assert "stopping: ingest first" in output
    assert "metrics: ingest :" in output and "lag-exporter :" in output
    assert "not everything was stored" not in output
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE], "orphaned processes"


@pytest.mark.integration
def test_a_restart_republishes_files_whose_events_died_with_the_in_memory_broker(
    tmp_path: Path, database_url: str, broker: EmbeddedBroker
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    ledger = Ledger(home / "ingest-ledger.sqlite3")
    ledger.mark_done("inbox/stored.txt", "1", "aa", "ok", ["stored-article"], [])
    ledger.mark_done("inbox/lost.txt", "1", "bb", "ok", ["lost-article"], [])
    ledger.mark_done("inbox/lost-dead-letter.txt", "1", "cc", "dead_letter", [], ["lost-dead-letter"])
    ledger.close()
    with Repository(database_url) as repository:
        repository.migrate()
        with psycopg_connection(database_url) as conn:
            conn.execute(
                "INSERT INTO articles (article_id, schema_version, title, body, word_count, enricher_version, model,"
                " ingested_at, enriched_at, event) VALUES ('stored-article', 1, 't', 'b', 1, 'v', 'm', now(), now(),"
                " '{}')"
            )
        stack = Stack(home, broker.bootstrap_servers, database_url, broker=broker)
        assert _requeue_lost(stack, StoreReader(repository)) == 2
        # With a durable Kafka nothing is forgotten: consumers resume from their committed offsets.
        assert _requeue_lost(Stack(home, "kafka:9092", database_url), StoreReader(repository)) == 0
    ledger = Ledger(home / "ingest-ledger.sqlite3")
    assert ledger.is_done("inbox/stored.txt", "1")
    assert not ledger.is_done("inbox/lost.txt", "1")
    assert not ledger.is_done("inbox/lost-dead-letter.txt", "1")
    ledger.close()


def psycopg_connection(url: str):  # type: ignore[no-untyped-def]
    import psycopg

    return psycopg.connect(url, autocommit=True)


@pytest.mark.e2e
def test_dev_says_why_a_child_exited_and_waits_before_restarting_it(tmp_path: Path) -> None:
    dev = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "dev", "--inbox", "inbox", "--metrics-base-port", "0"],
        cwd=tmp_path,
        env={**_env(), "SPACY_MODEL": "no_such_spacy_model"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert dev.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            line = dev.stdout.readline()
            lines.append(line)
            if "restarting in" in line:
                break
        restart = lines[-1]
        assert restart.startswith("enrich exited with 1 ("), lines
        assert "no_such_spacy_model" in restart and restart.rstrip().endswith("restarting in 5s"), restart
        dev.send_signal(signal.SIGINT)
        dev.communicate(timeout=120)
    finally:
        if dev.poll() is None:
            dev.kill()
