"""Static partition assignment (one-shot runs) on the real broker: members split the partitions
without a group join, consume everything between them, and their commits are the group's offsets."""

from __future__ import annotations

from kafka import KafkaProducer

from services.localstack import EmbeddedBroker
from services.runtime.kafka import BrokerOffsets, EventConsumer, ensure_topics
from services.runtime.messages import TopicPartition
from services.runtime.settings import ServiceSettings

TOPIC = "articles.cleaned"
PARTITIONS = 4


def _member(broker: EmbeddedBroker, member: int, members: int) -> ServiceSettings:
    return ServiceSettings(
        kafka_bootstrap_servers=broker.bootstrap_servers,
        kafka_topic_partitions=PARTITIONS,
        kafka_assignment="static",
        kafka_static_member=member,
        kafka_static_members=members,
    )


def test_static_members_split_the_partitions_and_commit_for_the_group(broker: EmbeddedBroker, namespace: str) -> None:
    ensure_topics(_member(broker, 0, 2), [TOPIC])
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap_servers)
    for partition in range(PARTITIONS):
        for n in range(3):
            producer.send(TOPIC, key=b"k", value=f"p{partition}-m{n}".encode(), partition=partition)
    producer.flush()
    producer.close()

    group = f"enrich-{namespace}"
    revoked: list[set[TopicPartition]] = []
    consumers = [EventConsumer(_member(broker, m, 2), group, [TOPIC], on_revoked=revoked.append) for m in range(2)]
    try:
        assert [c.assignment() for c in consumers] == [
            {TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 2)},
            {TopicPartition(TOPIC, 1), TopicPartition(TOPIC, 3)},
        ]
        received: dict[int, list[bytes]] = {0: [], 1: []}
        for _ in range(20):
            for m, consumer in enumerate(consumers):
                batch = consumer.poll(timeout_ms=200)
                received[m] += [message.value for message in batch if message.value is not None]
                ends: dict[TopicPartition, int] = {}
                for message in batch:
                    tp = TopicPartition(message.topic, message.partition)
                    ends[tp] = max(ends.get(tp, 0), message.offset + 1)
                consumer.commit(ends)
            if sum(len(v) for v in received.values()) == 3 * PARTITIONS:
                break
        assert sorted(v.decode()[:2] for v in received[0]) == ["p0"] * 3 + ["p2"] * 3
        assert sorted(v.decode()[:2] for v in received[1]) == ["p1"] * 3 + ["p3"] * 3
        assert revoked == []  # nothing is ever taken away from a static member
    finally:
        for consumer in consumers:
            consumer.close()

    offsets = BrokerOffsets(_member(broker, 0, 1))
    try:
        partitions = [TopicPartition(TOPIC, p) for p in range(PARTITIONS)]
        assert offsets.committed(group, partitions) == dict.fromkeys(partitions, 3)
    finally:
        offsets.close()
