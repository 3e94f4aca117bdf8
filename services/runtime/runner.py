"""The consume loop shared by enrich and store: poll -> decode -> handle -> publish -> flush -> commit.

Order of a batch, and why:
1. decode every message against its topic's contract; undecodable ones become dead letters;
2. ``handler.handle`` does the stage's work; a handler that writes (store) makes it durable here
   (one Postgres transaction) before returning;
3. outputs and dead letters are published with the trace of the message they came from (headers:
   trace id, seen-at and source travel unchanged), then the producer is flushed and every send checked;
4. only then are offsets committed (``committable`` = offset + 1 per partition).

A crash anywhere before 4 redelivers the batch: at-least-once, made effectively-once by keyed,
idempotent writes downstream. ``TransientError`` pauses the partitions, backs off and retries the
same batch; any other exception propagates and stops the process loudly.

Rebalances only happen inside ``consumer.poll``; the loop calls it between batches, so no batch is
half-done when partitions are revoked, except while backing off. Messages from partitions revoked
during a backoff are dropped uncommitted: their new owner reads them again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from pydantic import BaseModel, ValidationError

from services.contracts import CleanedArticle, DeadLetter, DeadLetterReason, EnrichedArticle, Stage, Topics
from services.contracts.headers import Header
from services.runtime import deadletters, metrics
from services.runtime.errors import TransientError
from services.runtime.health import Health
from services.runtime.kafka import EventConsumer, EventProducer
from services.runtime.logs import log_dead_letter
from services.runtime.messages import (
    ConsumedMessage,
    OutgoingEvent,
    TopicPartition,
    Trace,
    committable_offsets,
    trace_of,
)
from services.runtime.settings import ServiceSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Envelope:
    """A decoded event with the message it came in."""

    message: ConsumedMessage
    event: BaseModel

    @property
    def trace(self) -> Trace:
        return trace_of(self.message)


@dataclass
class HandlerResult:
    outputs: list[OutgoingEvent] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)


class BatchHandler(Protocol):
    def handle(self, batch: Sequence[Envelope]) -> HandlerResult:
        """Do the stage's work for a batch. Must be idempotent (a batch may be redelivered).

        May block on the stage's own I/O (database). Raises ``TransientError`` when that I/O is
        briefly unavailable; per-message poison is returned as dead letters, not raised."""
        ...


class Runner:
    def __init__(
        self,
        *,
        stage: Stage,
        settings: ServiceSettings,
        consumer: EventConsumer,
        producer: EventProducer,
        models: dict[str, type[BaseModel]],
        handler: BatchHandler,
        health: Health,
        stop: threading.Event,
    ) -> None:
        self._stage = stage
        self._settings = settings
        self._consumer = consumer
        self._producer = producer
        self._models = models
        self._handler = handler
        self._health = health
        self._stop = stop
        self._revoked: set[TopicPartition] = set()
        self._consecutive_dead_letters = 0

    def on_revoked(self, partitions: set[TopicPartition]) -> None:
        log.info("partitions revoked", extra={"partitions": sorted(f"{p.topic}-{p.partition}" for p in partitions)})
        self._revoked |= partitions

    def run(self) -> None:
        log.info("consuming", extra={"topics": sorted(self._models)})
        try:
            while not self._stop.is_set():
                self._health.tick()
                messages = self._consumer.poll(self._settings.kafka_poll_timeout_ms)
                self._health.set_ready(bool(self._consumer.assignment()))
                self._revoked.clear()
                if messages:
                    self._process_with_retry(messages)
        finally:
            log.info("shutting down")
            self._consumer.close()
            self._producer.close()

    def _process_with_retry(self, messages: list[ConsumedMessage]) -> None:
        metrics.IN_FLIGHT.labels(self._stage).set(len(messages))
        try:
            self._retry(messages)
        finally:
            metrics.IN_FLIGHT.labels(self._stage).set(0)

    def _retry(self, messages: list[ConsumedMessage]) -> None:
        backoff = self._settings.retry_initial_backoff_s
        while True:
            try:
                self._process(messages)
                return
            except TransientError as exc:
                metrics.TRANSIENT_ERRORS.labels(self._stage).inc()
                log.warning("transient fault, backing off", extra={"error": str(exc), "backoff_s": backoff})
            if self._stop.is_set():
                return  # nothing committed: the batch is redelivered after restart
            # Paused polling keeps the group membership alive without fetching more.
            self._consumer.pause_all()
            deadline = time.monotonic() + backoff
            while time.monotonic() < deadline and not self._stop.is_set():
                self._health.tick()
                self._consumer.poll(min(500, int(1000 * (deadline - time.monotonic())) + 1))
            self._consumer.resume_all()
            if self._stop.is_set():
                return
            if self._revoked:
                # Those partitions moved to another member, which starts from our last commit.
                messages = [m for m in messages if m.tp not in self._revoked]
                if not messages:
                    return
            backoff = min(backoff * 2, self._settings.retry_max_backoff_s)

    def _process(self, messages: list[ConsumedMessage]) -> None:
        started = time.monotonic()
        envelopes: list[Envelope] = []
        dead: list[DeadLetter] = []
        for message in messages:
            metrics.MESSAGES_CONSUMED.labels(self._stage, message.topic).inc()
            event, refusal = self._decode(message)
            if event is not None:
                envelopes.append(Envelope(message, event))
            elif message.topic == Topics.DEADLETTER:
                # Dead-lettering a dead letter would loop; it stays on its topic, and the log says why.
                log.error("undecodable dead letter skipped", extra={"offset": message.offset, "error": refusal})
            elif refusal is not None:
                dead.append(refusal)

        result = self._handler.handle(envelopes) if envelopes else HandlerResult()
        dead.extend(result.dead_letters)

        by_key = {m.key.decode("utf-8", errors="replace"): m for m in messages if m.key is not None}
        by_offset = {(m.topic, m.partition, m.offset): m for m in messages}
        for outgoing in result.outputs:
            if outgoing.trace is None and outgoing.key in by_key:
                outgoing = replace(outgoing, trace=trace_of(by_key[outgoing.key]))
            self._producer.send(outgoing)
        for dead_letter in dead:
            original = dead_letter.original
            source = None if original is None else by_offset.get((original.topic, original.partition, original.offset))
            trace = None if source is None else trace_of(source)
            self._producer.send(OutgoingEvent(Topics.DEADLETTER, deadletters.key_of(dead_letter), dead_letter, trace))
        for topic in self._producer.flush():
            metrics.MESSAGES_PRODUCED.labels(self._stage, topic).inc()

        # Everything the batch produced is durable: now, and only now, move the offsets.
        self._consumer.commit(committable_offsets(messages))

        durable_at = time.time()
        for dead_letter in dead:
            metrics.DEAD_LETTERS.labels(self._stage, dead_letter.reason).inc()
            log_dead_letter(dead_letter)
        refused = {(d.original.topic, d.original.partition, d.original.offset) for d in dead if d.original is not None}
        for envelope in envelopes:
            position = (envelope.message.topic, envelope.message.partition, envelope.message.offset)
            backfill = envelope.message.header(Header.BACKFILL_OF) is not None
            # A backfilled article is old news brought up to date: it would swamp the live latency series.
            if (
                isinstance(envelope.event, CleanedArticle | EnrichedArticle)
                and position not in refused
                and not backfill
            ):
                seen_at = metrics.seen_at_seconds(envelope.message.headers, envelope.event.ingested_at.timestamp())
                metrics.END_TO_END_SECONDS.labels(self._stage).observe(max(0.0, durable_at - seen_at))
        metrics.MESSAGES_PROCESSED.labels(self._stage, metrics.Outcome.DEAD_LETTER).inc(len(dead))
        metrics.MESSAGES_PROCESSED.labels(self._stage, metrics.Outcome.OK).inc(len(messages) - len(dead))
        metrics.BATCH_SIZE.labels(self._stage).observe(len(messages))
        metrics.BATCH_SECONDS.labels(self._stage).observe(time.monotonic() - started)
        metrics.LAST_BATCH_TIMESTAMP.labels(self._stage).set_to_current_time()
        self._check_dead_letter_run(len(dead), len(messages))

    def _decode(self, message: ConsumedMessage) -> tuple[BaseModel | None, DeadLetter | None]:
        """The event, or the dead letter that explains why there is none."""
        model = self._models[message.topic]
        if message.value is None:
            return None, deadletters.for_message(self._stage, DeadLetterReason.EMPTY, "message has no value", message)
        try:
            return model.model_validate_json(message.value), None
        except ValidationError as exc:
            return None, deadletters.for_message(
                self._stage,
                DeadLetterReason.INVALID_EVENT,
                f"not a valid {model.__name__}: {exc.error_count()} error(s): {exc.errors()[0]['msg']}",
                message,
                exception=exc,
            )

    def _check_dead_letter_run(self, dead: int, total: int) -> None:
        if dead == total:
            self._consecutive_dead_letters += dead
        else:
            self._consecutive_dead_letters = 0
        if self._consecutive_dead_letters > self._settings.max_consecutive_dead_letters:
            # A whole topic of poison is a broken producer or deploy, not bad input: stop loudly.
            raise RuntimeError(f"{self._consecutive_dead_letters} dead letters in a row; refusing to dead-letter more")
