"""An in-memory broker implementing ``ports.Consumer`` and ``ports.Producer``, for unit tests of the runner.

It models what the runner's discipline depends on, and only that: topics with partitions and keyed
partitioning; consumer groups whose members share partitions and commit offsets; rebalances that happen
inside ``poll`` and call the member's revocation callback; a member put out of the group when it has not
polled for ``max_poll_interval_ms`` (its commits then fail, as Kafka's ``CommitFailedError``); injectable
commit and flush failures. Time comes from an injectable clock so a test can make work "take" minutes.

Rebalances revoke only the partitions that move (Kafka's cooperative protocol); a newly assigned partition
starts at the group's committed offset, which is what makes an uncommitted batch come back.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

from services.runtime.errors import TransientError
from services.runtime.messages import ConsumedMessage, OutgoingEvent, TopicPartition, Trace, encode, event_headers

Clock = Callable[[], float]


@dataclass
class _Member:
    consumer: MemoryConsumer
    generation: int = -1  # the group generation whose assignment this member has taken (in poll)
    assignment: set[TopicPartition] = field(default_factory=set)


@dataclass
class _Group:
    topics: set[str] = field(default_factory=set)
    members: list[_Member] = field(default_factory=list)
    generation: int = 0
    committed: dict[TopicPartition, int] = field(default_factory=dict)
    commits: int = 0


class MemoryBroker:
    def __init__(self, *, partitions: int = 1, clock: Clock = time.monotonic) -> None:
        self.clock = clock
        self._default_partitions = partitions
        self._logs: dict[TopicPartition, list[ConsumedMessage]] = {}
        self._partitions: dict[str, int] = {}
        self._groups: dict[str, _Group] = {}
        self._lock = threading.RLock()
        self._failing_commits = 0
        self._failing_flushes = 0

    # -- topics and records -------------------------------------------------------------------------

    def create_topic(self, topic: str, partitions: int | None = None) -> None:
        with self._lock:
            if topic not in self._partitions:
                self._partitions[topic] = partitions or self._default_partitions
                for p in range(self._partitions[topic]):
                    self._logs[TopicPartition(topic, p)] = []

    def partitions(self, topic: str) -> list[TopicPartition]:
        self.create_topic(topic)
        return [TopicPartition(topic, p) for p in range(self._partitions[topic])]

    def append(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: tuple[tuple[str, bytes], ...] = (),
        partition: int | None = None,
    ) -> ConsumedMessage:
        """Write one record (keyed partitioning unless ``partition`` is given) and return it as consumed."""
        with self._lock:
            self.create_topic(topic)
            if partition is None:
                partition = 0 if key is None else zlib.crc32(key) % self._partitions[topic]
            log = self._logs[TopicPartition(topic, partition)]
            message = ConsumedMessage(topic, partition, len(log), key, value, headers)
            log.append(message)
            return message

    def records(self, topic: str) -> list[ConsumedMessage]:
        """Every record of a topic, partition by partition."""
        with self._lock:
            return [m for tp in self.partitions(topic) for m in self._logs[tp]]

    def end_offsets(self, topic: str) -> dict[TopicPartition, int]:
        with self._lock:
            return {tp: len(self._logs[tp]) for tp in self.partitions(topic)}

    # -- groups ------------------------------------------------------------------------------------

    def committed(self, group_id: str) -> dict[TopicPartition, int]:
        with self._lock:
            return dict(self._groups.setdefault(group_id, _Group()).committed)

    def commit_count(self, group_id: str) -> int:
        with self._lock:
            return self._groups.setdefault(group_id, _Group()).commits

    def fail_commits(self, times: int) -> None:
        """The next ``times`` commits of any group fail as if the coordinator could not be reached."""
        with self._lock:
            self._failing_commits = times

    def fail_flushes(self, times: int) -> None:
        """The next ``times`` producer flushes fail (their records are not written)."""
        with self._lock:
            self._failing_flushes = times

    def consumer(
        self,
        group_id: str,
        topics: list[str],
        on_revoked: Callable[[set[TopicPartition]], None] = lambda _: None,
        *,
        max_poll_interval_ms: int = 300_000,
        max_poll_records: int = 64,
    ) -> MemoryConsumer:
        return MemoryConsumer(self, group_id, topics, on_revoked, max_poll_interval_ms, max_poll_records)

    def producer(self) -> MemoryProducer:
        return MemoryProducer(self)

    def _join(self, group_id: str, member: _Member, topics: list[str]) -> None:
        with self._lock:
            group = self._groups.setdefault(group_id, _Group())
            group.topics |= set(topics)
            for topic in topics:
                self.create_topic(topic)
            group.members.append(member)
            group.generation += 1

    def _leave(self, group_id: str, member: _Member) -> None:
        with self._lock:
            group = self._groups[group_id]
            if member in group.members:
                group.members.remove(member)
                group.generation += 1

    def _share(self, group: _Group) -> dict[int, set[TopicPartition]]:
        """Round-robin of the group's partitions over its members, in join order."""
        shares: dict[int, set[TopicPartition]] = {id(m): set() for m in group.members}
        partitions = [tp for topic in sorted(group.topics) for tp in self.partitions(topic)]
        for i, tp in enumerate(partitions):
            shares[id(group.members[i % len(group.members)])].add(tp)
        return shares

    def _take_commit_failure(self) -> bool:
        with self._lock:
            if self._failing_commits:
                self._failing_commits -= 1
                return True
            return False

    def _take_flush_failure(self) -> bool:
        with self._lock:
            if self._failing_flushes:
                self._failing_flushes -= 1
                return True
            return False

    def _commit(self, group_id: str, offsets: dict[TopicPartition, int]) -> None:
        with self._lock:
            group = self._groups[group_id]
            group.committed.update(offsets)
            group.commits += 1

    def _read(self, tp: TopicPartition, position: int, limit: int) -> list[ConsumedMessage]:
        with self._lock:
            return self._logs[tp][position : position + limit]


