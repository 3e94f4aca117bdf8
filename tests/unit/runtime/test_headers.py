"""Headers are built from the event and its trace, and read back from consumed messages (pure logic)."""

from __future__ import annotations

import datetime as dt

from services.contracts import DeadLetterReason, Stage
from services.runtime import deadletters
from services.runtime.messages import ConsumedMessage, Trace, event_headers, trace_of


def message(headers: tuple[tuple[str, bytes], ...]) -> ConsumedMessage:
    return ConsumedMessage("articles.cleaned", 2, 41, b"k", b"{}", headers)


def test_a_message_keeps_the_trace_it_came_with() -> None:
    trace = trace_of(
        message(
            (
                ("newsflow-trace-id", b"0123456789abcdef0123456789abcdef"),
                ("newsflow-seen-at", b"1764582000123"),
                ("newsflow-source-uri", b"s3://news/a.html"),
            )
        )
    )
    assert trace == Trace("0123456789abcdef0123456789abcdef", 1764582000123, "s3://news/a.html")


def test_a_message_without_a_valid_trace_gets_one_from_its_coordinates() -> None:
    bare = trace_of(message(()))
    assert bare == trace_of(message(()))  # a redelivery traces the same
    assert len(bare.trace_id) == 32 and bare.seen_at_ms is None
    forged = trace_of(message((("newsflow-trace-id", b"not-hex"), ("newsflow-seen-at", b"12.5"))))
    assert forged.trace_id == bare.trace_id and forged.seen_at_ms is None


def test_dead_letter_headers_carry_the_error_context() -> None:
    consumed = message(())
    try:
        int("x")
    except ValueError as exc:
        letter = deadletters.for_message(Stage.ENRICH, DeadLetterReason.INVALID_EVENT, "bad", consumed, exception=exc)
    headers = dict(event_headers(letter, Trace("f" * 32, 5)))
    assert headers["content-type"] == b"application/json"
    assert headers["newsflow-schema"] == b"DeadLetter"
    assert headers["newsflow-schema-version"] == b"1"
    assert headers["newsflow-trace-id"] == b"f" * 32
    assert headers["newsflow-seen-at"] == b"5"
    assert headers["newsflow.errors.stage"] == b"enrich"
    assert headers["newsflow.errors.reason"] == b"invalid_event"
    assert headers["newsflow.errors.exception.class.name"] == b"builtins.ValueError"
    assert headers["newsflow.errors.exception.message"] == b"bad"
    assert (headers["newsflow.errors.topic"], headers["newsflow.errors.partition"]) == (b"articles.cleaned", b"2")
    assert headers["newsflow.errors.offset"] == b"41"
    assert "newsflow-source-uri" not in headers and letter.occurred_at <= dt.datetime.now(dt.UTC)
