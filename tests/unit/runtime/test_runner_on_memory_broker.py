"""The runner's discipline on the in-memory broker: poison isolated to its message, the repeated-crash
limit, the dead-letter-run stop, commit failures retried without redoing work, revocation during a
backoff, long work that keeps the consumer in its group, the size policy and dead letters' origin."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pytest

from services.contracts import CleanedArticle, DeadLetter, DeadLetterReason, SourceRef, Stage, Topics
from services.runtime import deadletters
from services.runtime.errors import TransientError
from services.runtime.health import Health
from services.runtime.memory_broker import MemoryBroker
from services.runtime.messages import ConsumedMessage, OutgoingEvent, TopicPartition, encode
from services.runtime.runner import Envelope, HandlerResult, Runner
from services.runtime.settings import ServiceSettings

GROUP = "newsflow-enrich"


def article(n: int, text: str = "A plain sentence about the harbour.") -> CleanedArticle:
    return CleanedArticle(
        article_id=f"a{n:03d}",
        source=SourceRef(uri=f"file:///inbox/{n:03d}.txt", version="1", format="text", size=len(text), sha256="0"),
        title="Title",
        text=text,
        word_count=len(text.split()),
        ingested_at=dt.datetime(2026, 1, 5, 12, tzinfo=dt.UTC),
    )


def publish(broker: MemoryBroker, *articles: CleanedArticle, partition: int | None = None) -> None:
    for a in articles:
        broker.append(Topics.CLEANED, a.article_id.encode(), encode(a), partition=partition)


@dataclass
class Handler:
    """Copies each cleaned article to the enriched topic (as itself: the runner does not look at it)."""

    fail: Callable[[CleanedArticle], Exception | None] = lambda _: None
    on_call: Callable[[Sequence[Envelope]], None] = lambda _: None
    calls: list[list[str]] = field(default_factory=list)

    def handle(self, batch: Sequence[Envelope]) -> HandlerResult:
        self.calls.append([e.event.article_id for e in batch if isinstance(e.event, CleanedArticle)])
        self.on_call(batch)
        result = HandlerResult()
        for envelope in batch:
            assert isinstance(envelope.event, CleanedArticle)
            error = self.fail(envelope.event)
            if error is not None:
                raise error
            result.outputs.append(OutgoingEvent(Topics.ENRICHED, envelope.event.article_id, envelope.event))
        return result

    def handled(self, article_id: str) -> int:
        return sum(call.count(article_id) for call in self.calls)


def settings(**overrides: object) -> ServiceSettings:
    values: dict[str, object] = {"retry_initial_backoff_s": 0.01, "retry_max_backoff_s": 0.05}
    values.update(overrides)
    return ServiceSettings.model_validate(values)


@dataclass
class Harness:
    broker: MemoryBroker
    handler: Handler
    config: ServiceSettings = field(default_factory=settings)
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.consumer = self.broker.consumer(
            GROUP,
            [Topics.CLEANED],
            lambda revoked: self.runner.on_revoked(revoked),
            max_poll_interval_ms=self.config.kafka_max_poll_interval_ms,
        )
        self.runner = Runner(
            stage=Stage.ENRICH,
            settings=self.config,
            consumer=self.consumer,
            producer=self.broker.producer(),
            models={Topics.CLEANED: CleanedArticle},
            handler=self.handler,
            health=Health(stall_after_s=60),
            stop=self.stop,
            clock=self.broker.clock,
        )

    def run_until_drained(self, give_up_s: float = 20.0) -> None:
        """Run until every cleaned message is committed (or ``give_up_s`` passed: the asserts then fail)."""
        ends = self.broker.end_offsets(Topics.CLEANED)

        def watch() -> None:
            for _ in range(int(give_up_s / 0.01)):
                if self.stop.wait(0.01):
                    return
                committed = self.broker.committed(GROUP)
                if all(committed.get(tp, 0) >= end for tp, end in ends.items()):
                    break
            self.stop.set()

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            self.runner.run()
        finally:
            self.stop.set()
            watcher.join()

    def dead_letters(self) -> list[DeadLetter]:
        return [DeadLetter.model_validate_json(m.value or b"") for m in self.broker.records(Topics.DEADLETTER)]

    def enriched_ids(self) -> list[str]:
        return sorted((m.key or b"").decode() for m in self.broker.records(Topics.ENRICHED))

    def fully_committed(self) -> bool:
        return self.broker.committed(GROUP) == self.broker.end_offsets(Topics.CLEANED)


def test_an_input_that_makes_the_handler_raise_is_dead_lettered_and_the_rest_of_the_batch_goes_on() -> None:
    broker = MemoryBroker()
    publish(broker, *(article(n) for n in range(8)))
    publish(broker, article(8, "poison: text a library refuses"))
    publish(broker, *(article(n) for n in range(9, 12)))
    harness = Harness(
        broker, Handler(fail=lambda a: ValueError("[E088] text too long") if a.text.startswith("poison") else None)
    )

    harness.run_until_drained()

    assert harness.enriched_ids() == [f"a{n:03d}" for n in range(12) if n != 8]
    [letter] = harness.dead_letters()
    assert letter.reason is DeadLetterReason.HANDLER_FAILED
    assert letter.exception_class == "builtins.ValueError" and "E088" in letter.error
    assert letter.original is not None and letter.original.offset == 8
    assert harness.fully_committed()


def test_a_crash_that_repeats_on_the_same_offset_is_dead_lettered_after_the_attempt_limit() -> None:
    broker = MemoryBroker()
    publish(broker, article(1, "poison"))
    handler = Handler(fail=lambda a: UnicodeEncodeError("utf-8", a.text, 0, 1, "surrogates not allowed"))
    harness = Harness(broker, handler, settings(max_handler_attempts=4))

    harness.run_until_drained()

    assert handler.handled("a001") == 4
    [letter] = harness.dead_letters()
    assert letter.reason is DeadLetterReason.HANDLER_FAILED and "4 attempts" in letter.error
    assert harness.fully_committed()


def test_a_fault_that_clears_on_a_second_attempt_is_not_dead_lettered() -> None:
    broker = MemoryBroker()
    publish(broker, article(1))
    failures = iter([RuntimeError("once")])
    harness = Harness(broker, Handler(fail=lambda _: next(failures, None)))

    harness.run_until_drained()

    assert harness.enriched_ids() == ["a001"] and harness.dead_letters() == []


def test_a_bug_that_fails_every_message_still_stops_the_stage_loudly() -> None:
    broker = MemoryBroker()
    publish(broker, *(article(n) for n in range(12)))
    harness = Harness(
        broker,
        Handler(fail=lambda _: AttributeError("'NoneType' object has no attribute 'ents'")),
        settings(max_consecutive_dead_letters=5, max_handler_attempts=1),
    )

    with pytest.raises(RuntimeError, match="dead letters in a row"):
        harness.run_until_drained()


def test_a_failed_commit_is_retried_without_redoing_the_work() -> None:
    broker = MemoryBroker()
    publish(broker, *(article(n) for n in range(3)))
    broker.fail_commits(3)
    handler = Handler()
    harness = Harness(broker, handler)

    harness.run_until_drained()

    assert [handler.handled(f"a{n:03d}") for n in range(3)] == [1, 1, 1]
    assert harness.enriched_ids() == ["a000", "a001", "a002"]
    assert harness.fully_committed()


def test_partitions_revoked_during_a_backoff_are_left_to_their_new_owner() -> None:
    broker = MemoryBroker(partitions=2)
    publish(broker, article(0), article(2), partition=0)
    publish(broker, article(1), article(3), partition=1)
    newcomer = []

    def first_call_fails(batch: Sequence[Envelope]) -> None:
        if not newcomer:
            # Another replica joins while this one backs off: the group gives it partition 1.
            newcomer.append(broker.consumer(GROUP, [Topics.CLEANED]))
            raise TransientError("database briefly gone")

    handler = Handler(on_call=first_call_fails)
    harness = Harness(broker, handler)
    harness.runner.run = _run_until_partition_0_committed(harness)  # type: ignore[method-assign]

    harness.runner.run()

    assert sorted(handler.calls[0]) == ["a000", "a001", "a002", "a003"]
    assert sorted(handler.calls[1]) == ["a000", "a002"]  # the retry: partition 0 only
    assert broker.committed(GROUP) == {TopicPartition(Topics.CLEANED, 0): 2}
    # The new owner starts partition 1 from the last commit (none): nothing of it is lost.
    taken = newcomer[0].poll(0)
    assert [(m.partition, m.offset) for m in taken] == [(1, 0), (1, 1)]


def _run_until_partition_0_committed(harness: Harness) -> Callable[[], None]:
    original = harness.runner.run

    def run() -> None:
        def watch() -> None:
            for _ in range(2000):
                if harness.broker.committed(GROUP).get(TopicPartition(Topics.CLEANED, 0)) == 2:
                    break
                harness.stop.wait(0.01)
            harness.stop.set()

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        original()
        watcher.join()

    return run


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_long_work_keeps_the_consumer_in_its_group_and_each_article_is_enriched_once() -> None:
    # Finding 5: a batch whose work outlasts max.poll.interval.ms got the consumer put out of the group;
    # its commit failed and the batch was enriched again and again.
    clock = FakeClock()
    broker = MemoryBroker(clock=clock)
    publish(broker, *(article(n) for n in range(6)))
    handler = Handler()

    def slow(batch: Sequence[Envelope]) -> None:
        clock.now += 4.0 * len(batch)  # four "seconds" an article, 24 for the batch
        if len(handler.calls) > 20:
            harness.stop.set()  # the bug: redone without end

    handler.on_call = slow
    harness = Harness(broker, handler, settings(kafka_max_poll_interval_ms=10_000, batch_work_bytes=1))

    harness.run_until_drained()

    assert [handler.handled(f"a{n:03d}") for n in range(6)] == [1] * 6
    assert harness.consumer.expulsions == 0
    assert harness.fully_committed()


def test_events_above_the_size_policy_are_dead_lettered_as_oversized_before_any_work() -> None:
    # Finding 4: a cleaned event over 1,000,000 characters crash-looped enrich (spaCy E088).
    broker = MemoryBroker()
    huge = article(1, "word " * 200_001)  # 1,000,005 characters
    long = article(3, "word " * 50_000)  # fits a message, but 250,000 characters of enrichment work
    publish(broker, huge, article(2), long)
    broker.append(Topics.CLEANED, b"a004", b"x" * 1_000_001)
    handler = Handler()
    harness = Harness(broker, handler)

    harness.run_until_drained()

    assert handler.calls == [["a002"]]
    letters = {letter.original.offset: letter for letter in harness.dead_letters() if letter.original}
    assert {offset: letter.reason for offset, letter in letters.items()} == {
        0: DeadLetterReason.OVERSIZED,
        2: DeadLetterReason.OVERSIZED,
        3: DeadLetterReason.OVERSIZED,
    }
    assert "KAFKA_MAX_MESSAGE_BYTES" in letters[0].error and "250000 characters" in letters[2].error
    assert (letters[0].article_id, letters[0].source) == ("a001", huge.source)
    assert (letters[2].article_id, letters[2].source) == ("a003", long.source)
    assert harness.fully_committed()


def test_dead_letters_say_which_article_and_file_they_are_about() -> None:
    # Finding 9: enrich and store dead letters carried only topic[partition]@offset.
    broker = MemoryBroker()
    broken = article(1).model_dump(mode="json")
    del broken["word_count"]  # fails the contract, but its article id and source are intact
    broker.append(Topics.CLEANED, b"a001", json.dumps(broken).encode())
    publish(broker, article(2, "poison"))

    def refuse(batch: Sequence[Envelope]) -> HandlerResult:
        # As the store does for a row Postgres refuses: the stage names only the message.
        return HandlerResult(
            dead_letters=[
                _refusal(e.message) for e in batch if isinstance(e.event, CleanedArticle) and e.event.text == "poison"
            ]
        )

    handler = Handler()
    handler.handle = refuse  # type: ignore[method-assign]
    harness = Harness(broker, handler)

    harness.run_until_drained()

    origins = sorted((d.reason, d.article_id, d.source.uri if d.source else None) for d in harness.dead_letters())
    assert origins == [
        (DeadLetterReason.INVALID_EVENT, "a001", "file:///inbox/001.txt"),
        (DeadLetterReason.INVALID_EVENT, "a002", "file:///inbox/002.txt"),
    ]


def _refusal(message: ConsumedMessage) -> DeadLetter:
    return deadletters.for_message(Stage.STORE, DeadLetterReason.INVALID_EVENT, "refused by Postgres", message)
