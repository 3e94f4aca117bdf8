from __future__ import annotations

from services.arrival import Arrival, unfinished
from services.ingest.ledger import DoneVersion


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
