"""Downstream subscribers in other clients: the Node.js example (kafkajs + ajv) and the Python one
(confluent-kafka, i.e. librdkafka) read the enriched topic of a running pipeline while the five shared
seeds flow through it, and validate every event against the committed JSON Schema."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from services.contracts import Topics
from services.localstack import EmbeddedBroker, ServiceProcess
from services.runtime.kafka import ensure_topics
from services.runtime.settings import ServiceSettings

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
SEEDS = REPO_ROOT.parent / "shared" / "seeds"
NODE_EXAMPLE = REPO_ROOT / "examples" / "subscriber-node"
PYTHON_EXAMPLE = REPO_ROOT / "examples" / "subscriber-python"
PREFIX = "e2e."


def lines(process: subprocess.Popen[str]) -> list[dict[str, Any]]:
    assert process.stdout is not None
    return [json.loads(line) for line in process.stdout.read().splitlines() if line.startswith("{")]


@pytest.mark.skipif(not SEEDS.is_dir(), reason="shared seeds not present")
def test_node_and_python_subscribers_receive_and_validate_every_seed(
    broker: EmbeddedBroker, database_url: str, tmp_path: Path, node_package: Any
) -> None:
    node_package(NODE_EXAMPLE)
    ensure_topics(
        ServiceSettings(kafka_bootstrap_servers=broker.bootstrap_servers, kafka_topic_prefix=PREFIX),
        [t.value for t in Topics],
    )
    client_env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": PREFIX,
        "SUBSCRIBER_MAX_ARTICLES": "5",
    }
    # Subscribed before anything flows: they see the seeds arrive, not a finished topic.
    subscribers = {
        "node": subprocess.Popen(
            ["node", str(NODE_EXAMPLE / "subscriber.js")],
            env=client_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ),
        "python": subprocess.Popen(
            [sys.executable, str(PYTHON_EXAMPLE / "subscriber.py")],
            env=client_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ),
    }
    inbox = tmp_path / "inbox"
    # Made before ingest starts: ingest creates a missing inbox itself, and would race the test for it.
    inbox.mkdir()
    home = tmp_path / "home"
    service_env = {
        "NEWSFLOW_HOME": str(home),
        "INGEST_INBOX": str(inbox),
        "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": PREFIX,
        "DATABASE_URL": database_url,
        "KAFKA_POLL_TIMEOUT_MS": "200",
        "INGEST_SETTLE_SECONDS": "0.3",
        "INGEST_SCAN_INTERVAL_SECONDS": "1",
    }
    services = [
        ServiceProcess(stage, service_env, home / "logs" / f"{stage}.log") for stage in ("store", "enrich", "ingest")
    ]
    try:
        time.sleep(1)
        for seed in sorted(SEEDS.iterdir()):
            shutil.copy(seed, inbox / seed.name)  # into the test's temporary inbox, read at test time
            time.sleep(0.5)
        for name, process in subscribers.items():
            try:
                process.wait(timeout=300)
            except subprocess.TimeoutExpired:
                process.kill()
                raise AssertionError(f"{name} subscriber did not receive five articles in time") from None
            assert process.returncode == 0, f"{name}: {process.stderr.read() if process.stderr else ''}"
        received = {name: lines(process) for name, process in subscribers.items()}
    finally:
        for process in subscribers.values():
            if process.poll() is None:
                process.kill()
        for service in services:
            service.stop()

    with psycopg.connect(database_url) as conn:
        stored = dict(conn.execute("SELECT article_id, trace_id FROM articles").fetchall())
    assert len(stored) == 5
    for name, events in received.items():
        assert len(events) == 5, f"{name}: {events}"
        assert all(e["valid"] for e in events), f"{name}: {[e['errors'] for e in events]}"
        assert {e["article_id"] for e in events} == set(stored), name
        assert all(e["schema"] == "EnrichedArticle" and e["seen_at"].isdigit() for e in events), name
        # The trace id ingest set is the one in the header and in the Postgres row.
        assert {e["article_id"]: e["trace_id"] for e in events} == stored, name
        assert all(e["title"] and e["entities"] > 0 for e in events), name
