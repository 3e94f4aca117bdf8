"""The only module that imports kafka-python: producer and consumer adapters, topic creation.

Everything above this module speaks ``ConsumedMessage`` / ``OutgoingEvent`` and ``TopicPartition``
from ``services.runtime.messages``, so the runner's commit discipline can be read without Kafka APIs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KafkaTopicPartition
from kafka.admin import NewTopic
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import KafkaError, KafkaTimeoutError, NoBrokersAvailable, TopicAlreadyExistsError
from kafka.structs import OffsetAndMetadata
from pydantic import BaseModel

from services.runtime.errors import TransientError
from services.runtime.messages import ConsumedMessage, OutgoingEvent, TopicPartition
from services.runtime.settings import ServiceSettings

log = logging.getLogger(__name__)


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


def ensure_topics(settings: ServiceSettings, topics: Iterable[str]) -> None:
    """Create the topics if they do not exist (deployments may pre-create them with more partitions)."""
    try:
        admin = KafkaAdminClient(client_id="newsflow-admin", **_connection_config(settings))
    except NoBrokersAvailable as exc:
        raise TransientError(f"no Kafka broker at {settings.kafka_bootstrap_servers}") from exc
    try:
        for topic in topics:
            try:
                admin.create_topics(
                    [NewTopic(topic, settings.kafka_topic_partitions, settings.kafka_replication_factor)]
                )
                log.info("created topic", extra={"topic": topic})
            except TopicAlreadyExistsError:
                pass
    finally:
        admin.close()


def encode(event: BaseModel) -> bytes:
    """The wire form of every event: UTF-8 JSON of the contract model."""
    return event.model_dump_json().encode("utf-8")


class MessageTooLarge(Exception):
    """A stage tried to publish an event above the size limit; stages check ``fits`` first."""


class EventProducer:
    """Publishes contract events as JSON. ``flush`` returns only when every send is acknowledged,
    and raises if any was not: callers commit offsets or record progress only after it returns."""

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
        self.max_message_bytes = settings.kafka_max_message_bytes

    def fits(self, event: BaseModel) -> bool:
        return len(encode(event)) <= self.max_message_bytes

    def send(self, outgoing: OutgoingEvent) -> None:
        value = encode(outgoing.event)
        if len(value) > self.max_message_bytes:
            raise MessageTooLarge(f"{outgoing.topic} event of {len(value)} bytes for key {outgoing.key}")
        future = self._producer.send(outgoing.topic, key=outgoing.key.encode("utf-8"), value=value)
        self._pending.append((outgoing.topic, future))

    def flush(self, timeout_s: float = 60.0) -> list[str]:
        """Wait for every pending send; return the topics of the acknowledged events."""
        pending, self._pending = self._pending, []
        try:
            self._producer.flush(timeout=timeout_s)
        except KafkaTimeoutError as exc:
            raise TransientError(f"producer flush timed out after {timeout_s}s") from exc
        acknowledged: list[str] = []
        for topic, future in pending:
            # flush() waits but does not raise per record; a failed record surfaces here.
            try:
                future.get(timeout=0)
            except KafkaError as exc:
                raise TransientError(f"publishing to {topic} failed: {exc!r}") from exc
            acknowledged.append(topic)
        return acknowledged

    def close(self) -> None:
        self._producer.close(timeout=10)


class _RebalanceListener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, on_revoked: Callable[[set[TopicPartition]], None]) -> None:
        self._on_revoked = on_revoked

    def on_partitions_revoked(self, revoked: Any) -> None:
        self._on_revoked({TopicPartition(tp.topic, tp.partition) for tp in revoked})

    def on_partitions_assigned(self, assigned: Any) -> None:
        log.info(
            "partitions assigned",
            extra={"partitions": sorted(f"{tp.topic}-{tp.partition}" for tp in assigned)},
        )


class EventConsumer:
    """A consumer-group member with auto-commit off: the runner decides when offsets are committed."""

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
            **_connection_config(settings),
        )
        self._consumer.subscribe(topics, listener=_RebalanceListener(on_revoked))

    def poll(self, timeout_ms: int) -> list[ConsumedMessage]:
        records = self._consumer.poll(timeout_ms=timeout_ms)
        batch: list[ConsumedMessage] = []
        for tp, messages in records.items():
            for message in messages:
                batch.append(ConsumedMessage(tp.topic, tp.partition, message.offset, message.key, message.value))
        return batch

    def commit(self, offsets: dict[TopicPartition, int]) -> None:
        if not offsets:
            return
        try:
            self._consumer.commit(
                {
                    KafkaTopicPartition(tp.topic, tp.partition): OffsetAndMetadata(offset, "", -1)
                    for tp, offset in offsets.items()
                }
            )
        except KafkaError as exc:
            # A commit refused after a rebalance is safe to drop: the new owner re-reads from the last
            # committed offset and the work is idempotent downstream.
            raise TransientError(f"offset commit failed: {exc!r}") from exc

    def pause_all(self) -> None:
        self._consumer.pause(*self._consumer.assignment())

    def resume_all(self) -> None:
        self._consumer.resume(*self._consumer.assignment())

    def seek(self, offsets: dict[TopicPartition, int]) -> None:
        """Rewind to redeliver a batch that could not be finished (transient fault)."""
        assigned = self._consumer.assignment()
        for tp, offset in offsets.items():
            ktp = KafkaTopicPartition(tp.topic, tp.partition)
            if ktp in assigned:
                self._consumer.seek(ktp, offset)

    def lag(self) -> dict[TopicPartition, int]:
        assigned = list(self._consumer.assignment())
        if not assigned:
            return {}
        ends = self._consumer.end_offsets(assigned)
        lags: dict[TopicPartition, int] = {}
        for ktp in assigned:
            position = self._consumer.position(ktp)
            lags[TopicPartition(ktp.topic, ktp.partition)] = max(0, ends.get(ktp, position) - position)
        return lags

    def assignment(self) -> set[TopicPartition]:
        return {TopicPartition(tp.topic, tp.partition) for tp in self._consumer.assignment()}

    def close(self) -> None:
        self._consumer.close(autocommit=False)


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
