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
same batch. Any other exception raised by the handler is input-dependent until shown otherwise: the
batch is bisected down to the message whose handling raises, that message is tried alone
``max_handler_attempts`` times and then dead-lettered as ``handler_failed``, and the rest of the batch
goes on. A bug that fails every message therefore shows as a run of dead letters, which stops the stage
loudly after ``max_consecutive_dead_letters``. Exceptions outside the handler (producer, commit
discipline) still crash the process.

Why the attempts are counted in the process and not in a durable counter: the handler's exceptions are
caught here, so the process never restarts for them and the count cannot be lost. What does restart the
process (OOM kill, a segfault in native code) is not counted; the size policy (``limits``) is what keeps
the known cause of those, huge texts, away from the handler.

One size policy (``limits.SizePolicy``) refuses too-big messages and texts as ``oversized`` before any work.
A failed commit is retried (the commit, not the work: the outputs are already durable) while this member
still owns the partitions; partitions that moved are left to their new owner, which reads the batch again
from the last commit, harmlessly because downstream writes are idempotent.

Rebalances only happen inside ``consumer.poll``. The loop calls it between batches, and while paused
during a batch: in a backoff, in a commit retry, and between the pieces of long work (at most
``batch_work_bytes`` of messages each), once a quarter of ``max.poll.interval.ms`` has passed since the last
poll, so that long work never gets the consumer put out of the group. Messages of partitions revoked
meanwhile are dropped uncommitted: their new owner reads them again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from pydantic import BaseModel, ValidationError