class MemoryConsumer:
    def __init__(
        self,
        broker: MemoryBroker,
        group_id: str,
        topics: list[str],
        on_revoked: Callable[[set[TopicPartition]], None],
        max_poll_interval_ms: int,
        max_poll_records: int,
    ) -> None:
        self._broker = broker
        self._group_id = group_id
        self._topics = topics
        self._on_revoked = on_revoked
        self._max_poll_interval_s = max_poll_interval_ms / 1000
        self._max_poll_records = max_poll_records
        self._member = _Member(self)
        self._positions: dict[TopicPartition, int] = {}
        self._paused = False
        self._last_poll = broker.clock()
        self._in_group = True
        self.expulsions = 0  # how often the group put this member out for polling too late
        broker._join(group_id, self._member, topics)

    def _overdue(self) -> bool:
        return self._broker.clock() - self._last_poll > self._max_poll_interval_s

    def _expel_if_overdue(self) -> None:
        # Kafka's heartbeat thread leaves the group once max.poll.interval.ms passes without a poll.
        if self._in_group and self._overdue():
            self._broker._leave(self._group_id, self._member)
            self._in_group = False
            self.expulsions += 1

    def poll(self, timeout_ms: int) -> list[ConsumedMessage]:
        self._expel_if_overdue()
        broker = self._broker
        with broker._lock:
            rejoined = not self._in_group
            if rejoined:  # a member put out rejoins on its next poll, as kafka-python does
                broker._join(self._group_id, self._member, self._topics)
                self._in_group = True
            group = broker._groups[self._group_id]
            revoked: set[TopicPartition] = set()
            if self._member.generation != group.generation:
                held = self._member.assignment
                new = broker._share(group)[id(self._member)]
                # A member put out of the group lost everything it held, even what it gets back.
                revoked = set(held) if rejoined else held - new
                kept = set() if rejoined else held & new
                self._positions = {tp: self._positions[tp] for tp in kept}
                for tp in new - kept:
                    self._positions[tp] = group.committed.get(tp, 0)
                self._member.assignment = new
                self._member.generation = group.generation
        if revoked:
            self._on_revoked(revoked)
        self._last_poll = broker.clock()
        batch: list[ConsumedMessage] = []
        if not self._paused:
            for tp in sorted(self._member.assignment, key=lambda t: (t.topic, t.partition)):
                room = self._max_poll_records - len(batch)
                if room <= 0:
                    break
                fetched = broker._read(tp, self._positions[tp], room)
                self._positions[tp] += len(fetched)
                batch.extend(fetched)
        if not batch:
            time.sleep(min(timeout_ms, 2) / 1000)  # an idle poll waits a little, as a real one does
        return batch

    def pause_all(self) -> None:
        self._paused = True

    def resume_all(self) -> None:
        self._paused = False

    def assignment(self) -> set[TopicPartition]:
        return set(self._member.assignment) if self._in_group else set()

    def commit(self, offsets: dict[TopicPartition, int]) -> None:
        if not offsets:
            return
        self._expel_if_overdue()
        group = self._broker._groups[self._group_id]
        if not self._in_group:
            raise TransientError("offset commit failed: this member was put out of the group (max.poll.interval.ms)")
        if self._member.generation != group.generation:
            raise TransientError("offset commit failed: the group is rebalancing")
        foreign = set(offsets) - self._member.assignment
        if foreign:
            names = sorted(f"{tp.topic}-{tp.partition}" for tp in foreign)
            raise TransientError(f"offset commit failed: partitions not assigned to this member: {names}")
        if self._broker._take_commit_failure():
            raise TransientError("offset commit failed: coordinator not available (injected)")
        self._broker._commit(self._group_id, offsets)

    def close(self) -> None:
        if self._in_group:
            self._broker._leave(self._group_id, self._member)
            self._in_group = False


class MemoryProducer:
    def __init__(self, broker: MemoryBroker) -> None:
        self._broker = broker
        self._pending: list[OutgoingEvent] = []

    def send(self, outgoing: OutgoingEvent) -> None:
        self._pending.append(outgoing)

    def flush(self, timeout_s: float = 60.0) -> list[str]:
        pending, self._pending = self._pending, []
        if self._broker._take_flush_failure():
            raise TransientError("publishing failed: broker not available (injected)")
        for outgoing in pending:
            trace = outgoing.trace or Trace("0" * 32)
            headers = tuple(event_headers(outgoing.event, trace))
            self._broker.append(outgoing.topic, outgoing.key.encode("utf-8"), encode(outgoing.event), headers)
        return [outgoing.topic for outgoing in pending]

    def close(self) -> None:
        self._pending = []
