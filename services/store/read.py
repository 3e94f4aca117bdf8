"""The store's read side: the queries ``newsflow export``, ``deadletters``, ``run`` and ``dev`` ask of
Postgres, over the repository's connection (psycopg stays in ``repository``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from services.contracts import DeadLetter, EnrichedArticle
from services.store.repository import Repository


@dataclass(frozen=True)
class StoredDeadLetter:
    """A dead letter as the store keeps it: the event, the trace it came with, its redrive state."""

    dead_letter: DeadLetter
    state: str
    trace_id: str | None = None
    seen_at_ms: int | None = None
    redriven_at: dt.datetime | None = None
    redriven_to: str | None = None


@dataclass(frozen=True)
class DeadLetterCount:
    stage: str
    reason: str
    state: str
    count: int


@dataclass(frozen=True)
class StoredCounts:
    """Stored articles and dead letters by reason, for progress displays and summaries."""

    articles: int
    dead_letters_by_reason: dict[str, int] = field(default_factory=dict)

    @property
    def dead_letters(self) -> int:
        return sum(self.dead_letters_by_reason.values())


class StoreReader:
    def __init__(self, repository: Repository) -> None:
        self._repository = repository

    def iter_articles(self, since: dt.datetime | None = None) -> Iterator[EnrichedArticle]:
        """Every stored article as the enriched-article contract, in article_id order; with ``since``,
        only those stored (or re-stored with a newer enrichment) at or after that time."""
        for (event,) in self._repository.stream(
            "SELECT event FROM articles WHERE %(since)s::timestamptz IS NULL OR stored_at >= %(since)s"
            " ORDER BY article_id",
            {"since": since},
        ):
            yield EnrichedArticle.model_validate(event)

    def stored_article_ids(self, article_ids: Sequence[str]) -> set[str]:
        """Which of these articles are stored (or were, until a newer version of their source replaced them)."""
        return self._present(
            "SELECT article_id FROM articles WHERE article_id = ANY(%(ids)s)"
            " UNION SELECT article_id FROM superseded_articles WHERE article_id = ANY(%(ids)s)",
            article_ids,
        )

    def dead_lettered_article_ids(self, article_ids: Sequence[str]) -> set[str]:
        """Which of these articles were refused by enrich or store."""
        return self._present("SELECT article_id FROM dead_letters WHERE article_id = ANY(%s)", article_ids)

    def dead_letter_ids(self, dead_letter_ids: Sequence[str]) -> set[str]:
        """Which of these dead letters are stored."""
        return self._present("SELECT dead_letter_id FROM dead_letters WHERE dead_letter_id = ANY(%s)", dead_letter_ids)

    def arrived_ids(self, article_ids: Sequence[str], dead_letter_ids: Sequence[str]) -> set[str]:
        """Which of these article ids are stored or dead-lettered, and which of these dead-letter ids
        are stored: one round trip, for a caller waiting on a shrinking set."""
        if not article_ids and not dead_letter_ids:
            return set()
        rows = self._repository.rows(
            "SELECT article_id FROM articles WHERE article_id = ANY(%(a)s)"
            " UNION SELECT article_id FROM dead_letters WHERE article_id = ANY(%(a)s)"
            " UNION SELECT dead_letter_id FROM dead_letters WHERE dead_letter_id = ANY(%(d)s)",
            {"a": list(article_ids), "d": list(dead_letter_ids)},
        )
        return {str(row[0]) for row in rows if row[0] is not None}

    def _present(self, query: str, ids: Sequence[str]) -> set[str]:
        if not ids:
            return set()
        params: Sequence[object] | dict[str, object] = {"ids": list(ids)} if "%(ids)s" in query else (list(ids),)
        return {str(row[0]) for row in self._repository.rows(query, params)}

    def recent_dead_letters(
        self, stage: str | None, reason: str | None, limit: int, state: str | None = None
    ) -> list[StoredDeadLetter]:
        """The newest dead letters, optionally of one stage, reason and/or redrive state."""
        return self._dead_letters(
            "(%(stage)s::text IS NULL OR stage = %(stage)s) AND (%(reason)s::text IS NULL OR reason = %(reason)s)"
            " AND (%(state)s::text IS NULL OR state = %(state)s) ORDER BY occurred_at DESC LIMIT %(limit)s",
            {"stage": stage, "reason": reason, "state": state, "limit": limit},
        )

    def open_dead_letters(
        self, stage: str | None, reason: str | None, since: dt.datetime | None
    ) -> list[StoredDeadLetter]:
        """Dead letters not redriven yet, oldest first, optionally of one stage / reason / since a time."""
        return self._dead_letters(
            "state = 'open' AND (%(stage)s::text IS NULL OR stage = %(stage)s)"
            " AND (%(reason)s::text IS NULL OR reason = %(reason)s)"
            " AND (%(since)s::timestamptz IS NULL OR occurred_at >= %(since)s) ORDER BY occurred_at, dead_letter_id",
            {"stage": stage, "reason": reason, "since": since},
        )

    def _dead_letters(self, where: str, params: dict[str, object]) -> list[StoredDeadLetter]:
        rows = self._repository.rows(
            "SELECT event, state, trace_id, seen_at_ms, redriven_at, redriven_to FROM dead_letters WHERE " + where,
            params,
        )
        return [
            StoredDeadLetter(
                dead_letter=DeadLetter.model_validate(event),
                state=str(state),
                trace_id=None if trace_id is None else str(trace_id),
                seen_at_ms=None if seen_at_ms is None else int(str(seen_at_ms)),
                redriven_at=redriven_at if isinstance(redriven_at, dt.datetime) else None,
                redriven_to=None if redriven_to is None else str(redriven_to),
            )
            for event, state, trace_id, seen_at_ms, redriven_at, redriven_to in rows
        ]

    def dead_letter_counts(self) -> list[DeadLetterCount]:
        """Every stored dead letter counted by stage, reason and redrive state."""
        rows = self._repository.rows(
            "SELECT stage, reason, state, count(*) FROM dead_letters GROUP BY stage, reason, state"
            " ORDER BY stage, reason, state"
        )
        return [DeadLetterCount(str(stage), str(reason), str(state), int(str(n))) for stage, reason, state, n in rows]

    def counts(self) -> StoredCounts:
        stored = self._repository.rows("SELECT count(*) FROM articles")
        by_reason = self._repository.rows("SELECT reason, count(*) FROM dead_letters GROUP BY reason")
        return StoredCounts(
            articles=int(str(stored[0][0])) if stored else 0,
            dead_letters_by_reason={str(reason): int(str(n)) for reason, n in by_reason},
        )
