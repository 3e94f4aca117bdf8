"""Redrive: send dead letters whose cause is fixed back through the pipeline (``newsflow redrive``).

For each open dead letter chosen by stage / reason / time:
- ingest refused an object: its quarantine copy is extracted again with today's code and settings; the
  articles it now yields are published to ``articles.cleaned`` (with the original source reference);
- enrich or store refused a message: its original payload (embedded in the dead letter) is checked
  against its topic's contract and published again to that topic with its key.

A dead letter whose input is still refused is left open and reported with the reason. Republished
events carry the dead letter's trace id and seen-at, plus ``newsflow-redrive-of``. Dead letters are
marked redriven only after the broker acknowledged every event of the run, so a crash in between
republishes them on the next run: harmless, because articles are upserted by ``article_id`` and no
stored article is ever duplicated. A failure downstream of the republish is a new dead letter.

Composition module (beside ``cli.py``): it wires ingest's extraction, the Kafka adapter and the
store's repository; the planning below is pure and unit-tested.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from services.contracts import TOPIC_MODELS, DeadLetter, Stage, Topics
from services.ingest.formats import ExtractionOptions
from services.ingest.service import extract_again
from services.ingest.settings import IngestSettings
from services.runtime.deadletters import MAX_EMBEDDED_VALUE_CHARS
from services.runtime.errors import InvalidInput
from services.runtime.kafka import EventProducer, ensure_topics
from services.runtime.messages import OutgoingEvent, Trace, trace_id_for
from services.store.read import StoredDeadLetter, StoreReader
from services.store.repository import RedriveMark, Repository


@dataclass(frozen=True)
class RedriveFilter:
    stage: Stage | None = None
    reason: str | None = None
    since: dt.datetime | None = None


@dataclass(frozen=True)
class Republish:
    """What one dead letter becomes: events to publish again."""

    dead_letter_id: str
    events: list[OutgoingEvent]


@dataclass(frozen=True)
class StillRefused:
    dead_letter_id: str
    why: str


@dataclass
class RedriveReport:
    redriven: list[Republish] = field(default_factory=list)
    refused: list[StillRefused] = field(default_factory=list)
    dry_run: bool = False


def _trace(stored: StoredDeadLetter) -> Trace:
    letter = stored.dead_letter
    return Trace(
        trace_id=stored.trace_id or trace_id_for("redrive", letter.dead_letter_id),
        seen_at_ms=stored.seen_at_ms,
        source_uri=None if letter.source is None else letter.source.uri,
        redrive_of=letter.dead_letter_id,
    )


def plan_message(stored: StoredDeadLetter) -> Republish | StillRefused:
    """An enrich/store dead letter: its original message, if complete and valid today."""
    letter = stored.dead_letter
    original = letter.original
    if original is None or original.value is None:
        return StillRefused(letter.dead_letter_id, "no original payload kept")
    if original.topic not in {t.value for t in TOPIC_MODELS}:
        return StillRefused(letter.dead_letter_id, f"original topic {original.topic} is not a newsflow topic")
    if len(original.value) >= MAX_EMBEDDED_VALUE_CHARS or "\ufffd" in original.value:
        # Truncated or NUL/undecodable bytes replaced: not the message that was refused.
        return StillRefused(
            letter.dead_letter_id,
            f"the kept payload is not exact; re-read {original.topic}[{original.partition}]@{original.offset}",
        )
    topic = Topics(original.topic)
    model = TOPIC_MODELS[topic]
    try:
        event = model.model_validate_json(original.value)
    except ValidationError as exc:
        return StillRefused(letter.dead_letter_id, f"still not a valid {model.__name__}: {exc.errors()[0]['msg']}")
    key = original.key or str(getattr(event, "article_id", letter.dead_letter_id))
    return Republish(letter.dead_letter_id, [OutgoingEvent(topic, key, event, _trace(stored))])


def plan_ingest(
    stored: StoredDeadLetter, read_copy: Callable[[str], bytes | None], options: ExtractionOptions
) -> Republish | StillRefused:
    """An ingest dead letter: its quarantine copy, extracted again."""
    letter = stored.dead_letter
    if letter.source is None or letter.quarantine_uri is None:
        return StillRefused(letter.dead_letter_id, "no quarantine copy; drop the object into the bucket again")
    data = read_copy(letter.quarantine_uri)
    if data is None:
        return StillRefused(letter.dead_letter_id, f"quarantine copy {letter.quarantine_uri} is gone")
    try:
        articles = extract_again(data, letter.source, options)
    except InvalidInput as exc:
        return StillRefused(letter.dead_letter_id, f"still refused: {exc.reason.value}: {exc.detail}")
    trace = _trace(stored)
    return Republish(letter.dead_letter_id, [OutgoingEvent(Topics.CLEANED, a.article_id, a, trace) for a in articles])


def plan(
    letters: Sequence[StoredDeadLetter], read_copy: Callable[[str], bytes | None], options: ExtractionOptions
) -> RedriveReport:
    report = RedriveReport()
    for stored in letters:
        step = (
            plan_ingest(stored, read_copy, options)
            if stored.dead_letter.stage is Stage.INGEST
            else plan_message(stored)
        )
        if isinstance(step, Republish):
            report.redriven.append(step)
        else:
            report.refused.append(step)
    return report


def read_quarantine_copy(uri: str) -> bytes | None:
    """Quarantine copies are files written by ingest (``INGEST_QUARANTINE_DIR``)."""
    path = Path(uri)
    return path.read_bytes() if path.is_file() else None


def _oversized(events: Sequence[OutgoingEvent], producer: EventProducer) -> bool:
    return not all(producer.fits(e.event) for e in events)


def redrive(
    repository: Repository,
    settings: IngestSettings,
    choose: RedriveFilter,
    dry_run: bool,
    read_copy: Callable[[str], bytes | None] = read_quarantine_copy,
) -> RedriveReport:
    """Plan, then (unless ``dry_run``) publish, flush and mark: the ``newsflow redrive`` command."""
    letters = StoreReader(repository).open_dead_letters(
        None if choose.stage is None else choose.stage.value, choose.reason, choose.since
    )
    options = ExtractionOptions(
        max_bytes=settings.ingest_max_object_bytes, min_body_words=settings.ingest_min_body_words
    )
    report = plan(letters, read_copy, options)
    report.dry_run = dry_run
    if dry_run or not report.redriven:
        return report
    ensure_topics(settings, [t.value for t in Topics])
    producer = EventProducer(settings, client_id="newsflow-redrive")
    try:
        sendable: list[Republish] = []
        for step in report.redriven:
            if _oversized(step.events, producer):
                report.refused.append(
                    StillRefused(
                        step.dead_letter_id, f"larger than the {producer.max_message_bytes}-byte message limit"
                    )
                )
                continue
            for event in step.events:
                producer.send(event)
            sendable.append(step)
        report.redriven = sendable
        records = producer.flush_records()
    finally:
        producer.close()
    # Every event is acknowledged: now, and only now, mark the dead letters.
    marks: list[RedriveMark] = []
    position = 0
    for step in report.redriven:
        landed = records[position : position + len(step.events)]
        position += len(step.events)
        marks.append(
            RedriveMark(step.dead_letter_id, ", ".join(f"{r.topic}[{r.partition}]@{r.offset}" for r in landed))
        )
    repository.mark_redriven(marks)
    return report


def describe(letter: DeadLetter) -> str:
    """Where a dead letter points: its source object, or the message it refused."""
    if letter.source is not None:
        return letter.source.uri + ("" if letter.source.record is None else f"#{letter.source.record}")
    if letter.original is not None:
        return f"{letter.original.topic}[{letter.original.partition}]@{letter.original.offset}"
    return letter.article_id or letter.dead_letter_id


def parse_since(text: str, now: dt.datetime | None = None) -> dt.datetime:
    """``--since``: an ISO 8601 date or time (UTC unless it says otherwise), or an age such as 30m, 6h, 2d.

    Raises ``ValueError`` with a message fit for the user."""
    now = now or dt.datetime.now(dt.UTC)
    units = {"m": "minutes", "h": "hours", "d": "days"}
    if len(text) > 1 and text[-1] in units and text[:-1].isdigit():
        return now - dt.timedelta(**{units[text[-1]]: int(text[:-1])})
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"--since {text!r}: expected an ISO date/time (2026-12-01T08:00) or an age (30m, 6h, 2d)"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)
