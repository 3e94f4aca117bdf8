"""Redrive planning (pure): what each dead letter becomes, and why some stay refused."""

from __future__ import annotations

import datetime as dt

import pytest

from services.contracts import CleanedArticle, DeadLetterReason, SourceRef, Stage, Topics
from services.ingest.formats import ExtractionOptions
from services.redrive import Republish, StillRefused, parse_since, plan, plan_ingest, plan_message
from services.runtime import deadletters
from services.runtime.deadletters import MAX_EMBEDDED_VALUE_CHARS
from services.runtime.messages import ConsumedMessage
from services.store.read import StoredDeadLetter

BODY = " ".join(f"word{i}" for i in range(30)) + "."
SOURCE = SourceRef(uri="/inbox/brief.txt", version="1", format="text", size=10, sha256="ab")


def cleaned() -> CleanedArticle:
    return CleanedArticle(
        article_id="a1",
        source=SOURCE,
        title="Brief",
        text=BODY,
        word_count=30,
        ingested_at=dt.datetime(2026, 12, 1, tzinfo=dt.UTC),
    )


def refused_message(value: bytes, topic: str = Topics.CLEANED) -> StoredDeadLetter:
    message = ConsumedMessage(topic, 1, 9, b"a1", value)
    letter = deadletters.for_message(Stage.ENRICH, DeadLetterReason.OVERSIZED, "too big", message, article_id="a1")
    return StoredDeadLetter(letter, "open", trace_id="c" * 32, seen_at_ms=1764572400000)


def test_a_complete_valid_payload_is_republished_to_its_topic_with_its_key_and_trace() -> None:
    step = plan_message(refused_message(cleaned().model_dump_json().encode()))
    assert isinstance(step, Republish)
    (event,) = step.events
    assert (event.topic, event.key, event.event) == (Topics.CLEANED, "a1", cleaned().model_copy())
    assert event.trace is not None
    assert (event.trace.trace_id, event.trace.seen_at_ms, event.trace.redrive_of) == (
        "c" * 32,
        1764572400000,
        step.dead_letter_id,
    )


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (b'{"article_id": 3}', "still not a valid CleanedArticle"),
        (b"x" * MAX_EMBEDDED_VALUE_CHARS, "the kept payload is not exact"),
        (b"\x00" + cleaned().model_dump_json().encode(), "the kept payload is not exact"),
    ],
)
def test_an_invalid_or_inexact_payload_stays_refused(value: bytes, why: str) -> None:
    step = plan_message(refused_message(value))
    assert isinstance(step, StillRefused) and step.why.startswith(why)


def ingest_letter(quarantine_uri: str | None) -> StoredDeadLetter:
    letter = deadletters.for_source(Stage.INGEST, DeadLetterReason.NOT_AN_ARTICLE, "short", SOURCE, quarantine_uri)
    return StoredDeadLetter(letter, "open", trace_id="d" * 32)


def test_an_ingest_dead_letter_is_extracted_again_with_todays_settings() -> None:
    copies = {"/q/ab": BODY.encode()}
    strict = plan_ingest(ingest_letter("/q/ab"), copies.get, ExtractionOptions(min_body_words=40))
    assert isinstance(strict, StillRefused) and strict.why.startswith("still refused: not_an_article")
    fixed = plan_ingest(ingest_letter("/q/ab"), copies.get, ExtractionOptions(min_body_words=20))
    assert isinstance(fixed, Republish)
    (event,) = fixed.events
    assert event.topic == Topics.CLEANED and isinstance(event.event, CleanedArticle)
    assert event.event.source.uri == SOURCE.uri and event.event.word_count == 30
    assert event.trace is not None and event.trace.trace_id == "d" * 32


def test_without_a_quarantine_copy_nothing_can_be_redriven() -> None:
    report = plan([ingest_letter(None), ingest_letter("/q/gone")], {}.get, ExtractionOptions())
    assert report.redriven == []
    assert [r.why.split(";")[0] for r in report.refused] == ["no quarantine copy", "quarantine copy /q/gone is gone"]


def test_since_takes_iso_times_and_ages() -> None:
    now = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)
    assert parse_since("6h", now) == dt.datetime(2026, 12, 1, 6, tzinfo=dt.UTC)
    assert parse_since("2d", now) == dt.datetime(2026, 11, 29, 12, tzinfo=dt.UTC)
    assert parse_since("2026-11-30", now) == dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
    with pytest.raises(ValueError, match="expected an ISO date/time"):
        parse_since("yesterday", now)
