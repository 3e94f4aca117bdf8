"""The only module that imports kafka-python: producer and consumer adapters, topic creation.

Everything above this module speaks ``ConsumedMessage`` / ``OutgoingEvent`` and ``TopicPartition``
from ``services.runtime.messages``, so the runner's commit discipline can be read without Kafka APIs.
``EventConsumer`` and ``EventProducer`` implement the runner's ports (``services.runtime.ports``).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KafkaTopicPartition
from kafka.admin import NewTopic
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import KafkaError, KafkaTimeoutError, NoBrokersAvailable, TopicAlreadyExistsError
from kafka.structs import OffsetAndMetadata
from pydantic import BaseModel

from services.runtime.errors import TransientError
from services.runtime.messages import ConsumedMessage, OutgoingEvent, TopicPartition, Trace, encode, event_headers
from services.runtime.settings import ServiceSettings

log = logging.getLogger(__name__)

# How long closing a consumer may wait on the broker (heartbeat thread, LeaveGroup answer).
_CLOSE_TIMEOUT_MS = 1_000


def _connection_config(settings: ServiceSettings) -> dict[str, Any]:
    config: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap_servers.split(","),
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_sasl_mechanism:
        config["sasl_mechanism"] = settings.kafka_sasl_mechanism
        config["sasl_plain_username"] = settings.kafka_sasl_username
        if settings.kafka_sasl_password is not None:
            config["sasl_plain_password"] = settings.kafka_sasl_password.get_secret_value()
    return config


def _fetch_config(settings: ServiceSettings) -> dict[str, Any]:
    """Fetch and receive sizes of every consumer, consistent by construction (see the settings)."""
    config: dict[str, Any] = {
        "max_partition_fetch_bytes": settings.kafka_max_partition_fetch_bytes,
        "fetch_max_bytes": settings.kafka_fetch_max_bytes,
        "receive_message_max_bytes": settings.kafka_receive_limit_bytes,
    }
    if settings.kafka_receive_buffer_bytes is not None:
        config["receive_buffer_bytes"] = settings.kafka_receive_buffer_bytes
    return config


def ensure_topics(settings: ServiceSettings, topics: Iterable[str]) -> None:
    """Create the topics (logical names; the deployment's prefix is added here) if they do not exist
    (deployments may pre-create them with more partitions)."""
    try:
        admin = KafkaAdminClient(client_id="newsflow-admin", **_connection_config(settings))
    except NoBrokersAvailable as exc:
        raise TransientError(f"no Kafka broker at {settings.kafka_bootstrap_servers}") from exc
    try:
        for topic in (settings.topic_name(t) for t in topics):
            try:
                admin.create_topics(
                    [NewTopic(topic, settings.kafka_topic_partitions, settings.kafka_replication_factor)]
                )
                log.info("created topic", extra={"topic": topic})
            except TopicAlreadyExistsError:
                pass
    finally:
        admin.close()


@dataclass(frozen=True)
class PublishedRecord:
    """Where an acknowledged event landed (contract topic name, without the deployment's prefix)."""

    topic: str
    partition: int
    offset: int


class MessageTooLarge(Exception):
    """A stage tried to publish an event above the size limit; stages check ``fits`` first."""


class EventProducer:
    """``ports.Producer`` on kafka-python. Publishes contract events as JSON. ``flush`` returns only when
    every send is acknowledged, and raises if any was not: callers commit offsets or record progress only
    after it returns."""

    def __init__(self, settings: ServiceSettings, client_id: str) -> None:
        self._producer = KafkaProducer(
            client_id=client_id,
            acks="all",
            enable_idempotence=settings.kafka_enable_idempotence,
            linger_ms=5,
            retries=5,
            max_request_size=8 * 1024 * 1024,
            **_connection_config(settings),
        )
        self._pending: list[tuple[str, Any]] = []
        self._settings = settings
        self.max_message_bytes = settings.kafka_max_message_bytes

    def fits(self, event: BaseModel) -> bool:
        return len(encode(event)) <= self.max_message_bytes

    def send(self, outgoing: OutgoingEvent) -> None:
        value = encode(outgoing.event)
        if len(value) > self.max_message_bytes:
            raise MessageTooLarge(f"{outgoing.topic} event of {len(value)} bytes for key {outgoing.key}")
        # Normally the stage or the runner set the trace; an event without one starts its own.
        trace = outgoing.trace or Trace(uuid.uuid4().hex)
        future = self._producer.send(
            self._settings.topic_name(outgoing.topic),
            key=outgoing.key.encode("utf-8"),
            value=value,
            headers=event_headers(outgoing.event, trace),
        )
        self._pending.append((outgoing.topic, future))

    def flush(self, timeout_s: float = 60.0) -> list[str]:
        """Wait for every pending send; return the topics of the acknowledged events."""
        return [record.topic for record in self.flush_records(timeout_s)]

    def flush_records(self, timeout_s: float = 60.0) -> list[PublishedRecord]:
        """Wait for every pending send; return where each acknowledged event landed, in send order."""
        pending, self._pending = self._pending, []
        try:
            self._producer.flush(timeout=timeout_s)
        except KafkaTimeoutError as exc:
            raise TransientError(f"producer flush timed out after {timeout_s}s") from exc
        acknowledged: list[PublishedRecord] = []
        for topic, future in pending:
            # flush() waits but does not raise per record; a failed record surfaces here.
            try:
                metadata = future.get(timeout=0)
            except KafkaError as exc:
                raise TransientError(f"publishing to {topic} failed: {exc!r}") from exc
            acknowledged.append(PublishedRecord(topic, int(metadata.partition), int(metadata.offset)))
        return acknowledged

    def close(self) -> None:
        self._producer.close(timeout=10)


class _RebalanceListener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(
        self,
        on_revoked: Callable[[set[TopicPartition]], None],
        on_assigned: Callable[[Any], None],
        prefix: str,
    ) -> None:
        self._on_revoked = on_revoked
        self._on_assigned = on_assigned
        self._prefix = prefix

    def on_partitions_revoked(self, revoked: Any) -> None:
        self._on_revoked({TopicPartition(tp.topic.removeprefix(self._prefix), tp.partition) for tp in revoked})

    def on_partitions_assigned(self, assigned: Any) -> None:
        log.info(
            "partitions assigned",
            extra={"partitions": sorted(f"{tp.topic}-{tp.partition}" for tp in assigned)},
        )
        self._on_assigned(assigned)


class EventConsumer:
    """``ports.Consumer`` on kafka-python: a consumer-group member with auto-commit off (the runner decides
    when offsets are committed)."""

    def __init__(
        self,
        settings: ServiceSettings,
        group_id: str,
        topics: list[str],
        on_revoked: Callable[[set[TopicPartition]], None],
    ) -> None:
        self._consumer = KafkaConsumer(
            group_id=group_id,
            client_id=group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=settings.kafka_session_timeout_ms,
            heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
            max_poll_interval_ms=settings.kafka_max_poll_interval_ms,
            max_poll_records=settings.kafka_max_poll_records,
            **_fetch_config(settings),
            **_connection_config(settings),
        )
        self._prefix = settings.kafka_topic_prefix
        self._paused = False
        names = [settings.topic_name(t) for t in topics]
        if settings.kafka_assignment == "static":
            self._assign_static(names, settings.kafka_static_member, settings.kafka_static_members)
        else:
            self._consumer.subscribe(
                names, listener=_RebalanceListener(on_revoked, self._pause_if_paused, self._prefix)
            )

    def _assign_static(self, topics: list[str], member: int, members: int) -> None:
        """Partitions p with p % members == member of every topic, without joining the group: no join
        to wait for and no rebalance at shutdown. Nothing is ever revoked."""
        assigned = [
            KafkaTopicPartition(topic, partition)
            for topic in topics
            for partition in sorted(self._consumer.partitions_for_topic(topic))
            if partition % members == member
        ]
        self._consumer.assign(assigned)
        log.info(
            "partitions assigned",
            extra={"partitions": sorted(f"{tp.topic}-{tp.partition}" for tp in assigned), "assignment": "static"},
        )

    def _pause_if_paused(self, assigned: Any) -> None:
        # Partitions assigned in a rebalance during a paused poll (a backoff, a keepalive) arrive unpaused
        # in kafka-python; fetched then, their records would be read past without being handled.
        if self._paused and assigned:
            self._consumer.pause(*assigned)

    def _logical(self, topic: str) -> str:
        return topic.removeprefix(self._prefix)

    def _physical(self, tp: TopicPartition) -> KafkaTopicPartition:
        return KafkaTopicPartition(self._prefix + tp.topic, tp.partition)

    def poll(self, timeout_ms: int) -> list[ConsumedMessage]:
        records = self._consumer.poll(timeout_ms=timeout_ms)
        batch: list[ConsumedMessage] = []
        for tp, messages in records.items():
            for message in messages:
                batch.append(
                    ConsumedMessage(
                        self._logical(tp.topic),
                        tp.partition,
                        message.offset,
                        message.key,
                        message.value,
                        tuple((name, value or b"") for name, value in (message.headers or [])),
                    )
                )
        return batch

    def commit(self, offsets: dict[TopicPartition, int]) -> None:
        if not offsets:
            return
        try:
            self._consumer.commit(
                {self._physical(tp): OffsetAndMetadata(offset, "", -1) for tp, offset in offsets.items()}
            )
        except KafkaError as exc:
            # Nothing was committed. The runner retries the commit (not the work) while it still owns the
            # partitions; if they moved (a rebalance, or this member was put out of the group for polling
            # too late), their new owner reads the batch again from the last commit, and it is the
            # idempotent writes downstream (keyed events, upserts) that make that second pass harmless.
            raise TransientError(f"offset commit failed: {exc!r}") from exc

    def pause_all(self) -> None:
        self._paused = True
        self._consumer.pause(*self._consumer.assignment())

    def resume_all(self) -> None:
        self._paused = False
        self._consumer.resume(*self._consumer.assignment())

    def assignment(self) -> set[TopicPartition]:
        return {TopicPartition(self._logical(tp.topic), tp.partition) for tp in self._consumer.assignment()}

    def close(self) -> None:
        # Offsets are committed by the runner after each batch; nothing is left to commit here. A group
        # member leaves without waiting for the rebalance its leaving starts (bounded, not indefinite).
        self._consumer.close(autocommit=False, timeout_ms=_CLOSE_TIMEOUT_MS)


class BrokerOffsets:
    """Reads consumer groups' committed offsets and partitions' end offsets from the broker, for the lag
    exporter: lag seen from outside the consumers stays visible while a consumer is down."""

    def __init__(self, settings: ServiceSettings) -> None:
        try:
            self._admin = KafkaAdminClient(client_id="newsflow-lag-exporter", **_connection_config(settings))
            self._consumer = KafkaConsumer(
                client_id="newsflow-lag-exporter",
                enable_auto_commit=False,
                fetch_max_wait_ms=100,
                max_partition_fetch_bytes=1024,
                # A broker answers at least one whole batch per partition, however small the limit.
                receive_message_max_bytes=settings.kafka_receive_limit_bytes,
                **_connection_config(settings),
            )
        except NoBrokersAvailable as exc:
            raise TransientError(f"no Kafka broker at {settings.kafka_bootstrap_servers}") from exc
        # Callers name contract topics; the broker knows them with KAFKA_TOPIC_PREFIX in front.
        self._prefix = settings.kafka_topic_prefix

    def _physical(self, tp: TopicPartition) -> KafkaTopicPartition:
        return KafkaTopicPartition(self._prefix + tp.topic, tp.partition)

    def _logical(self, ktp: Any) -> TopicPartition:
        return TopicPartition(ktp.topic.removeprefix(self._prefix), ktp.partition)

    def partitions(self, topic: str) -> list[TopicPartition]:
        found = self._consumer.partitions_for_topic(self._prefix + topic) or ()
        return [TopicPartition(topic, p) for p in sorted(found)]

    def end_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        """Each partition's end. The list-offsets answer is checked against the high watermark of a
        fetch from there: Tansu's in-memory engine answers the base offset of the last record batch + 1,
        short of the end when a batch holds several records (Apache Kafka's two answers agree)."""
        listed = self._offsets(partitions, self._consumer.end_offsets)
        if not listed:
            return listed
        kafka_partitions = [self._physical(tp) for tp in partitions]
        self._consumer.assign(kafka_partitions)
        for ktp in kafka_partitions:
            self._consumer.seek(ktp, listed.get(self._logical(ktp), 0))
        try:
            for _ in range(3):  # fetch answers may come per broker: until every partition has one
                self._consumer.poll(timeout_ms=1000)
                if all(self._consumer.highwater(ktp) is not None for ktp in kafka_partitions):
                    break
        except KafkaError as exc:
            raise TransientError(f"fetching high watermarks failed: {exc!r}") from exc
        ends: dict[TopicPartition, int] = {}
        for ktp in kafka_partitions:
            tp = self._logical(ktp)
            highwater = self._consumer.highwater(ktp)
            ends[tp] = max(listed.get(tp, 0), highwater if highwater is not None else 0)
        return ends

    def beginning_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        return self._offsets(partitions, self._consumer.beginning_offsets)

    def committed(self, group_id: str, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        """The group's committed offsets on these partitions (those it never committed are absent)."""
        if not partitions:
            return {}
        try:
            # Named partitions: Tansu cannot answer an OffsetFetch for "all topics" (topics=NULL).
            offsets = self._admin.list_consumer_group_offsets(
                group_id, partitions=[self._physical(tp) for tp in partitions]
            )
        except KafkaError as exc:
            raise TransientError(f"reading offsets of group {group_id} failed: {exc!r}") from exc
        return {self._logical(tp): int(meta.offset) for tp, meta in offsets.items() if meta.offset >= 0}

    def _offsets(
        self, partitions: list[TopicPartition], read: Callable[[list[KafkaTopicPartition]], dict[Any, int]]
    ) -> dict[TopicPartition, int]:
        if not partitions:
            return {}
        try:
            offsets = read([self._physical(tp) for tp in partitions])
        except KafkaError as exc:
            raise TransientError(f"reading partition offsets failed: {exc!r}") from exc
        return {self._logical(tp): int(offset) for tp, offset in offsets.items()}

    def close(self) -> None:
        self._consumer.close()
        self._admin.close()


class NotificationConsumer:
    """Raw message bodies of a topic of bucket event notifications (MinIO's Kafka target, or S3 events
    bridged to Kafka), read by a consumer group so each notification reaches one replica.

    Offsets auto-commit: a notification is only a hint that makes a change visible before the next full
    listing, which stays the source of truth, so one lost in a crash costs latency, never an object."""

    def __init__(self, settings: ServiceSettings, *, topic: str, group_id: str, client_id: str) -> None:
        try:
            self._consumer = KafkaConsumer(
                topic,
                client_id=client_id,
                group_id=group_id,
                enable_auto_commit=True,
                auto_offset_reset="latest",
                session_timeout_ms=settings.kafka_session_timeout_ms,
                heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
                **_fetch_config(settings),
                **_connection_config(settings),
            )
        except NoBrokersAvailable as exc:
            raise TransientError(f"no Kafka broker at {settings.kafka_bootstrap_servers}") from exc

    def receive(self, timeout_s: float) -> list[str]:
        try:
            batches = self._consumer.poll(timeout_ms=int(timeout_s * 1000))
        except KafkaError as exc:
            raise TransientError(f"receiving bucket notifications failed: {exc!r}") from exc
        return [bytes(r.value).decode("utf-8", "replace") for records in batches.values() for r in records if r.value]

    def assigned(self) -> bool:
        """Whether this consumer has partitions yet (notifications sent before that are not seen)."""
        return bool(self._consumer.assignment())

    def close(self) -> None:
        self._consumer.close()
