"""The store stage on a real broker and a real Postgres: offsets, idempotency, poison handling."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator

import psycopg
import pytest
from kafka import KafkaConsumer, KafkaProducer
from prometheus_client import REGISTRY

from services.contracts import (
    TOPIC_MODELS,
    DeadLetter,
    DeadLetterReason,
    EnrichedArticle,
    EnrichmentInfo,
    Entity,
    Quote,
    QuoteKind,
    SourceRef,
    Stage,
    Topic,
    Topics,
)
from services.ingest.settings import IngestSettings
from services.localstack import EmbeddedBroker
from services.redrive import RedriveFilter, redrive
from services.runtime import deadletters
from services.runtime.health import Health
from services.runtime.kafka import ensure_topics
from services.runtime.lifecycle import run_consuming_stage
from services.runtime.messages import ConsumedMessage
from services.store.read import StoreReader
from services.store.repository import Repository
from services.store.service import StoreHandler
from services.store.settings import StoreSettings

pytestmark = pytest.mark.integration


def enriched(
    article_id: str, title: str = "Port strike ends", enriched_at: dt.datetime | None = None
) -> EnrichedArticle:
    return EnrichedArticle(
        article_id=article_id,
        source=SourceRef(uri=f"inbox/{article_id}.txt", version="1", format="text", size=10, sha256="ab"),
        title=title,
        text="Dock workers in Harbourton voted to end the strike. \u201cWe won,\u201d said Mara Quill.",
        word_count=14,
        ingested_at=dt.datetime(2026, 1, 2, tzinfo=dt.UTC),
        entities=[
            Entity(
                text="Mara Quill",
                canonical="Mara Quill",
                canonical_id="p:mara-quill",
                label="PERSON",
                count=1,
                salience=0.9,
            ),
        ],
        quotes=[
            Quote(
                text="We won",
                speaker="Mara Quill",
                speaker_id="p:mara-quill",
                kind=QuoteKind.FRAGMENT,
                confidence=0.9,
                start=55,
                end=61,
            )
        ],
        topics=[Topic(code="medtop:09000000", label="labour", score=0.8)],
        story_id=f"story-{article_id}",
        enrichment=EnrichmentInfo(
            enricher_version="test",
            model="en_core_web_sm",
            model_version="3.8.0",
            enriched_at=enriched_at or dt.datetime(2026, 1, 3, tzinfo=dt.UTC),
        ),
    )


def settings_for(broker: EmbeddedBroker, database_url: str) -> StoreSettings:
    return StoreSettings(
        kafka_bootstrap_servers=broker.bootstrap_servers,
        database_url=database_url,  # type: ignore[arg-type]
        kafka_session_timeout_ms=6000,
        kafka_heartbeat_interval_ms=1000,
        kafka_poll_timeout_ms=200,
        kafka_topic_partitions=2,
    )


class RunningStore:
    def __init__(self, settings: StoreSettings) -> None:
        self.stop = threading.Event()
        self.repository = Repository(settings.database_url.get_secret_value())
        self.repository.migrate()
        self.thread = threading.Thread(
            target=run_consuming_stage,
            kwargs={
                "stage": Stage.STORE,
                "settings": settings,
                "group_id": "store-test",
                "models": {
                    Topics.ENRICHED: TOPIC_MODELS[Topics.ENRICHED],
                    Topics.DEADLETTER: TOPIC_MODELS[Topics.DEADLETTER],
                },
                "handler": StoreHandler(self.repository),
                "stop": self.stop,
                "health": Health(60),
            },
            daemon=True,
        )
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(30)
        assert not self.thread.is_alive()
        self.repository.close()


@pytest.fixture
def store(broker: EmbeddedBroker, database_url: str) -> Iterator[RunningStore]:
    settings = settings_for(broker, database_url)
    ensure_topics(settings, [t.value for t in Topics])
    running = RunningStore(settings)
    yield running
    running.close()


def produce(broker: EmbeddedBroker, topic: str, items: list[tuple[str, bytes]]) -> None:
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap_servers, acks="all")
    for key, value in items:
        producer.send(topic, key=key.encode(), value=value)
    producer.flush()
    producer.close()


def wait_for(predicate, timeout_s: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError("condition not reached in time")


def transient_errors() -> float:
    return REGISTRY.get_sample_value("newsflow_transient_errors_total", {"stage": "store"}) or 0.0


def scalar(database_url: str, sql: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(sql).fetchone()
        assert row is not None
        return int(row[0])


def test_articles_are_stored_once_even_when_redelivered(
    store: RunningStore, broker: EmbeddedBroker, database_url: str
) -> None:
    events = [enriched(f"a{i}") for i in range(5)]
    produce(broker, Topics.ENRICHED, [(e.article_id, e.model_dump_json().encode()) for e in events])
    # The same events again: a producer retry or an upstream replay.
    produce(broker, Topics.ENRICHED, [(e.article_id, e.model_dump_json().encode()) for e in events])
    wait_for(
        lambda: (
            scalar(database_url, "SELECT count(*) FROM article_sources") == 5
            and scalar(database_url, "SELECT count(*) FROM articles") == 5
        )
    )
    time.sleep(1.0)  # let the replayed batch land too
    assert scalar(database_url, "SELECT count(*) FROM articles") == 5
    assert scalar(database_url, "SELECT count(*) FROM entities") == 5
    assert scalar(database_url, "SELECT count(*) FROM quotes") == 5
    exported = list(StoreReader(store.repository).iter_articles())
    assert [a.article_id for a in exported] == [f"a{i}" for i in range(5)]
    assert exported[0] == events[0]


def test_an_older_enrichment_never_overwrites_a_newer_one(
    store: RunningStore, broker: EmbeddedBroker, database_url: str
) -> None:
    newer = enriched("x", title="New title", enriched_at=dt.datetime(2026, 2, 1, tzinfo=dt.UTC))
    older = enriched("x", title="Old title", enriched_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    produce(
        broker,
        Topics.ENRICHED,
        [("x", newer.model_dump_json().encode()), ("x", older.model_dump_json().encode())],
    )
    wait_for(lambda: scalar(database_url, "SELECT count(*) FROM articles") == 1)
    time.sleep(1.0)
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT title FROM articles WHERE article_id = 'x'").fetchone()
    assert row == ("New title",)


def test_poison_messages_are_dead_lettered_and_the_stage_keeps_going(
    store: RunningStore, broker: EmbeddedBroker, database_url: str
) -> None:
    good = enriched("good")
    produce(
        broker,
        Topics.ENRICHED,
        [("bad", b"{not json"), ("worse", b'{"article_id": 3}'), ("good", good.model_dump_json().encode())],
    )
    # The poison goes to the dead-letter topic, which the store also persists.
    wait_for(
        lambda: (
            scalar(database_url, "SELECT count(*) FROM dead_letters") == 2
            and scalar(database_url, "SELECT count(*) FROM articles") == 1
        )
    )
    consumer = KafkaConsumer(
        Topics.DEADLETTER,
        bootstrap_servers=broker.bootstrap_servers,
        auto_offset_reset="earliest",
        consumer_timeout_ms=5000,
    )
    letters = [DeadLetter.model_validate_json(m.value) for m in consumer]
    consumer.close()
    assert {d.reason.value for d in letters} == {"invalid_event"}
    assert len({(d.original.partition, d.original.offset) for d in letters if d.original}) == 2
    assert all(d.stage == Stage.STORE for d in letters)


def test_offsets_are_committed_only_after_the_database_commit(broker: EmbeddedBroker, database_url: str) -> None:
    """Stop the store, then restart: nothing is re-stored twice and nothing is skipped."""
    settings = settings_for(broker, database_url)
    ensure_topics(settings, [t.value for t in Topics])
    first = RunningStore(settings)
    produce(broker, Topics.ENRICHED, [(f"k{i}", enriched(f"k{i}").model_dump_json().encode()) for i in range(3)])
    wait_for(lambda: scalar(database_url, "SELECT count(*) FROM articles") == 3)
    first.close()
    produce(broker, Topics.ENRICHED, [(f"m{i}", enriched(f"m{i}").model_dump_json().encode()) for i in range(3)])
    second = RunningStore(settings)
    try:
        wait_for(lambda: scalar(database_url, "SELECT count(*) FROM articles") == 6)
    finally:
        second.close()
    assert scalar(database_url, "SELECT count(*) FROM article_sources") == 6


def test_a_database_outage_pauses_the_store_and_nothing_is_lost(
    broker: EmbeddedBroker, database_url: str, postgres_admin_url: str
) -> None:
    """Real fault: the test database refuses connections and its sessions are killed mid-run."""
    settings = settings_for(broker, database_url).model_copy(
        update={"retry_initial_backoff_s": 0.2, "retry_max_backoff_s": 1.0}
    )
    ensure_topics(settings, [t.value for t in Topics])
    before = transient_errors()
    running = RunningStore(settings)
    try:
        produce(broker, Topics.ENRICHED, [(f"b{i}", enriched(f"b{i}").model_dump_json().encode()) for i in range(3)])
        wait_for(lambda: scalar(database_url, "SELECT count(*) FROM articles") == 3)
        name = psycopg.conninfo.conninfo_to_dict(database_url)["dbname"]
        with psycopg.connect(postgres_admin_url, autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
            produce(
                broker, Topics.ENRICHED, [(f"c{i}", enriched(f"c{i}").model_dump_json().encode()) for i in range(3)]
            )
            time.sleep(3)  # the store keeps failing to connect and backs off meanwhile
            assert running.thread.is_alive()
            assert transient_errors() > before
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        wait_for(lambda: scalar(database_url, "SELECT count(*) FROM articles") == 6)
    finally:
        running.close()
    assert scalar(database_url, "SELECT count(*) FROM article_sources") == 6


def test_a_row_postgres_refuses_is_dead_lettered_and_the_rest_of_its_batch_is_stored(
    store: RunningStore, broker: EmbeddedBroker, database_url: str
) -> None:
    # A word count beyond Postgres' integer passes the contract (no upper bound) and is refused as a row.
    # (NUL, the earlier example, is now replaced by the store: test_ingest_file_versions.py.)
    refused = enriched("nul").model_copy(update={"word_count": 2**40})
    produce(
        broker,
        Topics.ENRICHED,
        [
            ("ok1", enriched("ok1").model_dump_json().encode()),
            ("nul", refused.model_dump_json().encode()),
            ("ok2", enriched("ok2").model_dump_json().encode()),
        ],
    )
    wait_for(
        lambda: (
            scalar(database_url, "SELECT count(*) FROM articles") == 2
            and scalar(database_url, "SELECT count(*) FROM dead_letters WHERE article_id = 'nul'") == 1
        )
    )
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT stage, reason FROM dead_letters WHERE article_id = 'nul'").fetchone()
    assert row == ("store", "invalid_event")


def test_trace_headers_reach_the_postgres_rows_and_the_dead_letters(broker: EmbeddedBroker, database_url: str) -> None:
    settings = settings_for(broker, database_url).model_copy(update={"kafka_topic_prefix": "team-a."})
    ensure_topics(settings, [t.value for t in Topics])
    running = RunningStore(settings)
    try:
        good_trace, bad_trace = "a" * 32, "b" * 32
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap_servers, acks="all")
        producer.send(
            "team-a.articles.enriched",
            key=b"good",
            value=enriched("good").model_dump_json().encode(),
            headers=[("newsflow-trace-id", good_trace.encode()), ("newsflow-seen-at", b"1700000000000")],
        )
        producer.send(
            "team-a.articles.enriched",
            key=b"bad",
            value=b"{not json",
            headers=[
                ("newsflow-trace-id", bad_trace.encode()),
                ("newsflow-seen-at", b"1700000000123"),
                ("newsflow-source-uri", b"s3://news/bad.html"),
            ],
        )
        producer.flush()
        producer.close()
        wait_for(
            lambda: (
                scalar(database_url, "SELECT count(*) FROM dead_letters") == 1
                and scalar(database_url, "SELECT count(*) FROM articles") == 1
            )
        )
        with psycopg.connect(database_url) as conn:
            assert conn.execute("SELECT trace_id FROM articles").fetchall() == [(good_trace,)]
            row = conn.execute("SELECT trace_id, seen_at_ms, state, source_uri FROM dead_letters").fetchone()
        # Not even JSON, so the dead letter has no source of its own: the header says where it came from.
        assert row == (bad_trace, 1700000000123, "open", "s3://news/bad.html")

        consumer = KafkaConsumer(
            "team-a.articles.deadletter",
            bootstrap_servers=broker.bootstrap_servers,
            auto_offset_reset="earliest",
            consumer_timeout_ms=5000,
        )
        (message,) = list(consumer)
        consumer.close()
        headers = {name: value.decode() for name, value in message.headers}
        assert headers["newsflow-trace-id"] == bad_trace
        assert headers["newsflow-seen-at"] == "1700000000123"
        assert headers["newsflow-source-uri"] == "s3://news/bad.html"
        assert headers["newsflow.errors.stage"] == "store"
        assert headers["newsflow.errors.reason"] == "invalid_event"
        assert headers["newsflow.errors.exception.class.name"] == "pydantic_core._pydantic_core.ValidationError"
        # Error coordinates name the contract topic; the broker's name adds the deployment's prefix.
        assert headers["newsflow.errors.topic"] == "articles.enriched"
        letter = DeadLetter.model_validate_json(message.value)
        assert letter.original is not None
        assert headers["newsflow.errors.partition"] == str(letter.original.partition)
        assert headers["newsflow.errors.offset"] == str(letter.original.offset)
    finally:
        running.close()


def test_a_redriven_dead_letter_ends_as_exactly_one_stored_article(
    store: RunningStore, broker: EmbeddedBroker, database_url: str
) -> None:
    """An enriched article the store once refused, republished by redrive from its dead letter."""
    article = enriched("redo")
    refused = deadletters.for_message(
        Stage.STORE,
        DeadLetterReason.INVALID_EVENT,
        "refused by Postgres: a since-fixed constraint",
        ConsumedMessage(Topics.ENRICHED, 1, 17, b"redo", article.model_dump_json().encode()),
        article_id="redo",
    )
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap_servers, acks="all")
    producer.send(
        Topics.DEADLETTER,
        key=b"redo",
        value=refused.model_dump_json().encode(),
        headers=[("newsflow-trace-id", b"e" * 32), ("newsflow-seen-at", b"1764572400000")],
    )
    producer.flush()
    producer.close()
    wait_for(lambda: scalar(database_url, "SELECT count(*) FROM dead_letters") == 1)

    settings = IngestSettings(kafka_bootstrap_servers=broker.bootstrap_servers)
    with Repository(database_url) as repository:
        dry = redrive(repository, settings, RedriveFilter(stage=Stage.STORE), dry_run=True)
        assert [r.dead_letter_id for r in dry.redriven] == [refused.dead_letter_id]
        assert scalar(database_url, "SELECT count(*) FROM dead_letters WHERE state = 'open'") == 1
        assert redrive(repository, settings, RedriveFilter(stage=Stage.ENRICH), dry_run=False).redriven == []

        first = redrive(repository, settings, RedriveFilter(stage=Stage.STORE, reason="invalid_event"), dry_run=False)
        assert [r.dead_letter_id for r in first.redriven] == [refused.dead_letter_id]
        wait_for(lambda: scalar(database_url, "SELECT count(*) FROM articles") == 1)
        # A second run finds nothing open: the letter is marked, and the article is not stored twice.
        assert redrive(repository, settings, RedriveFilter(), dry_run=False).redriven == []
        (stored,) = StoreReader(repository).recent_dead_letters(None, None, 10)
    assert stored.state == "redriven" and stored.redriven_to is not None
    assert stored.redriven_to.startswith("articles.enriched[")
    time.sleep(1)  # give a duplicate, if any were published, the time to arrive
    assert scalar(database_url, "SELECT count(*) FROM articles") == 1
    assert scalar(database_url, "SELECT count(*) FROM article_sources") == 1
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT trace_id FROM articles").fetchall() == [("e" * 32,)]
    # The republished event says where it came from.
    consumer = KafkaConsumer(
        Topics.ENRICHED,
        bootstrap_servers=broker.bootstrap_servers,
        auto_offset_reset="earliest",
        consumer_timeout_ms=3000,
    )
    (message,) = list(consumer)
    consumer.close()
    headers = dict(message.headers)
    assert headers["newsflow-redrive-of"] == refused.dead_letter_id.encode()
    assert headers["newsflow-seen-at"] == b"1764572400000"


def _latency_sum() -> float:
    return REGISTRY.get_sample_value("newsflow_end_to_end_seconds_sum", {"stage": "store"}) or 0.0


def _latency_count() -> float:
    return REGISTRY.get_sample_value("newsflow_end_to_end_seconds_count", {"stage": "store"}) or 0.0


def test_end_to_end_latency_runs_from_the_seen_at_header_to_the_committed_row(
    store: RunningStore, broker: EmbeddedBroker, database_url: str
) -> None:
    count, total = _latency_count(), _latency_sum()
    seen_an_hour_ago = str(int((time.time() - 3600) * 1000)).encode("ascii")
    # ingested_at is 2026-01-01 in these events: the header, when present, is what counts.
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap_servers, acks="all")
    event = enriched("timed")
    producer.send(
        Topics.ENRICHED,
        key=b"timed",
        value=event.model_dump_json().encode(),
        headers=[("newsflow-seen-at", seen_an_hour_ago)],
    )
    producer.flush()
    producer.close()
    wait_for(lambda: _latency_count() == count + 1)
    assert scalar(database_url, "SELECT count(*) FROM articles WHERE article_id = 'timed'") == 1
    observed = _latency_sum() - total
    assert 3600 <= observed < 3600 + 120, observed