from services.contracts import CleanedArticle, DeadLetter, DeadLetterReason, EnrichedArticle, Stage, Topics
from services.contracts.headers import Header
from services.runtime import deadletters, metrics
from services.runtime.errors import TransientError
from services.runtime.health import Health
from services.runtime.limits import SizePolicy
from services.runtime.logs import log_dead_letter
from services.runtime.messages import (
    ConsumedMessage,
    OutgoingEvent,
    TopicPartition,
    Trace,
    committable_offsets,
    trace_of,
)
from services.runtime.ports import Consumer, Producer
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
        briefly unavailable; per-message poison it recognises is returned as dead letters. Anything else
        it raises is isolated by the runner to the message that causes it (see the module docstring), so
        the handler may be called again on parts of the batch."""
        ...


class Runner:
    def __init__(
        self,
        *,
        stage: Stage,
        settings: ServiceSettings,
        consumer: Consumer,
        producer: Producer,
        models: dict[str, type[BaseModel]],
        handler: BatchHandler,
        health: Health,
        stop: threading.Event,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``clock`` measures the time between polls (the group's max.poll.interval.ms); tests of long
        work pass the in-memory broker's clock. Backoffs always wait in real time."""
        self._stage = stage
        self._settings = settings
        self._consumer = consumer
        self._producer = producer
        self._models = models
        self._handler = handler
        self._health = health
        self._stop = stop
        self._clock = clock
        self._limits = SizePolicy.from_settings(settings)
        self._revoked: set[TopicPartition] = set()
        self._consecutive_dead_letters = 0
        self._paused = False
        self._last_poll = clock()
        # A quarter of the interval: one more piece of work (bounded by batch_work_bytes and the text
        # limit) and the publish fit easily in the remaining three quarters.
        self._keepalive_after_s = settings.kafka_max_poll_interval_ms / 1000 / 4

    def on_revoked(self, partitions: set[TopicPartition]) -> None:
        log.info("partitions revoked", extra={"partitions": sorted(f"{p.topic}-{p.partition}" for p in partitions)})
        self._revoked |= partitions

    def run(self) -> None:
        log.info("consuming", extra={"topics": sorted(self._models)})
        try:
            while not self._stop.is_set():
                self._health.tick()
                messages = self._poll(self._settings.kafka_poll_timeout_ms)
                self._health.set_ready(bool(self._consumer.assignment()))
                self._revoked.clear()
                if messages:
                    self._process_with_retry(messages)
        finally:
            log.info("shutting down")
            self._consumer.close()
            self._producer.close()

    # -- polling, pausing, keeping the membership alive ----------------------------------------------

    def _poll(self, timeout_ms: int) -> list[ConsumedMessage]:
        messages = self._consumer.poll(timeout_ms)
        self._last_poll = self._clock()
        if messages and self._paused:
            # Records read while paused would be read past, unhandled, and a later commit would skip
            # them: crash instead (nothing of them is committed; they are redelivered).
            raise RuntimeError(f"a paused poll returned {len(messages)} messages; the consumer broke its port")
        return messages

    def _pause(self) -> None:
        if not self._paused:
            self._consumer.pause_all()
            self._paused = True

    def _resume(self) -> None:
        if self._paused:
            self._consumer.resume_all()
            self._paused = False

    def _keepalive(self) -> None:
        """A paused poll when the last one is a quarter of max.poll.interval.ms ago: the group keeps this
        member (and its partitions) while a long batch is worked on. Paused, the poll fetches nothing; it
        may run a rebalance, whose revocations the rest of the batch then respects."""
        if self._clock() - self._last_poll < self._keepalive_after_s:
            return
        self._pause()
        self._poll(0)
        self._health.tick()
        metrics.KEEPALIVE_POLLS.labels(self._stage).inc()

    def _wait_paused(self, seconds: float) -> None:
        """Wait in paused polls: the group membership stays alive and rebalances are seen."""
        self._pause()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self._stop.is_set():
            self._health.tick()
            self._poll(min(500, int(1000 * (deadline - time.monotonic())) + 1))

    # -- one batch ------------------------------------------------------------------------------------

    def _process_with_retry(self, messages: list[ConsumedMessage]) -> None:
        metrics.IN_FLIGHT.labels(self._stage).set(len(messages))
        try:
            self._retry(messages)
        finally:
            self._resume()
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
            self._wait_paused(backoff)
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
                log.error(
                    "unusable dead letter skipped",
                    extra={"offset": message.offset, "error": None if refusal is None else refusal.error},
                )
            elif refusal is not None:
                dead.append(refusal)

        result = self._handle_in_pieces(envelopes)
        events = {(e.message.topic, e.message.partition, e.message.offset): e.event for e in envelopes}
        by_offset = {(m.topic, m.partition, m.offset): m for m in messages}
        dead = [self._with_origin(d, by_offset, events) for d in [*dead, *result.dead_letters]]

        by_key = {m.key.decode("utf-8", errors="replace"): m for m in messages if m.key is not None}
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
        self._keepalive()
        self._commit(committable_offsets(messages))

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

    def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        """Commit, retrying the commit (never the work: its outputs are durable already) with backoff
        while this member still owns the partitions. Partitions that moved meanwhile are left
        uncommitted: their new owner redoes their part of the batch, harmlessly (idempotent writes)."""
        backoff = self._settings.retry_initial_backoff_s
        while True:
            owned = {tp: offset for tp, offset in offsets.items() if tp not in self._revoked}
            if not owned:
                return
            try:
                self._consumer.commit(owned)
                return
            except TransientError as exc:
                metrics.COMMIT_FAILURES.labels(self._stage).inc()
                log.warning("offset commit failed, retrying it", extra={"error": str(exc), "backoff_s": backoff})
            if self._stop.is_set():
                return  # uncommitted: redelivered after the restart, and absorbed downstream
            self._wait_paused(backoff)
            backoff = min(backoff * 2, self._settings.retry_max_backoff_s)

    # -- the handler, in pieces, with failures isolated to their message -----------------------------

    def _pieces(self, envelopes: list[Envelope]) -> Iterator[list[Envelope]]:
        """The batch cut into pieces of at most ``batch_work_bytes`` of messages (one message at least)."""
        piece: list[Envelope] = []
        size = 0
        for envelope in envelopes:
            length = len(envelope.message.value or b"")
            if piece and size + length > self._settings.batch_work_bytes:
                yield piece
                piece, size = [], 0
            piece.append(envelope)
            size += length
        if piece:
            yield piece

    def _handle_in_pieces(self, envelopes: list[Envelope]) -> HandlerResult:
        result = HandlerResult()
        for piece in self._pieces(envelopes):
            owned = [e for e in piece if e.message.tp not in self._revoked]
            if owned:
                _merge(result, self._handle_isolating(owned))
        return result

    def _handle_isolating(self, envelopes: list[Envelope]) -> HandlerResult:
        """The handler's result; if it raises (anything but ``TransientError``), the batch is bisected
        until the message whose handling raises stands alone, and the others are handled normally."""
        self._keepalive()
        try:
            return self._handler.handle(envelopes)
        except TransientError:
            raise
        except Exception as exc:
            if len(envelopes) == 1:
                return self._attempt_alone(envelopes[0], exc)
            log.warning(
                "handler raised on a batch; isolating the message that causes it",
                extra={"error_class": deadletters.exception_class(exc), "batch": len(envelopes)},
            )
        middle = len(envelopes) // 2
        result = self._handle_isolating(envelopes[:middle])
        rest = [e for e in envelopes[middle:] if e.message.tp not in self._revoked]
        if rest:
            _merge(result, self._handle_isolating(rest))
        return result

    def _attempt_alone(self, envelope: Envelope, failure: Exception) -> HandlerResult:
        """One message whose handling raised: tried alone up to ``max_handler_attempts`` times in all (a
        fault that comes and goes gets its chances), then dead-lettered so the stage moves on."""
        attempts = 1
        while attempts < self._settings.max_handler_attempts:
            self._keepalive()
            try:
                return self._handler.handle([envelope])
            except TransientError:
                raise
            except Exception as exc:
                failure = exc
                attempts += 1
        metrics.HANDLER_FAILURES.labels(self._stage).inc()
        message = envelope.message
        log.error(
            "handler failed on one message; dead-lettering it",
            exc_info=failure,
            extra={"topic": message.topic, "partition": message.partition, "offset": message.offset},
        )
        detail = str(failure)[:500]
        return HandlerResult(
            dead_letters=[
                deadletters.for_message(
                    self._stage,
                    DeadLetterReason.HANDLER_FAILED,
                    f"{type(failure).__name__} on every one of {attempts} attempts: {detail}",
                    message,
                    exception=failure,
                )
            ]
        )

    # -- decoding and dead letters -------------------------------------------------------------------

    def _decode(self, message: ConsumedMessage) -> tuple[BaseModel | None, DeadLetter | None]:
        """The event, or the dead letter that explains why there is none."""
        model = self._models[message.topic]
        if message.value is None:
            return None, deadletters.for_message(self._stage, DeadLetterReason.EMPTY, "message has no value", message)
        too_big = self._limits.refuse_message(message)
        if too_big is not None:
            return None, deadletters.for_message(self._stage, DeadLetterReason.OVERSIZED, too_big, message)
        try:
            event = model.model_validate_json(message.value)
        except ValidationError as exc:
            return None, deadletters.for_message(
                self._stage,
                DeadLetterReason.INVALID_EVENT,
                f"not a valid {model.__name__}: {exc.error_count()} error(s): {exc.errors()[0]['msg']}",
                message,
                exception=exc,
            )
        too_long = self._limits.refuse_event(event)
        if too_long is not None:
            article_id, source = deadletters.origin_of(message, event)
            return None, deadletters.for_message(
                self._stage, DeadLetterReason.OVERSIZED, too_long, message, article_id=article_id, source=source
            )
        return event, None

    def _with_origin(
        self,
        dead_letter: DeadLetter,
        messages: dict[tuple[str, int, int], ConsumedMessage],
        events: dict[tuple[str, int, int], BaseModel],
    ) -> DeadLetter:
        original = dead_letter.original
        if original is None:
            return dead_letter
        position = (original.topic, original.partition, original.offset)
        message = messages.get(position)
        return dead_letter if message is None else deadletters.with_origin(dead_letter, message, events.get(position))

    def _check_dead_letter_run(self, dead: int, total: int) -> None:
        if dead == total:
            self._consecutive_dead_letters += dead
        else:
            self._consecutive_dead_letters = 0
        if self._consecutive_dead_letters > self._settings.max_consecutive_dead_letters:
            # A whole topic of poison is a broken producer or deploy, not bad input: stop loudly.
            raise RuntimeError(f"{self._consecutive_dead_letters} dead letters in a row; refusing to dead-letter more")


def _merge(into: HandlerResult, more: HandlerResult) -> None:
    into.outputs.extend(more.outputs)
    into.dead_letters.extend(more.dead_letters)
