"""The store's read side: the queries ``newsflow export``, ``deadletters``, ``run`` and ``dev`` ask of
Postgres, over the repository's connection (psycopg stays in ``repository``)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from services.contracts import DeadLetter, EnrichedArticle
from services.store.repository import Repository


@dataclass(frozen=True)
class DeadLetterCount:
    stage: str
    reason: str
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

    def iter_articles(self) -> Iterator[EnrichedArticle]:
        """Every stored article as the enriched-article contract, in article_id order."""
        for (event,) in self._repository.stream("SELECT event FROM articles ORDER BY article_id"):
            yield EnrichedArticle.model_validate(event)

    def stored_article_ids(self, article_ids: Sequence[str]) -> set[str]:
        """Which of these articles are stored."""
        return self._present("SELECT article_id FROM articles WHERE article_id = ANY(%s)", article_ids)

    def dead_lettered_article_ids(self, article_ids: Sequence[str]) -> set[str]:
        """Which of these articles were refused by enrich or store."""
        return self._present("SELECT article_id FROM dead_letters WHERE article_id = ANY(%s)", article_ids)

    def dead_letter_ids(self, dead_letter_ids: Sequence[str]) -> set[str]:
        """Which of these dead letters are stored."""
        return self._present("SELECT dead_letter_id FROM dead_letters WHERE dead_letter_id = ANY(%s)", dead_letter_ids)

    def _present(self, query: str, ids: Sequence[str]) -> set[str]:
        if not ids:
            return set()
        return {str(row[0]) for row in self._repository.rows(query, (list(ids),))}

    def recent_dead_letters(self, stage: str | None, reason: str | None, limit: int) -> list[DeadLetter]:
        """The newest dead letters, optionally of one stage and/or reason."""
        rows = self._repository.rows(
            "SELECT event FROM dead_letters WHERE (%(stage)s::text IS NULL OR stage = %(stage)s)"
            " AND (%(reason)s::text IS NULL OR reason = %(reason)s) ORDER BY occurred_at DESC LIMIT %(limit)s",
            {"stage": stage, "reason": reason, "limit": limit},
        )
        return [DeadLetter.model_validate(row[0]) for row in rows]

    def dead_letter_counts(self) -> list[DeadLetterCount]:
        """Every stored dead letter counted by stage and reason."""
        rows = self._repository.rows(
            "SELECT stage, reason, count(*) FROM dead_letters GROUP BY stage, reason ORDER BY stage, reason"
        )
        return [DeadLetterCount(str(stage), str(reason), int(str(n))) for stage, reason, n in rows]

    def counts(self) -> StoredCounts:
        stored = self._repository.rows("SELECT count(*) FROM articles")
        by_reason = self._repository.rows("SELECT reason, count(*) FROM dead_letters GROUP BY reason")
        return StoredCounts(
            articles=int(str(stored[0][0])) if stored else 0,
            dead_letters_by_reason={str(reason): int(str(n)) for reason, n in by_reason},
        )
