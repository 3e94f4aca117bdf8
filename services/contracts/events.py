"""Event models, one per topic. Every model carries ``schema_version``.

Compatibility rules (enforced by ``tests/unit/contracts/test_schema_compat.py`` against the committed
files in ``schemas/``): within a schema version, fields may be added only as optional, existing fields
keep their names and types, and enum values are only ever added. Anything else is a new
``schema_version`` and a new set of schema files.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Event(BaseModel):
    # Unknown fields from a newer producer are ignored rather than rejected, so consumers can lag
    # a minor release behind producers.
    model_config = ConfigDict(extra="ignore", frozen=True)


class Stage(StrEnum):
    INGEST = "ingest"
    ENRICH = "enrich"
    STORE = "store"


class SourceRef(_Event):
    """Where an article came from: one version of one object in a bucket."""

    uri: str = Field(description="Bucket key or file path of the dropped object, e.g. s3://news/a.html.")
    version: str = Field(description="Object version: S3 ETag/version id, or size-mtime-sha256 for files.")
    record: int | None = Field(
        default=None, description="Index of the record inside a container file (JSON Lines, WARC)."
    )
    format: str = Field(description="Detected format: html, text, json, jsonl, warc (gzip is unwrapped).")
    size: int = Field(ge=0, description="Size of the object in bytes as read.")
    sha256: str = Field(description="SHA-256 of the object's bytes.")
    encoding: str | None = Field(
        default=None,
        description="Character encoding the text was read in (Python codec name: utf-8, cp1252, utf-16...); "
        "utf-8+cp1252 when a mostly UTF-8 file had stray bytes, read as windows-1252 letters or U+FFFD; "
        "null when not known (WARC records, older events).",
    )


class _ArticleFields(_Event):
    article_id: str = Field(description="Stable id: hash of the normalised body text.")
    source: SourceRef
    title: str
    standfirst: str | None = Field(default=None, description="Summary paragraph under the title; it also opens `text`.")
    text: str = Field(
        description="The whole article body, standfirst included, paragraphs separated by a blank line; "
        "never the title."
    )
    author: str | None = None
    url: str | None = Field(default=None, description="Canonical URL of the article, when known.")
    published_at: dt.date | None = Field(
        default=None, description="Publication date; null when it cannot be told with confidence."
    )
    language: str | None = Field(default=None, description="ISO 639-1 code.")
    word_count: int = Field(ge=0)
    duplicate_of: str | None = Field(
        default=None, description="article_id of an earlier near-duplicate (same story lightly edited)."
    )
    ingested_at: dt.datetime


class CleanedArticle(_ArticleFields):
    """Topic ``articles.cleaned``: an article extracted and cleaned by ingest, keyed by article_id."""

    schema_version: Literal[1] = 1


class Mention(_Event):
    start: int = Field(ge=0, description="Character offset into ``text`` (inclusive).")
    end: int = Field(ge=0, description="Character offset into ``text`` (exclusive).")


class Entity(_Event):
    text: str = Field(description="Most frequent surface form in the article.")
    canonical: str = Field(description="Canonical name within the article, e.g. the full name.")
    canonical_id: str = Field(description="Id shared by spelling variants across articles.")
    label: str = Field(description="spaCy entity label: PERSON, ORG, GPE, ...")
    count: int = Field(ge=1)
    salience: float = Field(ge=0.0, le=1.0)
    mentions: list[Mention] = Field(default_factory=list)


class Value(_Event):
    """A date, time, amount or number in the text: kept as a value, never given an entity id."""

    text: str
    label: str = Field(description="spaCy label: DATE, TIME, PERCENT, MONEY, QUANTITY, ORDINAL or CARDINAL.")
    start: int = Field(ge=0, description="Character offset into ``text`` (inclusive).")
    end: int = Field(ge=0, description="Character offset into ``text`` (exclusive).")


class QuoteKind(StrEnum):
    """What a quotation is. Only ``full`` and ``partial`` are speech; a ``term`` has no speaker."""

    FULL = "full"  # a whole quoted statement (one per statement, even when its attribution splits it)
    FRAGMENT = "fragment"  # kept for readers of older records; no longer emitted (now partial or term)
    PARTIAL = "partial"  # quoted words inside indirect speech ("said the plan was “dead on arrival”")
    TERM = "term"  # a term, scare quote, title or nickname: not speech


class QuotePart(_Event):
    start: int = Field(ge=0, description="Character offset into ``text`` (inclusive).")
    end: int = Field(ge=0, description="Character offset into ``text`` (exclusive).")


class SpeakerMention(_Event):
    text: str = Field(description="The words as they stand in ``text``.")
    start: int = Field(ge=0, description="Character offset into ``text`` (inclusive).")
    end: int = Field(ge=0, description="Character offset into ``text`` (exclusive).")


class Quote(_Event):
    text: str = Field(description="Quoted words without their quotation marks.")
    speaker: str | None = Field(
        default=None, description="Canonical speaker name, a description of an unnamed source, or null."
    )
    speaker_mention: SpeakerMention | None = Field(
        default=None,
        description="Where the attribution names the speaker, as written: a pronoun (“she said”), a surname, "
        "a title and name, a description (“the ministry”); ``speaker`` is whom it resolves to. For a quote "
        "that continues the previous one's speaker, that quote's mention. Null when there is no speaker.",
    )
    speaker_id: str | None = Field(default=None, description="canonical_id of the speaker entity.")
    kind: QuoteKind
    confidence: float = Field(ge=0.0, le=1.0)
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    cue: str | None = Field(default=None, description="The reporting verb or phrase that attributes it.")
    parts: list[QuotePart] = Field(
        default_factory=list,
        description="The quoted pieces when the attribution splits one statement (“…,” she said, “…”); "
        "``text`` joins them and ``start``/``end`` span all of them. Empty for a quote in one piece.",
    )
    clause: str | None = Field(
        default=None,
        description="For a partial quote: the sentence of indirect speech it sits in, quotation marks included.",
    )


class Topic(_Event):
    code: str = Field(description="IPTC Media Topic code, e.g. medtop:20000344.")
    label: str
    score: float = Field(ge=0.0, le=1.0)


class EnrichmentInfo(_Event):
    enricher_version: str
    model: str = Field(description="spaCy pipeline name, e.g. en_core_web_sm.")
    model_version: str
    enriched_at: dt.datetime
    topic_model: str | None = Field(
        default=None, description="Name of the top-level topic classifier, e.g. iptc-l1-tfidf-logreg."
    )
    topic_model_version: str | None = Field(
        default=None, description="Version of the topic classifier's trained weights (changes with every retrain)."
    )


class EnrichedArticle(_ArticleFields):
    """Topic ``articles.enriched``: a cleaned article plus entities, quotes, topics and its story."""

    schema_version: Literal[1] = 1
    entities: list[Entity] = Field(default_factory=list)
    quotes: list[Quote] = Field(default_factory=list)
    topics: list[Topic] = Field(default_factory=list)
    keyphrases: list[str] = Field(default_factory=list)
    story_id: str | None = Field(default=None, description="Id shared by articles about the same event.")
    enrichment: EnrichmentInfo
    values: list[Value] = Field(
        default_factory=list, description="Dates, times, amounts and numbers named in the text, in text order."
    )


class DeadLetterReason(StrEnum):
    EMPTY = "empty"
    BINARY = "binary"
    OVERSIZED = "oversized"
    UNDECODABLE = "undecodable"
    TRUNCATED_COMPRESSION = "truncated_compression"
    MALFORMED_JSON = "malformed_json"
    NO_RESPONSE_RECORDS = "no_response_records"
    NOT_AN_ARTICLE = "not_an_article"
    VANISHED = "vanished"
    UNREADABLE = "unreadable"
    UNSUPPORTED_FORMAT = "unsupported_format"
    INVALID_EVENT = "invalid_event"
    # The stage's code raised on this one message, alone, on every attempt (a library refusing odd text):
    # the message is set aside so the stage keeps flowing; the exception class says which error.
    HANDLER_FAILED = "handler_failed"
    NOT_A_REGULAR_FILE = "not_a_regular_file"
    HIDDEN_NAME = "hidden_name"


class OriginalMessage(_Event):
    """The Kafka message that could not be processed, when the failure happened in a consumer."""

    topic: str
    partition: int
    offset: int
    key: str | None = None
    value: str | None = Field(default=None, description="The message value, decoded as UTF-8 with replacement.")


class DeadLetter(_Event):
    """Topic ``articles.deadletter``: input that a stage refused, with the reason and a way back to it."""

    schema_version: Literal[1] = 1
    dead_letter_id: str = Field(description="Deterministic id: the same failure yields the same id.")
    stage: Stage
    reason: DeadLetterReason
    error: str = Field(description="Human-readable detail.")
    article_id: str | None = None
    source: SourceRef | None = None
    original: OriginalMessage | None = None
    quarantine_uri: str | None = Field(default=None, description="Where a copy of the offending input was kept.")
    occurred_at: dt.datetime
    exception_class: str | None = Field(
        default=None, description="Fully qualified class of the error that refused the input, when there was one."
    )
