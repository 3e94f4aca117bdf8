"""Long work on a real broker: kafka-python's consumer stays in its group through paused keepalive polls,
so a batch that outlasts max.poll.interval.ms is committed once instead of being redelivered forever."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Sequence

import pytest

from services.contracts import CleanedArticle, SourceRef, Stage, Topics
from services.localstack import EmbeddedBroker
from services.runtime.health import Health
from services.runtime.kafka import BrokerOffsets, EventConsumer, EventProducer, ensure_topics
from services.runtime.lifecycle import run_consuming_stage
from services.runtime.messages import OutgoingEvent, TopicPartition
from services.runtime.runner import Envelope, HandlerResult
from services.runtime.settings import ServiceSettings

pytestmark = pytest.mark.integration


class SlowHandler:
    """Takes longer per batch than the group allows between polls, and counts what it handled."""

    def __init__(self, seconds_per_article: float) -> None:
        self.seconds_per_article = seconds_per_article
        self.handled: list[str] = []

    def handle(self, batch: Sequence[Envelope]) -> HandlerResult:
        time.sleep(self.seconds_per_article * len(batch))
        self.handled += [e.event.article_id for e in batch if isinstance(e.event, CleanedArticle)]
        return HandlerResult()


def _publish_articles(settings: ServiceSettings, count: int) -> None:
    """``count`` short cleaned articles a0, a1, ... on the cleaned topic."""
    producer = EventProducer(settings, "test-producer")
    for n in range(count):
        text = f"Article number {n} about the harbour."
        article = CleanedArticle(
            article_id=f"a{n}",
            source=SourceRef(uri=f"inbox/{n}.txt", version="1", format="text", size=len(text), sha256="0"),
            title="T",
            text=text,
            word_count=len(text.split()),
            ingested_at=dt.datetime.now(dt.UTC),
        )
        producer.send(OutgoingEvent(Topics.CLEANED, article.article_id, article))
    producer.flush()
    producer.close()


def test_a_batch_longer_than_the_poll_interval_is_handled_once(broker: EmbeddedBroker, namespace: str) -> None:
    settings = ServiceSettings(
        kafka_bootstrap_servers=broker.bootstrap_servers,
        kafka_topic_partitions=1,
        kafka_max_poll_interval_ms=3_000,
        batch_work_bytes=1,  # one article a piece, as long articles are
        retry_initial_backoff_s=0.1,
    )
    ensure_topics(settings, [t.value for t in Topics])
    _publish_articles(settings, 5)

    handler = SlowHandler(seconds_per_article=1.2)  # 6 s for the batch against a 3 s interval
    stop = threading.Event()
    group = f"keepalive-{namespace}"
    stage = threading.Thread(
        target=run_consuming_stage,
        kwargs={
            "stage": Stage.ENRICH,
            "settings": settings,
            "group_id": group,
            "models": {Topics.CLEANED: CleanedArticle},
            "handler": handler,
            "stop": stop,
            "health": Health(stall_after_s=60),
        },
        daemon=True,
    )
    stage.start()
    offsets = BrokerOffsets(settings)
    partition = TopicPartition(Topics.CLEANED, 0)
    try:
        for _ in range(600):  # up to a minute; the asserts say what went wrong
            if offsets.committed(group, [partition]).get(partition) == 5:
                break
            time.sleep(0.1)
        time.sleep(1.0)  # a redelivery, if there were one, would show in the handler's count now
    finally:
        stop.set()
        stage.join(30)
        committed = offsets.committed(group, [partition])
        offsets.close()

    assert committed.get(partition) == 5
    assert sorted(handler.handled) == ["a0", "a1", "a2", "a3", "a4"]


def test_partitions_assigned_during_a_paused_poll_stay_paused(broker: EmbeddedBroker, namespace: str) -> None:
    # Otherwise a keepalive or backoff poll would fetch them, and their records be read past unhandled.
    settings = ServiceSettings(kafka_bootstrap_servers=broker.bootstrap_servers, kafka_topic_partitions=2)
    ensure_topics(settings, [t.value for t in Topics])
    _publish_articles(settings, 6)
    group = f"paused-{namespace}"
    first = EventConsumer(settings, group, [Topics.CLEANED], lambda _: None)
    second = EventConsumer(settings, group, [Topics.CLEANED], lambda _: None)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # until the group has given each member its partition
            first.poll(100)
            second.poll(100)
            if len(first.assignment()) == 1 and len(second.assignment()) == 1:
                break
        assert len(first.assignment()) == 1 and len(second.assignment()) == 1
        taken_over = {tp.partition for tp in second.assignment()}
        first.pause_all()
        second.close()
        while_paused = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # paused polls, through the rebalance giving `first` both partitions
            while_paused += first.poll(100)
            if len(first.assignment()) == 2:
                break
        while_paused += first.poll(1000)
        assert len(first.assignment()) == 2
        assert while_paused == []
        first.resume_all()
        read: list[int] = []
        for _ in range(50):
            read += [m.partition for m in first.poll(200)]
            if taken_over <= set(read):
                break
        assert taken_over <= set(read)  # the partition taken over is read from its start, after the pause
    finally:
        first.close()
