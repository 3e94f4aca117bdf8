"""Broker-neutral message types. Offsets travel with the message; only the runner commits."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel


@dataclass(frozen=True)
class TopicPartition:
    topic: str
    partition: int


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


@dataclass(frozen=True)
class OutgoingEvent:
    topic: str
    key: str
    event: BaseModel


def committable_offsets(messages: list[ConsumedMessage]) -> dict[TopicPartition, int]:
    """Highest committable offset per partition of a batch."""
    offsets: dict[TopicPartition, int] = {}
    for message in messages:
        offsets[message.tp] = max(offsets.get(message.tp, 0), message.committable)
    return offsets
