"""Ingest against a real broker, with the same behaviour tests for a local folder and for an S3 API
(moto's server on loopback, spoken to over HTTP by boto3, not a mocked client)."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import boto3
import pytest
from kafka import KafkaConsumer, KafkaProducer
from moto.server import ThreadedMotoServer

from services.contracts import CleanedArticle, DeadLetter, Topics
from services.ingest.dedup import NearDuplicateIndex
from services.ingest.formats import ExtractionOptions
from services.ingest.ledger import Ledger
from services.ingest.quarantine import Quarantine
from services.ingest.service import IngestService
from services.ingest.sources import BucketSource, ObjectUnreadable, ObjectVanished, ObjectVersion
from services.ingest.sources.local import LocalFolderSource
from services.ingest.sources.s3 import S3BucketSource
from services.localstack import EmbeddedBroker, free_port
from services.runtime.health import Health
from services.runtime.kafka import EventProducer, NotificationConsumer, ensure_topics
from services.runtime.settings import ServiceSettings

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ingest"


class Bucket(Protocol):
    def put(self, key: str, data: bytes) -> None: ...
    def delete(self, key: str) -> None: ...
    def source(self, ledger: Ledger) -> BucketSource: ...


class FolderBucket:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir()

    def put(self, key: str, data: bytes) -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        # Written "a while ago": settled, and an overwrite gets a distinct mtime.
        stamp = time.time() - 10 + len(list(self.root.rglob("*"))) * 0.01
        os.utime(path, (stamp, stamp))

    def delete(self, key: str) -> None:
        (self.root / key).unlink()

    def source(self, ledger: Ledger) -> BucketSource:
        return LocalFolderSource(self.root, settle_seconds=1.0, watch=False)

    def uri(self, key: str) -> str:
        return str((self.root / key).resolve())


class S3Bucket:
    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.client: Any = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )
        self.client.create_bucket(Bucket="news")

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket="news", Key=f"drop/{key}", Body=data)

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket="news", Key=f"drop/{key}")

    def source(self, ledger: Ledger, full_rescan_interval_s: float = 0.0, **notifications: Any) -> S3BucketSource:
        """The bucket's source, checkpointed in ``ledger``; ``notifications`` names an SQS queue or a feed."""
        return S3BucketSource(
            bucket="news",
            prefix="drop/",
            endpoint_url=self.endpoint,
            region="us-east-1",
            access_key_id="test",
            secret_access_key="test",
            full_rescan_interval_s=full_rescan_interval_s,
            load_checkpoint=lambda: ledger.checkpoint("s3"),
            save_checkpoint=lambda v: ledger.save_checkpoint("s3", v),
            **notifications,
        )

    def uri(self, key: str) -> str:
        return f"s3://news/drop/{key}"


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(params=["local", "s3"])
def bucket(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "local":
        yield FolderBucket(tmp_path / "inbox")
    else:
        endpoint = request.getfixturevalue("moto_endpoint")
        bucket = S3Bucket(endpoint)
        yield bucket
        for item in bucket.client.list_objects_v2(Bucket="news").get("Contents", []):
            bucket.client.delete_object(Bucket="news", Key=item["Key"])
        bucket.client.delete_bucket(Bucket="news")


def ingest_service(
    source: BucketSource,
    ledger: Ledger,
    producer: EventProducer,
    quarantine: Path,
    max_bytes: int = 10_000_000,
    report_ids: bool = True,
) -> IngestService:
    """An ingest service wired as its process wires it, with small batches."""
    return IngestService(
        source=source,
        ledger=ledger,
        producer=producer,
        quarantine=Quarantine(quarantine),
        options=ExtractionOptions(max_bytes=max_bytes),
        near_duplicates=NearDuplicateIndex(ledger),
        publish_batch=4,
        health=Health(60),
        report_ids=report_ids,
    )


class Harness:
    """An ingest service as its process would build it, restartable on the same ledger."""

    def __init__(self, broker: EmbeddedBroker, bucket: Any, home: Path, **settings: Any) -> None:
        self.broker = broker
        self.bucket = bucket
        self.home = home
        self.settings = ServiceSettings(kafka_bootstrap_servers=broker.bootstrap_servers, **settings)
        ensure_topics(self.settings, [t.value for t in Topics])

    def scan(
        self, fault: Callable[[BucketSource], BucketSource] | None = None, report_ids: bool = True
    ) -> IngestService:
        """One scan by a freshly built service on the persistent ledger (a restart every call)."""
        ledger = Ledger(self.home / "ledger.sqlite3")
        producer = EventProducer(self.settings, "ingest-test")
        source = self.bucket.source(ledger)
        if fault is not None:
            source = fault(source)
        service = ingest_service(
            source, ledger, producer, self.home / "quarantine", max_bytes=200_000, report_ids=report_ids
        )
        service.scan_once(threading.Event())
        producer.close()
        source.close()
        ledger.close()
        return service

    def published(self) -> tuple[list[CleanedArticle], list[DeadLetter]]:
        consumer = KafkaConsumer(
            bootstrap_servers=self.broker.bootstrap_servers,
            auto_offset_reset="earliest",
            consumer_timeout_ms=3000,
        )
        consumer.subscribe([Topics.CLEANED, Topics.DEADLETTER])
        articles, letters = [], []
        for message in consumer:
            if message.topic == Topics.CLEANED:
                articles.append(CleanedArticle.model_validate_json(message.value))
            else:
                letters.append(DeadLetter.model_validate_json(message.value))
        consumer.close()
        return articles, letters


class FaultySource:
    """A real source with a fault injected at its boundary: faults the tests cannot provoke for real
    (they run as root, and a deletion must land between listing and reading)."""

    def __init__(
        self,
        inner: BucketSource,
        *,
        after_listing: Callable[[ObjectVersion], None] = lambda obj: None,
        unreadable: frozenset[str] = frozenset(),
    ) -> None:
        self.inner = inner
        self.kind = inner.kind
        self.after_listing = after_listing
        self.unreadable = unreadable

    def list_versions(self) -> Iterator[ObjectVersion]:
        for obj in self.inner.list_versions():
            self.after_listing(obj)
            yield obj

    def read(self, obj: ObjectVersion, max_bytes: int) -> bytes:
        if obj.key in self.unreadable:
            raise ObjectUnreadable(f"{obj.uri}: Permission denied")
        return self.inner.read(obj, max_bytes)

    def settling(self) -> bool:
        return self.inner.settling()

    def wait_for_changes(self, timeout_s: float) -> None:
        self.inner.wait_for_changes(timeout_s)

    def close(self) -> None:
        self.inner.close()


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def test_each_object_version_is_published_exactly_once_across_restarts(
    broker: EmbeddedBroker, bucket: Any, tmp_path: Path
) -> None:
    harness = Harness(broker, bucket, tmp_path / "home")
    bucket.put("trade.txt", fixture("trade_talks_comments.txt"))
    bucket.put("festival.html", fixture("festival_utf8_widgets.html"))
    bucket.put(".trade.txt.swp", b"editor scratch")
    bucket.put("upload.html.part", b"<html>half")
    first = harness.scan()
    assert first.report.objects == 2

    # A restart (new service, same ledger) finds nothing new.
    assert harness.scan().report.objects == 0
    articles, letters = harness.published()
    assert sorted(a.source.uri for a in articles) == sorted([bucket.uri("trade.txt"), bucket.uri("festival.html")])
    assert letters == []

    # A file that arrives later, and an overwrite of an existing one, are new versions.
    bucket.put("rail.txt", fixture("rail_merger_noblank.txt"))
    bucket.put("trade.txt", fixture("trade_talks_comments.txt").replace(b"nine hours", b"eleven hours"))
    third = harness.scan()
    assert third.report.objects == 2
    articles, _ = harness.published()
    trade = [a for a in articles if a.source.uri == bucket.uri("trade.txt")]
    assert len(trade) == 2 and len({a.source.version for a in trade}) == 2
    assert "eleven hours" in trade[1].text
    # The lightly edited copy is linked to the first as a near duplicate.
    assert trade[1].duplicate_of == trade[0].article_id
    assert harness.scan().report.objects == 0


def test_a_service_asked_for_no_report_keeps_no_id_lists(broker: EmbeddedBroker, tmp_path: Path) -> None:
    """Issue 14: a long-running ingest appended every published id to its run report, read by nobody."""
    harness = Harness(broker, FolderBucket(tmp_path / "inbox"), tmp_path / "home")
    harness.bucket.put("trade.txt", fixture("trade_talks_comments.txt"))
    harness.bucket.put("empty.txt", b"")
    report = harness.scan(report_ids=False).report
    assert report.objects == 2 and sum(report.dead_letter_reasons.values()) == 1
    assert report.article_ids == [] and report.dead_letter_ids == []
    articles, letters = harness.published()
    assert len(articles) == 1 and len(letters) == 1


def test_bad_objects_become_reasoned_dead_letters_with_a_quarantine_copy(
    broker: EmbeddedBroker, bucket: Any, tmp_path: Path
) -> None:
    harness = Harness(broker, bucket, tmp_path / "home")
    bucket.put("empty.txt", b"")
    bucket.put("image.png", fixture("image.png"))
    bucket.put("broken.json", fixture("malformed.json"))
    bucket.put("cut.txt.gz", fixture("truncated.txt.gz"))
    bucket.put("huge.txt", b"word " * 60_000)
    bucket.put("good.txt", fixture("science_prize_related.txt"))
    service = harness.scan()
    assert service.report.objects == 6
    articles, letters = harness.published()
    assert [a.source.uri for a in articles] == [bucket.uri("good.txt")]
    reasons = {d.source.uri: d.reason.value for d in letters if d.source}
    assert reasons == {
        bucket.uri("empty.txt"): "empty",
        bucket.uri("image.png"): "binary",
        bucket.uri("broken.json"): "malformed_json",
        bucket.uri("cut.txt.gz"): "truncated_compression",
        bucket.uri("huge.txt"): "oversized",
    }
    for letter in letters:
        if letter.reason.value != "empty":
            assert letter.quarantine_uri is not None and Path(letter.quarantine_uri).exists()


def test_an_object_that_vanishes_before_it_is_read_is_dead_lettered(
    broker: EmbeddedBroker, bucket: Any, tmp_path: Path
) -> None:
    harness = Harness(broker, bucket, tmp_path / "home")
    bucket.put("gone.txt", fixture("trade_talks_comments.txt"))
    ledger = Ledger(tmp_path / "probe.sqlite3")
    source = bucket.source(ledger)
    listed = list(source.list_versions())
    bucket.delete("gone.txt")
    with pytest.raises(ObjectVanished):
        source.read(listed[0], 1000)
    ledger.close()
    # Through the service: listed, then gone -> a VANISHED dead letter, not a silent skip.
    bucket.put("gone2.txt", fixture("trade_talks_comments.txt"))

    def delete_after_listing(obj: ObjectVersion) -> None:
        bucket.delete(obj.key.removeprefix("drop/"))

    service = harness.scan(lambda source: FaultySource(source, after_listing=delete_after_listing))
    assert service.report.dead_letter_reasons == {"vanished": 1}


def test_local_folder_watch_picks_up_files_that_arrive_later(broker: EmbeddedBroker, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    harness = Harness(broker, FolderBucket.__new__(FolderBucket), tmp_path / "home")
    ledger = Ledger(tmp_path / "home" / "ledger.sqlite3")
    producer = EventProducer(harness.settings, "ingest-test")
    source = LocalFolderSource(inbox, settle_seconds=0.3, watch=True)
    service = ingest_service(source, ledger, producer, tmp_path / "q")
    stop = threading.Event()
    thread = threading.Thread(target=service.run, args=(stop, 30.0, False), daemon=True)
    thread.start()
    try:
        time.sleep(0.5)
        # A copy in progress under a temporary name, renamed when complete (how most tools write).
        partial = inbox / "grain.txt.part"
        partial.write_bytes(fixture("grain_deal_agencies.txt"))
        shutil.move(partial, inbox / "grain.txt")
        deadline = time.monotonic() + 20
        while service.report.objects < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        thread.join(10)
        producer.close()
        source.close()
        ledger.close()
    articles, _ = harness.published()
    assert [Path(a.source.uri).name for a in articles] == ["grain.txt"]


def test_s3_notifications_reveal_overwrites_that_an_incremental_listing_cannot_see(
    broker: EmbeddedBroker, moto_endpoint: str, tmp_path: Path
) -> None:
    bucket = S3Bucket(moto_endpoint)
    sqs: Any = boto3.client(
        "sqs",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    queue_url = sqs.create_queue(QueueName="news-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bucket.client.put_bucket_notification_configuration(
        Bucket="news",
        NotificationConfiguration={"QueueConfigurations": [{"QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*"]}]},
    )
    harness = Harness(broker, bucket, tmp_path / "home")
    ledger = Ledger(tmp_path / "home" / "ledger.sqlite3")
    source = bucket.source(ledger, full_rescan_interval_s=3600.0, notification_queue_url=queue_url)
    producer = EventProducer(harness.settings, "ingest-test")
    service = ingest_service(source, ledger, producer, tmp_path / "q")
    try:
        bucket.put("b.txt", fixture("trade_talks_comments.txt"))
        bucket.put("z.txt", fixture("rail_merger_noblank.txt"))
        source.wait_for_changes(1)  # drain the two creation events
        assert service.scan_once(threading.Event()) == 2  # first listing is a full one
        bucket.put("b.txt", fixture("trade_talks_comments.txt").replace(b"nine hours", b"ten hours"))
        # b.txt sorts before the checkpoint (z.txt): an incremental listing cannot see the overwrite...
        assert service.scan_once(threading.Event()) == 0
        # ...the notification can.
        source.wait_for_changes(2)
        assert service.scan_once(threading.Event()) == 1
    finally:
        producer.close()
        ledger.close()
    articles, _ = harness.published()
    texts = [a.text for a in articles if a.source.uri == "s3://news/drop/b.txt"]
    assert len(texts) == 2 and "ten hours" in texts[1]


def test_bucket_events_on_a_kafka_topic_reveal_overwrites_like_sqs_notifications(
    broker: EmbeddedBroker, moto_endpoint: str, tmp_path: Path
) -> None:
    """MinIO's Kafka notification target: the same overwrite below the checkpoint, seen through a topic."""
    bucket = S3Bucket(moto_endpoint)
    harness = Harness(broker, bucket, tmp_path / "home")
    ensure_topics(harness.settings, ["bucket.events"])
    feed = NotificationConsumer(harness.settings, topic="bucket.events", group_id="ingest-events", client_id="t")
    ledger = Ledger(tmp_path / "home" / "ledger.sqlite3")
    source = bucket.source(ledger, full_rescan_interval_s=3600.0, notification_feed=feed)
    producer = EventProducer(harness.settings, "ingest-test")
    events = KafkaProducer(bootstrap_servers=broker.bootstrap_servers)
    service = ingest_service(source, ledger, producer, tmp_path / "q")
    try:
        bucket.put("b.txt", fixture("trade_talks_comments.txt"))
        bucket.put("z.txt", fixture("rail_merger_noblank.txt"))
        assert service.scan_once(threading.Event()) == 2
        deadline = time.monotonic() + 60
        while not feed.assigned() and time.monotonic() < deadline:
            source.wait_for_changes(0.5)
        bucket.put("b.txt", fixture("trade_talks_comments.txt").replace(b"nine hours", b"ten hours"))
        assert service.scan_once(threading.Event()) == 0  # below the checkpoint: the listing cannot see it
        # MinIO's event shape: an s3:-prefixed event name, the standard S3 record inside.
        s3 = {"bucket": {"name": "news"}, "object": {"key": "drop/b.txt"}}
        record = {"eventName": "s3:ObjectCreated:Put", "s3": s3}
        events.send("bucket.events", json.dumps({"EventName": "s3:ObjectCreated:Put", "Records": [record]}).encode())
        events.flush()
        found = 0
        while found == 0 and time.monotonic() < deadline:
            source.wait_for_changes(1)
            found = service.scan_once(threading.Event())
        assert found == 1
    finally:
        events.close()
        producer.close()
        source.close()
        ledger.close()
    articles, _ = harness.published()
    texts = [a.text for a in articles if a.source.uri == "s3://news/drop/b.txt"]
    assert len(texts) == 2 and "ten hours" in texts[1]


def test_an_article_above_the_message_size_limit_is_dead_lettered_not_retried_forever(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    bucket = FolderBucket(tmp_path / "inbox")
    bucket.put("long.txt", fixture("trade_talks_comments.txt"))
    bucket.put("short.txt", fixture("port_strike_gtag.txt"))
    service = Harness(broker, bucket, tmp_path / "home", kafka_max_message_bytes=2200).scan()
    assert service.report.objects == 2
    assert service.report.dead_letter_reasons == {"oversized": 1}
    assert len(service.report.article_ids) == 1


def test_an_unreadable_object_is_dead_lettered_and_the_rest_flows_on(broker: EmbeddedBroker, tmp_path: Path) -> None:
    bucket = FolderBucket(tmp_path / "inbox")
    bucket.put("locked.txt", fixture("trade_talks_comments.txt"))
    bucket.put("open.txt", fixture("port_strike_gtag.txt"))
    harness = Harness(broker, bucket, tmp_path / "home")
    service = harness.scan(lambda source: FaultySource(source, unreadable=frozenset({"locked.txt"})))
    assert service.report.objects == 2
    assert service.report.dead_letter_reasons == {"unreadable": 1}
    assert len(service.report.article_ids) == 1


def test_a_one_shot_run_waits_for_files_still_being_written(broker: EmbeddedBroker, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "fresh.txt").write_bytes(fixture("grain_deal_agencies.txt"))  # mtime: now, not yet settled
    settings = ServiceSettings(kafka_bootstrap_servers=broker.bootstrap_servers)
    ensure_topics(settings, [t.value for t in Topics])
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    producer = EventProducer(settings, "ingest-test")
    source = LocalFolderSource(inbox, settle_seconds=1.5, watch=False)
    service = ingest_service(source, ledger, producer, tmp_path / "q")
    service.run(threading.Event(), scan_interval_s=5.0, until_idle=True)
    producer.close()
    ledger.close()
    assert service.report.objects == 1 and len(service.report.article_ids) == 1


def test_events_carry_headers_and_topics_carry_the_configured_prefix(
    broker: EmbeddedBroker, bucket: Any, tmp_path: Path
) -> None:
    harness = Harness(broker, bucket, tmp_path / "home", kafka_topic_prefix="stg.")
    bucket.put("headers-trade.txt", fixture("trade_talks_comments.txt"))
    bucket.put("headers-empty.txt", b"")
    before_ms = time.time_ns() // 1_000_000
    harness.scan()
    after_ms = time.time_ns() // 1_000_000

    consumer = KafkaConsumer(
        bootstrap_servers=broker.bootstrap_servers, auto_offset_reset="earliest", consumer_timeout_ms=3000
    )
    consumer.subscribe(["stg.articles.cleaned", "stg.articles.deadletter", "articles.cleaned"])
    # Keyed by (topic, source uri): the shared S3 server may still list other tests' objects.
    received = {
        (message.topic, dict(message.headers).get("newsflow-source-uri", b"").decode()): message for message in consumer
    }
    consumer.close()
    assert {topic for topic, _ in received} == {"stg.articles.cleaned", "stg.articles.deadletter"}, (
        "unprefixed topic was used"
    )

    article = received[("stg.articles.cleaned", bucket.uri("headers-trade.txt"))]
    headers = {name: value.decode() for name, value in article.headers}
    assert headers["content-type"] == "application/json"
    assert headers["newsflow-schema"] == "CleanedArticle"
    assert headers["newsflow-schema-version"] == "1"
    assert len(headers["newsflow-trace-id"]) == 32 and int(headers["newsflow-trace-id"], 16) >= 0
    assert before_ms <= int(headers["newsflow-seen-at"]) <= after_ms

    letter = received[("stg.articles.deadletter", bucket.uri("headers-empty.txt"))]
    dead = {name: value.decode() for name, value in letter.headers}
    assert dead["newsflow-schema"] == "DeadLetter"
    assert dead["newsflow.errors.stage"] == "ingest"
    assert dead["newsflow.errors.reason"] == "empty"
    assert dead["newsflow.errors.exception.class.name"] == "services.runtime.errors.InvalidInput"
    assert dead["newsflow.errors.exception.message"] == DeadLetter.model_validate_json(letter.value).error
    assert dead["newsflow-trace-id"] != headers["newsflow-trace-id"], "one trace per object version"
    assert "newsflow.errors.offset" not in dead  # ingest refuses objects, not messages
