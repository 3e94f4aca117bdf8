"""What the runner needs from a broker, and nothing more: a consumer-group member and a producer.

``services.runtime.kafka`` implements these on kafka-python; ``services.runtime.memory_broker`` implements
them in memory for unit tests of the runner's commit, retry and dead-letter discipline. The runner depends
on these protocols only, so its rules can be tested without a broker and read without Kafka's API.
"""

from __future__ import annotations

from typing import Protocol

from services.runtime.messages import ConsumedMessage, OutgoingEvent, TopicPartition


class Consumer(Protocol):
    """A consumer-group member with auto-commit off. Rebalances happen only inside ``poll``: that is where
    the group calls the revocation callback the member was built with."""

    def poll(self, timeout_ms: int) -> list[ConsumedMessage]:
        """The next messages of unpaused partitions (possibly none). Calling it also tells the group this
        member is alive: a member that does not poll for ``max.poll.interval.ms`` is put out of the group."""
        ...

    def pause_all(self) -> None:
        """Stop fetching from every assigned partition, and from those a rebalance assigns until
        ``resume_all``; ``poll`` then only keeps the membership alive and runs rebalances."""
        ...

    def resume_all(self) -> None: ...

    def assignment(self) -> set[TopicPartition]: ...

    def commit(self, offsets: dict[TopicPartition, int]) -> None:
        """Commit the next offsets to read. Raises ``TransientError`` when the group refuses or the
        broker cannot be reached; nothing is committed then."""
        ...

    def close(self) -> None: ...


class Producer(Protocol):
    def send(self, outgoing: OutgoingEvent) -> None:
        """Queue one event; it is not durable before ``flush`` returns."""
        ...

    def flush(self, timeout_s: float = 60.0) -> list[str]:
        """Wait for every queued send; return the topics of the acknowledged events. Raises
        ``TransientError`` unless every one was acknowledged."""
        ...

    def close(self) -> None: ...
