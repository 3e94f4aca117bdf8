"""Building dead letters. Ids are deterministic so a redelivered failure is the same dead letter."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from pydantic import BaseModel, ValidationError

from services.contracts import DeadLetter, DeadLetterReason, OriginalMessage, SourceRef, Stage
from services.runtime.messages import ConsumedMessage

# Keep dead letters well below the broker's message size limit; the full input stays in the source
# topic or the quarantine copy, which the dead letter points to.
MAX_EMBEDDED_VALUE_CHARS = 64_000
# A value larger than this is not parsed just to find its origin (the dead letter is built in any case).
_MAX_ORIGIN_PARSE_BYTES = 16 * 1024 * 1024


def _dead_letter_id(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:32]


def exception_class(exception: BaseException | None) -> str | None:
    """``module.Class`` of the error behind a dead letter, for its error-context header."""
    if exception is None:
        return None
    kind = type(exception)
    return f"{kind.__module__}.{kind.__qualname__}"


def _origin_fields(event: BaseModel | dict[str, Any] | None) -> tuple[str | None, SourceRef | None]:
    if isinstance(event, BaseModel):
        article_id, source = getattr(event, "article_id", None), getattr(event, "source", None)
        return (article_id if isinstance(article_id, str) else None, source if isinstance(source, SourceRef) else None)
    if not isinstance(event, dict):
        return None, None
    article_id = event.get("article_id")
    try:
        source = SourceRef.model_validate(event.get("source"))
    except ValidationError:
        source = None
    return (article_id if isinstance(article_id, str) else None, source)


def origin_of(message: ConsumedMessage, event: BaseModel | None = None) -> tuple[str | None, SourceRef | None]:
    """The article id and source object of a consumed message: from its decoded event, else whatever of
    them its raw JSON still holds (an event that fails its contract often has both intact)."""
    if event is not None:
        return _origin_fields(event)
    if message.value is None or len(message.value) > _MAX_ORIGIN_PARSE_BYTES:
        return None, None
    try:
        parsed = json.loads(message.value)
    except ValueError:
        return None, None
    return _origin_fields(parsed)


def with_origin(dead_letter: DeadLetter, message: ConsumedMessage, event: BaseModel | None = None) -> DeadLetter:
    """The dead letter with the article id and source filled in where the stage left them out, so that
    every stage's dead letter says which file it was about, not only ``topic[partition]@offset``."""
    if dead_letter.article_id is not None and dead_letter.source is not None:
        return dead_letter
    article_id, source = origin_of(message, event)
    return dead_letter.model_copy(
        update={"article_id": dead_letter.article_id or article_id, "source": dead_letter.source or source}
    )


def for_message(
    stage: Stage,
    reason: DeadLetterReason,
    error: str,
    message: ConsumedMessage,
    article_id: str | None = None,
    exception: BaseException | None = None,
    source: SourceRef | None = None,
) -> DeadLetter:
    """A consumed Kafka message that the stage refused."""
    value = None if message.value is None else message.value.decode("utf-8", errors="replace")
    if value is not None:
        # Postgres text and jsonb cannot hold NUL; poison often contains it. The exact bytes stay on
        # the source topic at the recorded offset.
        value = value.replace("\x00", "\ufffd")
    if value is not None and len(value) > MAX_EMBEDDED_VALUE_CHARS:
        value = value[:MAX_EMBEDDED_VALUE_CHARS]
    return DeadLetter(
        dead_letter_id=_dead_letter_id(stage, message.topic, str(message.partition), str(message.offset)),
        stage=stage,
        reason=reason,
        error=error,
        article_id=article_id,
        source=source,
        original=OriginalMessage(
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            key=None if message.key is None else message.key.decode("utf-8", errors="replace"),
            value=value,
        ),
        occurred_at=dt.datetime.now(dt.UTC),
        exception_class=exception_class(exception),
    )


def for_source(
    stage: Stage,
    reason: DeadLetterReason,
    error: str,
    source: SourceRef,
    quarantine_uri: str | None,
    exception: BaseException | None = None,
) -> DeadLetter:
    """A bucket object (or one record inside it) that ingest refused."""
    record = "" if source.record is None else str(source.record)
    return DeadLetter(
        dead_letter_id=_dead_letter_id(stage, source.uri, source.version, record),
        stage=stage,
        reason=reason,
        error=error,
        source=source,
        quarantine_uri=quarantine_uri,
        occurred_at=dt.datetime.now(dt.UTC),
        exception_class=exception_class(exception),
    )


def key_of(dead_letter: DeadLetter) -> str:
    """Partition key: the article when known, so its history stays ordered, else the source."""
    if dead_letter.article_id:
        return dead_letter.article_id
    if dead_letter.source is not None:
        return dead_letter.source.uri
    return dead_letter.dead_letter_id
