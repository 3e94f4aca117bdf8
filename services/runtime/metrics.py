"""Every Prometheus collector of newsflow, declared once, each with help text and bounded labels.

Label values come from closed sets: ``stage`` (ingest|enrich|store), ``topic`` (the three topics),
``outcome`` (see ``Outcome``), ``reason`` (``DeadLetterReason``), ``partition`` (bounded by the
topic's partition count), ``source_kind`` (local|s3), ``table`` (the store's tables), ``language``
(ISO 639-1 codes py3langid knows, plus ``unknown``), ``attributed`` (true|false).

Collectors are defined here but served per process: ``registry_for(stage)`` builds the registry a
process exposes on ``/metrics`` with the core series every stage emits plus that stage's own, every
labelled series born at 0 (``increase()`` needs a 0 sample to see the first dead letter).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from enum import StrEnum

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.metrics import MetricWrapperBase

from services.contracts import DeadLetterReason, Stage, Topics

# The header ingest sets when it first sees an object (epoch milliseconds, ASCII decimal).
SEEN_AT_HEADER = "newsflow-seen-at"

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
    "Inputs fully handled (Kafka messages; object versions for ingest), by outcome (ok, dead_letter, duplicate).",
    ["stage", "outcome"],
)
DEAD_LETTERS = Counter(
    "newsflow_dead_letters_total", "Inputs dead-lettered, by stage and reason code.", ["stage", "reason"]
)
TRANSIENT_ERRORS = Counter(
    "newsflow_transient_errors_total", "Transient faults that paused a stage before a retry.", ["stage"]
)
HANDLER_FAILURES = Counter(
    "newsflow_handler_failures_total",
    "Exceptions of a stage's handler isolated to one message (retried, then dead-lettered as handler_failed).",
    ["stage"],
)
COMMIT_FAILURES = Counter(
    "newsflow_commit_failures_total",
    "Offset commits the group refused or the broker did not answer; the commit is retried, not the work.",
    ["stage"],
)
KEEPALIVE_POLLS = Counter(
    "newsflow_keepalive_polls_total",
    "Paused polls made during long work so the group does not put the consumer out (max.poll.interval.ms).",
    ["stage"],
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
IN_FLIGHT = Gauge(
    "newsflow_in_flight",
    "Inputs taken in but not yet durable (the batch being processed).",
    ["stage"],
)
LAST_BATCH_TIMESTAMP = Gauge(
    "newsflow_last_batch_timestamp_seconds",
    "Unix time at which the stage last completed a batch (its start time until the first).",
    ["stage"],
)
END_TO_END_SECONDS = Histogram(
    "newsflow_end_to_end_seconds",
    "From ingest first seeing the object to this stage's output being durable (store: row committed).",
    ["stage"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600),
)

# Written by the lag exporter from the broker's committed and end offsets, not by the consumers, so it
# stays visible while a consumer is down.
CONSUMER_LAG = Gauge(
    "newsflow_consumer_lag",
    "Messages between a consumer group's committed offset and the partition's end, read from the broker.",
    ["stage", "topic", "partition"],
)
LAG_LAST_SUCCESS = Gauge(
    "newsflow_lag_exporter_last_success_timestamp_seconds",
    "Unix time of the lag exporter's last successful read of the broker's offsets.",
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
INGEST_BACKLOG = Gauge("newsflow_ingest_backlog_objects", "Object versions found by the last scan and not yet handled.")
# Quality telemetry: drift here is a broken parser or model long before anyone reads an article.
INGEST_ARTICLE_WORDS = Histogram(
    "newsflow_ingest_article_words",
    "Words in each published article body (a shift left is a parser dropping text).",
    buckets=(0, 40, 80, 150, 300, 600, 1200, 2500, 5000),
)
INGEST_MISSING_DATE = Counter(
    "newsflow_ingest_articles_missing_date_total", "Published articles without a publication date."
)
INGEST_LANGUAGE = Counter(
    "newsflow_ingest_articles_by_language_total", "Published articles by detected language.", ["language"]
)

ENRICH_ANNOTATIONS = Counter(
    "newsflow_enrich_annotations_total", "Annotations produced, by kind (entity, quote, topic).", ["kind"]
)
ENRICH_QUOTES_PER_ARTICLE = Histogram(
    "newsflow_enrich_quotes_per_article",
    "Quotes found in each enriched article.",
    buckets=(0, 1, 2, 3, 5, 8, 13, 21),
)
ENRICH_QUOTES = Counter(
    "newsflow_enrich_quotes_total", "Quotes found, by whether a speaker was attributed.", ["attributed"]
)
ENRICH_WITHOUT_TOPIC = Counter(
    "newsflow_enrich_articles_without_top_level_topic_total",
    "Enriched articles with no top-level IPTC media topic.",
)

STORE_ROWS = Counter("newsflow_store_rows_written_total", "Rows upserted by the store, by table.", ["table"])
STORE_TRANSACTION_SECONDS = Histogram(
    "newsflow_store_transaction_seconds",
    "Duration of one store transaction (a whole batch).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)

# `newsflow reenrich` (a command, not a stage): served on --metrics-port while a backfill publishes.
BACKFILL_PUBLISHED = Counter(
    "newsflow_backfill_published_total",
    "Stored articles a backfill republished and the broker acknowledged (throughput: rate() of this).",
)
BACKFILL_REMAINING = Gauge(
    "newsflow_backfill_remaining_articles", "Articles of the running backfill not yet republished."
)

# The languages seeded at 0 so the quality board has a series per expected language from the start.
_SEEDED_LANGUAGES = ("en", "unknown")
_STORE_TABLES = ("article_sources", "articles", "entities", "quotes", "topics", "dead_letters")

CORE: tuple[MetricWrapperBase, ...] = (
    BUILD_INFO,
    MESSAGES_CONSUMED,
    MESSAGES_PRODUCED,
    MESSAGES_PROCESSED,
    DEAD_LETTERS,
    TRANSIENT_ERRORS,
    HANDLER_FAILURES,
    COMMIT_FAILURES,
    KEEPALIVE_POLLS,
    BATCH_SECONDS,
    BATCH_SIZE,
    IN_FLIGHT,
    LAST_BATCH_TIMESTAMP,
)
OWN: dict[Stage, tuple[MetricWrapperBase, ...]] = {
    Stage.INGEST: (
        INGEST_OBJECTS,
        INGEST_ARTICLES,
        INGEST_EXTRACT_SECONDS,
        INGEST_BACKLOG,
        INGEST_ARTICLE_WORDS,
        INGEST_MISSING_DATE,
        INGEST_LANGUAGE,
    ),
    Stage.ENRICH: (
        END_TO_END_SECONDS,
        ENRICH_ANNOTATIONS,
        ENRICH_QUOTES_PER_ARTICLE,
        ENRICH_QUOTES,
        ENRICH_WITHOUT_TOPIC,
    ),
    Stage.STORE: (END_TO_END_SECONDS, STORE_ROWS, STORE_TRANSACTION_SECONDS),
}
# What each stage consumes and produces: the topic label values it is born with.
_CONSUMES: dict[Stage, tuple[Topics, ...]] = {
    Stage.INGEST: (),
    Stage.ENRICH: (Topics.CLEANED,),
    Stage.STORE: (Topics.ENRICHED, Topics.DEADLETTER),
}
_PRODUCES: dict[Stage, tuple[Topics, ...]] = {
    Stage.INGEST: (Topics.CLEANED, Topics.DEADLETTER),
    Stage.ENRICH: (Topics.ENRICHED, Topics.DEADLETTER),
    Stage.STORE: (Topics.DEADLETTER,),
}


def _initialise(stage: Stage) -> None:
    """Create every labelled child of the stage's collectors at 0."""
    for topic in _CONSUMES[stage]:
        MESSAGES_CONSUMED.labels(stage, topic)
    for topic in _PRODUCES[stage]:
        MESSAGES_PRODUCED.labels(stage, topic)
    for outcome in Outcome:
        MESSAGES_PROCESSED.labels(stage, outcome)
    for reason in DeadLetterReason:
        DEAD_LETTERS.labels(stage, reason)
    TRANSIENT_ERRORS.labels(stage)
    HANDLER_FAILURES.labels(stage)
    COMMIT_FAILURES.labels(stage)
    KEEPALIVE_POLLS.labels(stage)
    BATCH_SECONDS.labels(stage)
    BATCH_SIZE.labels(stage)
    IN_FLIGHT.labels(stage).set(0)
    LAST_BATCH_TIMESTAMP.labels(stage).set(time.time())
    if stage is Stage.INGEST:
        for kind in ("local", "s3"):
            for outcome in Outcome:
                INGEST_OBJECTS.labels(kind, outcome)
        for near in ("true", "false"):
            INGEST_ARTICLES.labels(near)
        for language in _SEEDED_LANGUAGES:
            INGEST_LANGUAGE.labels(language)
    elif stage is Stage.ENRICH:
        END_TO_END_SECONDS.labels(stage)
        for kind in ("entity", "quote", "topic"):
            ENRICH_ANNOTATIONS.labels(kind)
        for attributed in ("true", "false"):
            ENRICH_QUOTES.labels(attributed)
    else:
        END_TO_END_SECONDS.labels(stage)
        for table in _STORE_TABLES:
            STORE_ROWS.labels(table)


def registry_for(stage: Stage) -> CollectorRegistry:
    """The registry one stage's process serves: core series and its own, labelled children at 0."""
    _initialise(stage)
    return _registry([*CORE, *OWN[stage]])


def backfill_registry() -> CollectorRegistry:
    return _registry([BACKFILL_PUBLISHED, BACKFILL_REMAINING])


def lag_exporter_registry() -> CollectorRegistry:
    return _registry([CONSUMER_LAG, LAG_LAST_SUCCESS])


def _registry(collectors: Iterable[MetricWrapperBase]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=True)
    for collector in dict.fromkeys(collectors):  # END_TO_END_SECONDS is in two stages' lists
        registry.register(collector)
    return registry


def seen_at_seconds(headers: Iterable[tuple[str, bytes]], fallback: float) -> float:
    """When ingest first saw the object: the ``newsflow-seen-at`` header (epoch ms), else ``fallback``."""
    for name, value in headers:
        if name == SEEN_AT_HEADER:
            try:
                return int(value.decode("ascii")) / 1000
            except (UnicodeDecodeError, ValueError):
                return fallback  # a malformed header must not cost the article; the event's time is close
    return fallback
