"""Every Prometheus collector of newsflow, declared once, each with help text and bounded labels.

Label values come from closed sets: ``stage`` (ingest|enrich|store), ``topic`` (the three topics),
``outcome`` (see ``Outcome``), ``reason`` (``DeadLetterReason``), ``partition`` (bounded by the
topic's partition count), ``source_kind`` (local|s3), ``table`` (the store's tables).
"""

from __future__ import annotations

from enum import StrEnum

from prometheus_client import Counter, Gauge, Histogram, Info

BUILD_INFO = Info("newsflow_build", "Version of the running newsflow service.", ["stage"])

MESSAGES_CONSUMED = Counter(
    "newsflow_messages_consumed_total", "Kafka messages read by a consuming stage.", ["stage", "topic"]
)
MESSAGES_PRODUCED = Counter(
    "newsflow_messages_produced_total",
    "Events published and acknowledged by the broker.",
    ["stage", "topic"],
)


class Outcome(StrEnum):
    OK = "ok"
    DEAD_LETTER = "dead_letter"
    DUPLICATE = "duplicate"


MESSAGES_PROCESSED = Counter(
    "newsflow_messages_processed_total",
    "Inputs fully handled, by outcome (ok, dead_letter, duplicate).",
    ["stage", "outcome"],
)
DEAD_LETTERS = Counter(
    "newsflow_dead_letters_total", "Inputs dead-lettered, by stage and reason code.", ["stage", "reason"]
)
TRANSIENT_ERRORS = Counter(
    "newsflow_transient_errors_total", "Transient faults that paused a stage before a retry.", ["stage"]
)
BATCH_SECONDS = Histogram(
    "newsflow_batch_processing_seconds",
    "Time from a batch's arrival to its offsets being committed (or its files recorded as done).",
    ["stage"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
BATCH_SIZE = Histogram(
    "newsflow_batch_size",
    "Messages per processed batch.",
    ["stage"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
)
CONSUMER_LAG = Gauge(
    "newsflow_consumer_lag",
    "Messages between the consumer's position and the partition's end.",
    ["stage", "topic", "partition"],
)
LAST_BATCH_TIMESTAMP = Gauge(
    "newsflow_last_batch_timestamp_seconds", "Unix time at which the stage last completed a batch.", ["stage"]
)

INGEST_OBJECTS = Counter(
    "newsflow_ingest_objects_total",
    "Bucket object versions handled by ingest, by outcome (ok, dead_letter, duplicate).",
    ["source_kind", "outcome"],
)
INGEST_ARTICLES = Counter(
    "newsflow_ingest_articles_total",
    "Cleaned articles published, by whether they are near duplicates.",
    ["near_duplicate"],
)
INGEST_EXTRACT_SECONDS = Histogram(
    "newsflow_ingest_extract_seconds",
    "Time to read, extract and clean one object version.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)

ENRICH_ANNOTATIONS = Counter(
    "newsflow_enrich_annotations_total", "Annotations produced, by kind (entity, quote, topic).", ["kind"]
)

STORE_ROWS = Counter("newsflow_store_rows_written_total", "Rows upserted by the store, by table.", ["table"])
STORE_TRANSACTION_SECONDS = Histogram(
    "newsflow_store_transaction_seconds",
    "Duration of one store transaction (a whole batch).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
