from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import pytest

from services.arrival import Arrival, ArrivalTimeout, Backoff, unfinished, wait_for_arrival
from services.ingest.ledger import DoneVersion
from services.store.read import StoreReader


def test_a_version_is_unfinished_until_all_its_events_arrived() -> None:
    done = [
        DoneVersion("a.txt", "1", ["a1", "a2"], []),
        DoneVersion("b.txt", "1", [], ["d1"]),
        DoneVersion("c.txt", "1", ["c1"], ["d2"]),
        DoneVersion("dup.txt", "1", [], []),  # an exact duplicate published nothing: nothing to wait for
    ]
    assert [v.uri for v in unfinished(done, {"a1", "d1", "c1"})] == ["a.txt", "c.txt"]
    assert unfinished(done, {"a1", "a2", "d1", "c1", "d2"}) == []


def test_arrival_counts_what_is_still_waiting() -> None:
    partial = Arrival(frozenset({"a"}), frozenset({"b"}), frozenset(), expected_articles=3, expected_dead_letters=1)
    assert partial.waiting == 2 and not partial.complete
    assert Arrival(frozenset({"a"}), frozenset(), frozenset({"d"}), 1, 1).complete


class _Postgres:
    """What the store holds, arriving in steps; records the ids each query asked about."""

    def __init__(self, steps: list[set[str]]) -> None:
        self._steps = steps
        self._held: set[str] = set()
        self.asked: list[set[str]] = []

    def arrived_ids(self, article_ids: Sequence[str], dead_letter_ids: Sequence[str]) -> set[str]:
        self.asked.append(set(article_ids) | set(dead_letter_ids))
        if self._steps:
            self._held |= self._steps.pop(0)
        return self._held & self.asked[-1]

    def stored_article_ids(self, article_ids: Sequence[str]) -> set[str]:
        return self._held & set(article_ids)

    def dead_lettered_article_ids(self, article_ids: Sequence[str]) -> set[str]:
        return set()

    def dead_letter_ids(self, dead_letter_ids: Sequence[str]) -> set[str]:
        return self._held & set(dead_letter_ids)


def test_waiting_asks_only_about_the_ids_still_missing() -> None:
    store = _Postgres([{"a1"}, set(), {"a2", "d1"}])
    waits: list[int] = []
    arrived = wait_for_arrival(
        cast(StoreReader, store),
        ["a1", "a2"],
        ["d1"],
        timeout_s=10,
        on_wait=lambda: waits.append(1),
        backoff=Backoff(initial_s=0.001, max_s=0.002),
    )
    assert arrived.complete and arrived.stored == {"a1", "a2"}
    assert store.asked == [{"a1", "a2", "d1"}, {"a2", "d1"}, {"a2", "d1"}]
    assert len(waits) == 2


def test_waiting_gives_up_with_the_count_still_missing() -> None:
    store = _Postgres([{"a1"}])
    with pytest.raises(ArrivalTimeout) as raised:
        wait_for_arrival(
            cast(StoreReader, store), ["a1", "a2"], ["d1"], timeout_s=0.01, backoff=Backoff(initial_s=0.005)
        )
    assert raised.value.waiting == 2


def test_backoff_grows_while_nothing_arrives_and_resets_on_progress() -> None:
    backoff = Backoff(initial_s=0.05, factor=2.0, max_s=0.15)
    assert backoff.next(0.05, progressed=False) == 0.1
    assert backoff.next(0.1, progressed=False) == 0.15
    assert backoff.next(0.15, progressed=True) == 0.05
