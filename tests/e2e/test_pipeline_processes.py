"""Files in, rows out: the three services as separate processes on a real broker and Postgres,
including a store killed with SIGKILL mid-run."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from services.localstack import EmbeddedBroker, ServiceProcess, free_port

pytestmark = pytest.mark.e2e

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ingest"
GOOD = [
    "trade_talks_comments.txt",
    "port_strike_gtag.txt",
    "rail_merger_noblank.txt",
    "festival_utf8_widgets.html",
    "science_prize_related.txt",
]


def http_get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as exc:
        return int(exc.code), ""


class Pipeline:
    def __init__(self, broker: EmbeddedBroker, database_url: str, home: Path, inbox: Path, **extra: str) -> None:
        self.home = home
        self.env = {
            "NEWSFLOW_HOME": str(home),
            "INGEST_INBOX": str(inbox),
            "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
            "DATABASE_URL": database_url,
            "KAFKA_SESSION_TIMEOUT_MS": "6000",
            "KAFKA_HEARTBEAT_INTERVAL_MS": "1000",
            "KAFKA_POLL_TIMEOUT_MS": "200",
            "INGEST_SETTLE_SECONDS": "0.3",
            "INGEST_SCAN_INTERVAL_SECONDS": "1",
            **extra,
        }
        self.database_url = database_url
        self.processes: dict[str, ServiceProcess] = {}

    def start(self, stage: str, **extra: str) -> ServiceProcess:
        process = ServiceProcess(stage, {**self.env, **extra}, self.home / "logs" / f"{stage}.log")
        self.processes[stage] = process
        return process

    def stop_all(self) -> None:
        for process in self.processes.values():
            process.stop()

    def count(self, sql: str) -> int:
        with psycopg.connect(self.database_url) as conn:
            row = conn.execute(sql).fetchone()
        assert row is not None
        return int(row[0])

    def wait_for(self, predicate: Callable[[], bool], timeout_s: float = 180.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for stage, process in self.processes.items():
                assert process.running(), f"{stage} died: {(self.home / 'logs' / f'{stage}.log').read_text()[-3000:]}"
            if predicate():
                return
            time.sleep(0.3)
        raise AssertionError("pipeline did not get there in time")


@pytest.fixture
def pipeline(broker: EmbeddedBroker, database_url: str, tmp_path: Path) -> Iterator[Pipeline]:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    subprocess.run(
        [sys.executable, "-m", "services.cli", "db", "upgrade"],
        check=True,
        env={"DATABASE_URL": database_url, "PATH": "/usr/bin:/bin"},
        capture_output=True,
    )
    running = Pipeline(broker, database_url, tmp_path / "home", inbox)
    yield running
    running.stop_all()


def test_files_dropped_in_a_folder_become_rows(pipeline: Pipeline, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    for name in GOOD[:3]:
        (inbox / name).write_bytes((FIXTURES / name).read_bytes())
    (inbox / "empty.txt").write_bytes(b"")
    (inbox / "image.png").write_bytes((FIXTURES / "image.png").read_bytes())
    ports = {stage: free_port() for stage in ("store", "enrich", "ingest")}
    for stage, port in ports.items():
        pipeline.start(stage, METRICS_PORT=str(port))
    pipeline.wait_for(
        lambda: (
            pipeline.count("SELECT count(*) FROM articles") == 3
            and pipeline.count("SELECT count(*) FROM dead_letters") == 2
        )
    )

    # A file dropped while everything runs goes through too; the pipeline kept running after bad input.
    (inbox / GOOD[3]).write_bytes((FIXTURES / GOOD[3]).read_bytes())
    pipeline.wait_for(lambda: pipeline.count("SELECT count(*) FROM articles") == 4)

    with psycopg.connect(pipeline.database_url) as conn:
        reasons = dict(conn.execute("SELECT source_uri, reason FROM dead_letters").fetchall())
        people = conn.execute("SELECT count(*) FROM entities WHERE label = 'PERSON'").fetchone()
        uris = {row[0] for row in conn.execute("SELECT uri FROM article_sources").fetchall()}
    assert {Path(uri).name: reason for uri, reason in reasons.items()} == {
        "empty.txt": "empty",
        "image.png": "binary",
    }
    assert people is not None and people[0] > 0
    assert {Path(uri).name for uri in uris} == set(GOOD[:4])

    # Every stage serves its metrics, liveness and readiness.
    scraped = {stage: http_get(port, "/metrics")[1] for stage, port in ports.items()}
    assert 'newsflow_dead_letters_total{reason="empty",stage="ingest"} 1.0' in scraped["ingest"]
    assert 'newsflow_ingest_objects_total{outcome="ok",source_kind="local"} 4.0' in scraped["ingest"]
    assert 'newsflow_messages_processed_total{outcome="ok",stage="enrich"} 4.0' in scraped["enrich"]
    assert 'newsflow_store_rows_written_total{table="articles"} 4.0' in scraped["store"]
    assert "newsflow_batch_processing_seconds_bucket" in scraped["store"]
    for port in ports.values():
        assert http_get(port, "/healthz")[0] == 200
        assert http_get(port, "/readyz")[0] == 200


def test_a_store_killed_mid_run_loses_nothing_and_duplicates_nothing(pipeline: Pipeline, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    total = 40
    for i in range(total):
        name = GOOD[i % len(GOOD)]
        data = (FIXTURES / name).read_bytes()
        # Distinct articles: each copy gets a sentence of its own at the end of the story body.
        marker = f"\n\nThe desk filed this as update number {i} of the series, after checking every figure.\n".encode()
        if name.endswith(".html"):
            data = data.replace(b"</article>", f"<p>Update number {i} of the series was filed.</p></article>".encode())
        else:
            data = data.replace(b"\n\n", marker, 1) if i else data
        (inbox / f"{i:03d}_{name}").write_bytes(data)
    # Small batches so the kill lands between a database commit and later batches.
    store = pipeline.start("store", KAFKA_MAX_POLL_RECORDS="3")
    pipeline.start("enrich", KAFKA_MAX_POLL_RECORDS="4", ENRICH_BATCH_SIZE="4")
    pipeline.start("ingest")

    pipeline.wait_for(lambda: pipeline.count("SELECT count(*) FROM articles") >= 3)
    store.kill()
    stored_at_kill = pipeline.count("SELECT count(DISTINCT uri) FROM article_sources")
    assert stored_at_kill < total, "the kill must land mid-run for this test to mean anything"
    pipeline.start("store", KAFKA_MAX_POLL_RECORDS="3")

    def all_stored() -> bool:
        ids = pipeline.count("SELECT count(DISTINCT article_id) FROM article_sources")
        return ids == pipeline.count("SELECT count(*) FROM articles") and sources_complete()

    def sources_complete() -> bool:
        return pipeline.count("SELECT count(DISTINCT uri) FROM article_sources") == total

    pipeline.wait_for(all_stored, timeout_s=300)
    with psycopg.connect(pipeline.database_url) as conn:
        duplicates = conn.execute(
            "SELECT uri, count(*) FROM article_sources GROUP BY uri HAVING count(*) > 1"
        ).fetchall()
        dead = conn.execute("SELECT count(*) FROM dead_letters").fetchone()
    assert duplicates == []
    assert dead == (0,)
