"""Two "hosts": two ingest and two enrich processes, each with a NEWSFLOW_HOME of its own, sharing only
Kafka, Postgres and the bucket (S3 API: moto's server over HTTP), against one process of each stage
on the local-stack defaults (SQLite ledger and story file).

Story ids are ``story-<id of the article that founded the story>``, so they depend on which report
of an event is enriched first; with several partitions that order is not fixed even for one process.
The corpus therefore arrives in two waves, as news does: the first report of every event (and two
unrelated reports), then, once those are stored, the follow-ups. Between the waves "host A" dies
(SIGKILL of its ingest and enrich processes): host B's processes take over its partitions and the whole
bucket, and the follow-ups must still join the stories the first reports founded.

The first wave's article ids (content hashes, so fixed) fall into partitions 0, 1 and 2 of 4: under
either of kafka-python's assignors (range, round robin) both enrich replicas get some of them.
"""

from __future__ import annotations

import re
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest
from moto.server import ThreadedMotoServer

from services.localstack import EmbeddedBroker, ServiceProcess, free_port

pytestmark = pytest.mark.e2e

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "multihost"
FIRST_WAVE = sorted(p.name for p in CORPUS.glob("*.txt") if p.stem.endswith("_1") or "_" not in p.stem)
SECOND_WAVE = sorted(p.name for p in CORPUS.glob("*.txt") if p.name not in FIRST_WAVE)


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@contextmanager
def fresh_database(admin_url: str) -> Iterator[str]:
    name = f"newsflow_multihost_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    info = psycopg.conninfo.conninfo_to_dict(admin_url)
    info["dbname"] = name
    try:
        yield psycopg.conninfo.make_conninfo(**info)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def scrape(port: int, metric: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    labels = "" if "{" in metric else r"(?:\{[^}]*\})?"
    pattern = rf"^{re.escape(metric)}{labels} (\S+)$"
    return sum(float(m.group(1)) for m in re.finditer(pattern, text, re.MULTILINE))


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            return int(response.status) == 200
    except OSError:
        return False


class Deployment:
    """The services of one run, each process with its own home, as if each ran on a host of its own."""

    def __init__(self, root: Path, database_url: str, s3_endpoint: str, bucket: str, **shared: str) -> None:
        self.root = root
        self.database_url = database_url
        self.broker = EmbeddedBroker(root / "broker.log")
        self.s3: Any = boto3.client(
            "s3", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
        )
        self.s3.create_bucket(Bucket=bucket)
        self.bucket = bucket
        self.env = {
            "KAFKA_BOOTSTRAP_SERVERS": self.broker.bootstrap_servers,
            "KAFKA_TOPIC_PARTITIONS": "4",
            "KAFKA_SESSION_TIMEOUT_MS": "6000",
            "KAFKA_HEARTBEAT_INTERVAL_MS": "1000",
            "KAFKA_POLL_TIMEOUT_MS": "200",
            "DATABASE_URL": database_url,
            "INGEST_SOURCE": "s3",
            "S3_ENDPOINT_URL": s3_endpoint,
            "S3_BUCKET": bucket,
            "S3_FULL_RESCAN_INTERVAL_SECONDS": "0",
            "AWS_ACCESS_KEY_ID": "t",
            "AWS_SECRET_ACCESS_KEY": "t",
            "INGEST_SCAN_INTERVAL_SECONDS": "0.5",
            "INGEST_PUBLISH_BATCH": "2",
            **shared,
        }
        self.processes: dict[str, ServiceProcess] = {}
        self.ports: dict[str, int] = {}

    def start(self, name: str) -> None:
        stage = name.split("-")[0]
        port = free_port()
        home = self.root / name
        env = {**self.env, "NEWSFLOW_HOME": str(home), "METRICS_HOST": "127.0.0.1", "METRICS_PORT": str(port)}
        self.processes[name] = ServiceProcess(stage, env, home / "service.log")
        self.ports[name] = port

    def kill(self, name: str) -> None:
        self.processes.pop(name).kill()

    def put(self, names: list[str]) -> None:
        for name in names:
            self.s3.put_object(Bucket=self.bucket, Key=name, Body=(CORPUS / name).read_bytes())

    def wait_for(self, predicate: Callable[[], bool], what: str, timeout_s: float = 240.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                log = self.root / name / "service.log"
                assert process.running(), f"{name} died: {log.read_text()[-3000:]}"
            if predicate():
                return
            time.sleep(0.3)
        raise AssertionError(f"timed out waiting for {what}")

    def stored(self) -> int:
        with psycopg.connect(self.database_url) as conn:
            row = conn.execute("SELECT count(*) FROM articles").fetchone()
        return int(row[0]) if row else 0

    def stories_by_file(self) -> dict[str, str]:
        with psycopg.connect(self.database_url) as conn:
            rows = conn.execute(
                "SELECT s.uri, a.story_id FROM article_sources s JOIN articles a USING (article_id)"
            ).fetchall()
        return {str(uri).rsplit("/", 1)[-1]: str(story_id) for uri, story_id in rows}

    def source_rows(self) -> int:
        with psycopg.connect(self.database_url) as conn:
            row = conn.execute("SELECT count(*) FROM article_sources").fetchone()
        return int(row[0]) if row else 0

    def counts(self, prefix: str, metric: str) -> dict[str, float]:
        return {name: scrape(port, metric) for name, port in self.ports.items() if name.startswith(prefix)}

    def run_corpus(self, between_waves: Callable[[], None] = lambda: None) -> None:
        self.wait_for(lambda: all(ready(p) for n, p in self.ports.items() if not n.startswith("ingest")), "consumers")
        self.put(FIRST_WAVE)
        self.wait_for(lambda: self.stored() == len(FIRST_WAVE), "the first wave")
        between_waves()
        self.put(SECOND_WAVE)
        self.wait_for(lambda: self.stored() == len(FIRST_WAVE) + len(SECOND_WAVE), "the second wave")

    def stop(self) -> None:
        for name in sorted(self.processes, key=lambda n: ("ingest", "enrich", "store").index(n.split("-")[0])):
            self.processes[name].stop()
        self.broker.kill()


HANDLED = "newsflow_ingest_objects_total"
ENRICHED = 'newsflow_messages_processed_total{outcome="ok",stage="enrich"}'


def test_two_hosts_store_every_article_once_with_the_story_ids_of_one_process(
    postgres_admin_url: str, s3_endpoint: str, tmp_path: Path
) -> None:
    total = len(FIRST_WAVE) + len(SECOND_WAVE)
    assert len(SECOND_WAVE) == 8 and total == 14

    with fresh_database(postgres_admin_url) as single_url:
        single = Deployment(tmp_path / "single", single_url, s3_endpoint, "single-host")
        try:
            for name in ("store", "enrich", "ingest"):
                single.start(name)
            single.run_corpus()
            expected = single.stories_by_file()
        finally:
            single.stop()

    with fresh_database(postgres_admin_url) as shared_url:
        multi = Deployment(
            tmp_path / "multi",
            shared_url,
            s3_endpoint,
            "two-hosts",
            STORY_STATE="postgres",
            INGEST_LEDGER="postgres",
            INGEST_LEASE_SECONDS="20",
        )
        first_wave: dict[str, dict[str, float]] = {}

        def host_a_dies() -> None:
            time.sleep(2)  # enrich commits its offsets right after publishing; let the last commit land
            first_wave["ingest"] = multi.counts("ingest", HANDLED)
            first_wave["enrich"] = multi.counts("enrich", ENRICHED)
            multi.kill("ingest-a")
            multi.kill("enrich-a")

        try:
            for name in ("store", "enrich-a", "enrich-b", "ingest-a", "ingest-b"):
                multi.start(name)
            multi.run_corpus(between_waves=host_a_dies)
            got = multi.stories_by_file()
            handled = {**first_wave["ingest"], **multi.counts("ingest-b", HANDLED)}
            enriched = {**first_wave["enrich"], **multi.counts("enrich-b", ENRICHED)}
            source_rows = multi.source_rows()
        finally:
            multi.stop()

    # Every article stored once, from one object read once by one of the two ingest replicas (ingest-a
    # only before it died, ingest-b to the end).
    assert len(got) == total and source_rows == total
    assert sum(handled.values()) == total, handled
    # Both enrich replicas took part in the first wave; enrich-b, alone after it, did the rest.
    assert all(n > 0 for n in first_wave["enrich"].values()), first_wave
    assert enriched["enrich-b"] >= total - enriched["enrich-a"], enriched
    # Every event one story, different events different stories, the same ids as the one-process run.
    events: dict[str, set[str]] = {}
    for name, story_id in got.items():
        events.setdefault(name.split("_")[0].removesuffix(".txt"), set()).add(story_id)
    assert all(len(ids) == 1 for ids in events.values()), events
    assert len({next(iter(ids)) for ids in events.values()}) == len(events) == 6
    assert got == expected
