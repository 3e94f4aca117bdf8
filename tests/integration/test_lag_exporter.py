"""Lag read from the broker: visible for a group whose consumer is down (or never started), and it
falls as the group commits."""

from __future__ import annotations

from kafka import KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KafkaTopicPartition
from kafka.structs import OffsetAndMetadata
from prometheus_client import REGISTRY

from services.contracts import Stage
from services.localstack import EmbeddedBroker
from services.runtime.kafka import BrokerOffsets, ensure_topics
from services.runtime.lag import LagExporter, LagExporterSettings, WatchedGroup

TOPIC = "articles.cleaned"


def _lag(partition: int) -> float | None:
    return REGISTRY.get_sample_value(
        "newsflow_consumer_lag", {"stage": "enrich", "topic": TOPIC, "partition": str(partition)}
    )


def test_lag_of_a_group_with_no_running_consumer_comes_from_the_broker(broker: EmbeddedBroker, namespace: str) -> None:
    settings = LagExporterSettings(kafka_bootstrap_servers=broker.bootstrap_servers, kafka_topic_partitions=2)
    ensure_topics(settings, [TOPIC])
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap_servers)
    for n in range(5):
        producer.send(TOPIC, key=b"k", value=f"m{n}".encode(), partition=0)
    for n in range(3):
        producer.send(TOPIC, key=b"k", value=f"m{n}".encode(), partition=1)
    producer.flush()
    producer.close()

    group = f"enrich-{namespace}"
    offsets = BrokerOffsets(settings)
    try:
        exporter = LagExporter(offsets, [WatchedGroup(Stage.ENRICH, group, (TOPIC,))])
        exporter.collect_once()
        # Nobody ever consumed: everything is lag, although no consumer exists to report it.
        assert (_lag(0), _lag(1)) == (5.0, 3.0)

        # A consumer of the group commits part of partition 0 and goes away.
        consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap_servers, group_id=group, enable_auto_commit=False)
        consumer.assign([KafkaTopicPartition(TOPIC, 0)])
        consumer.commit({KafkaTopicPartition(TOPIC, 0): OffsetAndMetadata(4, "", -1)})
        consumer.close(autocommit=False)
        exporter.collect_once()
        assert (_lag(0), _lag(1)) == (1.0, 3.0)
        assert REGISTRY.get_sample_value("newsflow_lag_exporter_last_success_timestamp_seconds")
    finally:
        offsets.close()
