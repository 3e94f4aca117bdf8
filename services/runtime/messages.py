"""Broker-neutral message types and their headers. Offsets travel with the message; only the runner commits.

Headers (names in ``services.contracts.headers``) are built here from the event and its ``Trace``, and
read back from consumed messages, so the Kafka adapter only moves bytes.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from pydantic import BaseModel

from services.contracts import DeadLetter
from services.contracts.headers import CONTENT_TYPE_JSON, Header


@dataclass(frozen=True)
class TopicPartition:
    topic: str
    partition: int


@dataclass(frozen=True)
class Trace:
    """What travels with an article from ingest to Postgres, unchanged: its trace id, when ingest first
    saw its object version, where it came from, and (after a redrive) which dead letter it came back from."""

    trace_id: str
    seen_at_ms: int | None = None
    source_uri: str | None = None
    redrive_of: str | None = None
    # run_id of the backfill that republished the article (``newsflow reenrich``).
    backfill_of: str | None = None


@dataclass(frozen=True)
class ConsumedMessage:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()

    @property
    def tp(self) -> TopicPartition:
        return TopicPartition(self.topic, self.partition)

    @property
    def committable(self) -> int:
        """The offset to commit once this message's work is durable: the *next* one to read."""
        return self.offset + 1

    def header(self, name: str) -> str | None:
        """The last value of a header, decoded as UTF-8 (Kafka allows repeats; the last one wins)."""
        found = None
        for key, value in self.headers:
            if key == name:
                found = value
        return None if found is None else found.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class OutgoingEvent:
    topic: str
    key: str
    event: BaseModel
    # None: the runner inherits the trace of the consumed message with the same key.
    trace: Trace | None = None


def encode(event: BaseModel) -> bytes:
    """The wire form of every event: UTF-8 JSON of the contract model."""
    return event.model_dump_json().encode("utf-8")


def trace_id_for(*parts: str) -> str:
    """A deterministic trace id (32 hex digits, W3C trace-id shaped): the same input, re-read after a
    crash, keeps the same trace."""
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:32]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def _valid_trace_id(value: str) -> bool:
    return len(value) == 32 and all(c in "0123456789abcdef" for c in value)


def trace_of(message: ConsumedMessage) -> Trace:
    """The trace a consumed message carries; a message from a producer that set none gets a
    deterministic one from its coordinates, so a redelivery traces the same."""
    carried = message.header(Header.TRACE_ID)
    trace_id = (
        carried
        if carried is not None and _valid_trace_id(carried)
        else trace_id_for(message.topic, str(message.partition), str(message.offset))
    )
    seen_at = message.header(Header.SEEN_AT)
    return Trace(
        trace_id=trace_id,
        seen_at_ms=int(seen_at) if seen_at is not None and seen_at.isascii() and seen_at.isdigit() else None,
        source_uri=message.header(Header.SOURCE_URI),
        redrive_of=message.header(Header.REDRIVE_OF),
        backfill_of=message.header(Header.BACKFILL_OF),
    )


def event_headers(event: BaseModel, trace: Trace) -> list[tuple[str, bytes]]:
    """Every header of one outgoing event, in a stable order."""
    source = getattr(event, "source", None)
    source_uri = source.uri if source is not None else trace.source_uri
    values: list[tuple[str, str | None]] = [
        (Header.CONTENT_TYPE, CONTENT_TYPE_JSON),
        (Header.SCHEMA, type(event).__name__),
        (Header.SCHEMA_VERSION, str(getattr(event, "schema_version", ""))),
        (Header.TRACE_ID, trace.trace_id),
        (Header.SOURCE_URI, source_uri),
        (Header.SEEN_AT, None if trace.seen_at_ms is None else str(trace.seen_at_ms)),
        (Header.REDRIVE_OF, trace.redrive_of),
        (Header.BACKFILL_OF, trace.backfill_of),
    ]
    if isinstance(event, DeadLetter):
        original = event.original
        values += [
            (Header.ERROR_STAGE, event.stage.value),
            (Header.ERROR_REASON, event.reason.value),
            (Header.ERROR_EXCEPTION_CLASS, event.exception_class),
            (Header.ERROR_EXCEPTION_MESSAGE, event.error),
            (Header.ERROR_TOPIC, None if original is None else original.topic),
            (Header.ERROR_PARTITION, None if original is None else str(original.partition)),
            (Header.ERROR_OFFSET, None if original is None else str(original.offset)),
        ]
    return [(str(name), value.encode("utf-8")) for name, value in values if value is not None]


def committable_offsets(messages: list[ConsumedMessage]) -> dict[TopicPartition, int]:
    """Highest committable offset per partition of a batch."""
    offsets: dict[TopicPartition, int] = {}
    for message in messages:
        offsets[message.tp] = max(offsets.get(message.tp, 0), message.committable)
    return offsets
