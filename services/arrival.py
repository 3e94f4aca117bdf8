"""Has everything arrived? Ingest's record of what it published (its ledger, or a one-shot run's report)
set against what the store holds in Postgres.

``newsflow run`` waits on it before its summary, ``newsflow dev`` drains on it at Ctrl-C and, at start,
republishes what an in-memory broker lost. It joins ingest's and store's data, so it lives above
the stages (which never import each other).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from services.ingest.ledger import DoneVersion, Ledger
from services.store.read import StoreReader


@dataclass(frozen=True)
class Arrival:
    """Where the events of a set of published ids are now."""

    stored: frozenset[str]  # article ids stored as articles
    refused: frozenset[str]  # article ids dead-lettered by enrich or store
    dead_letters: frozenset[str]  # ingest's dead-letter ids stored in dead_letters
    expected_articles: int
    expected_dead_letters: int

    @property
    def waiting(self) -> int:
        """Events published and not yet in Postgres."""
        return (
            self.expected_articles
            - len(self.stored | self.refused)
            + self.expected_dead_letters
            - len(self.dead_letters)
        )

    @property
    def complete(self) -> bool:
        return self.waiting == 0


def arrival(reader: StoreReader, article_ids: Sequence[str], dead_letter_ids: Sequence[str]) -> Arrival:
    articles = sorted(set(article_ids))
    letters = sorted(set(dead_letter_ids))
    return Arrival(
        stored=frozenset(reader.stored_article_ids(articles)),
        refused=frozenset(reader.dead_lettered_article_ids(articles)),
        dead_letters=frozenset(reader.dead_letter_ids(letters)),
        expected_articles=len(articles),
        expected_dead_letters=len(letters),
    )


@dataclass(frozen=True)
class Backoff:
    """How often to ask Postgres while waiting: soon after a change, less often while nothing arrives."""

    initial_s: float = 0.05
    factor: float = 2.0
    max_s: float = 1.0

    def next(self, current_s: float, progressed: bool) -> float:
        return self.initial_s if progressed else min(self.max_s, current_s * self.factor)


class ArrivalTimeout(Exception):
    """``wait_for_arrival`` gave up; ``waiting`` events were not in Postgres yet."""

    def __init__(self, waiting: int) -> None:
        super().__init__(f"{waiting} events not stored")
        self.waiting = waiting


def wait_for_arrival(
    reader: StoreReader,
    article_ids: Sequence[str],
    dead_letter_ids: Sequence[str],
    *,
    timeout_s: float,
    on_wait: Callable[[], None] = lambda: None,
    backoff: Backoff = Backoff(),
) -> Arrival:
    """Wait until every published event is stored or dead-lettered, asking one query at a time about the
    ids still missing only (the set shrinks as they arrive) and backing off while nothing changes;
    ``on_wait`` runs between queries (progress display, crash check: it may raise). Then the whole
    ``arrival`` once, for the summary."""
    pending_articles = set(article_ids)
    pending_letters = set(dead_letter_ids)
    deadline = time.monotonic() + timeout_s
    delay = backoff.initial_s
    while pending_articles or pending_letters:
        arrived = reader.arrived_ids(sorted(pending_articles), sorted(pending_letters))
        pending_articles -= arrived
        pending_letters -= arrived
        if not (pending_articles or pending_letters):
            break
        if time.monotonic() > deadline:
            raise ArrivalTimeout(len(pending_articles) + len(pending_letters))
        on_wait()
        time.sleep(delay)
        delay = backoff.next(delay, progressed=bool(arrived))
    return arrival(reader, article_ids, dead_letter_ids)


def unfinished(done: Sequence[DoneVersion], arrived_ids: set[str]) -> list[DoneVersion]:
    """The object versions some of whose events (articles or dead letters) are not among ``arrived_ids``."""
    return [v for v in done if not set(v.article_ids + v.dead_letter_ids) <= arrived_ids]


def unfinished_versions(ledger_path: Path, reader: StoreReader) -> list[DoneVersion]:
    """Object versions ingest recorded as published whose events have not reached Postgres yet."""
    if not ledger_path.exists():
        return []
    ledger = Ledger(ledger_path)
    try:
        done = list(ledger.done_versions())
    finally:
        ledger.close()
    article_ids = [a for v in done for a in v.article_ids]
    dead_letter_ids = [d for v in done for d in v.dead_letter_ids]
    arrived = reader.stored_article_ids(article_ids) | reader.dead_lettered_article_ids(article_ids)
    arrived |= reader.dead_letter_ids(dead_letter_ids)
    return unfinished(done, arrived)


def forget(ledger_path: Path, versions: Sequence[DoneVersion]) -> None:
    """Make these versions new again, so ingest reads and publishes them once more."""
    if not versions:
        return
    ledger = Ledger(ledger_path)
    try:
        for version in versions:
            ledger.forget(version.uri, version.version)
    finally:
        ledger.close()
