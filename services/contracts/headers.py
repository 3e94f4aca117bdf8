"""Kafka message headers: part of the public contract, like the payloads (documented in the AsyncAPI file).

Header values are UTF-8 strings on the wire. Every event carries the ``EVENT`` headers; a dead letter
also carries the ``ERROR`` context, named after Kafka Connect's ``__connect.errors.*`` headers so tools
that read those find their way. Names are only ever added, never renamed: subscribers filter on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Header(StrEnum):
    CONTENT_TYPE = "content-type"
    SCHEMA = "newsflow-schema"
    SCHEMA_VERSION = "newsflow-schema-version"
    SOURCE_URI = "newsflow-source-uri"
    TRACE_ID = "newsflow-trace-id"
    SEEN_AT = "newsflow-seen-at"
    REDRIVE_OF = "newsflow-redrive-of"
    BACKFILL_OF = "newsflow-backfill-of"
    ERROR_STAGE = "newsflow.errors.stage"
    ERROR_REASON = "newsflow.errors.reason"
    ERROR_EXCEPTION_CLASS = "newsflow.errors.exception.class.name"
    ERROR_EXCEPTION_MESSAGE = "newsflow.errors.exception.message"
    ERROR_TOPIC = "newsflow.errors.topic"
    ERROR_PARTITION = "newsflow.errors.partition"
    ERROR_OFFSET = "newsflow.errors.offset"


CONTENT_TYPE_JSON = "application/json"


@dataclass(frozen=True)
class HeaderDoc:
    description: str
    required: bool
    pattern: str | None = None


EVENT_HEADERS: dict[Header, HeaderDoc] = {
    Header.CONTENT_TYPE: HeaderDoc("Always application/json: the value is UTF-8 JSON of the payload schema.", True),
    Header.SCHEMA: HeaderDoc("Name of the payload model, e.g. EnrichedArticle.", True),
    Header.SCHEMA_VERSION: HeaderDoc("The payload's schema_version as a decimal string.", True, r"^[0-9]+$"),
    Header.TRACE_ID: HeaderDoc(
        "32 lowercase hex digits (a W3C trace-id), set by ingest for each object version it reads and kept "
        "unchanged through enrich, store, dead letters and redrives; stored in Postgres with the row.",
        True,
        r"^[0-9a-f]{32}$",
    ),
    Header.SOURCE_URI: HeaderDoc("The bucket key or file path the article came from, when known.", False),
    Header.SEEN_AT: HeaderDoc(
        "When ingest first saw the object version: Unix epoch milliseconds as ASCII decimal. Set by ingest, "
        "propagated unchanged by every later stage (end-to-end latency is now minus this).",
        False,
        r"^[0-9]+$",
    ),
    Header.REDRIVE_OF: HeaderDoc("dead_letter_id of the dead letter this event was redriven from.", False),
    Header.BACKFILL_OF: HeaderDoc(
        "run_id of the `newsflow reenrich` backfill that republished this article (an old article brought to "
        "the current enrichment, not new news); kept by enrich on its output.",
        False,
    ),
}

ERROR_HEADERS: dict[Header, HeaderDoc] = {
    Header.ERROR_STAGE: HeaderDoc("Stage that refused the input: ingest, enrich or store.", True),
    Header.ERROR_REASON: HeaderDoc("The dead letter's reason code (see the payload's reason enum).", True),
    Header.ERROR_EXCEPTION_CLASS: HeaderDoc("Fully qualified class of the error that refused the input.", False),
    Header.ERROR_EXCEPTION_MESSAGE: HeaderDoc("Human-readable detail (the payload's error field).", True),
    Header.ERROR_TOPIC: HeaderDoc("Topic of the refused message (consumer stages only).", False),
    Header.ERROR_PARTITION: HeaderDoc("Partition of the refused message (consumer stages only).", False, r"^[0-9]+$"),
    Header.ERROR_OFFSET: HeaderDoc("Offset of the refused message (consumer stages only).", False, r"^[0-9]+$"),
}
