"""The store's batch handler: enriched articles and dead letters into Postgres, one transaction a batch."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from services.contracts import DeadLetter, DeadLetterReason, EnrichedArticle, Stage
from services.runtime import deadletters
from services.runtime.runner import Envelope, HandlerResult
from services.store.repository import Repository, RowRejected, Traces

log = logging.getLogger(__name__)


class StoreHandler:
    def __init__(self, repository: Repository) -> None:
        self._repository = repository

    def handle(self, batch: Sequence[Envelope]) -> HandlerResult:
        articles = [(e, e.event) for e in batch if isinstance(e.event, EnrichedArticle)]
        dead_letters = [e.event for e in batch if isinstance(e.event, DeadLetter)]
        traces = Traces(
            articles={a.article_id: e.trace for e, a in articles},
            dead_letters={e.event.dead_letter_id: e.trace for e in batch if isinstance(e.event, DeadLetter)},
        )
        try:
            # The durable step: the runner commits offsets only after this returns.
            self._repository.write_batch([a for _, a in articles], dead_letters, traces)
            return HandlerResult()
        except RowRejected:
            log.warning("batch refused by Postgres; isolating the offending rows")
        # Slow path, rare: one transaction per row, so one bad row cannot hold back the others.
        refused: list[DeadLetter] = []
        for envelope, article in articles:
            try:
                self._repository.write_batch([article], [], traces)
            except RowRejected as exc:
                refused.append(
                    deadletters.for_message(
                        Stage.STORE,
                        DeadLetterReason.INVALID_EVENT,
                        f"refused by Postgres: {exc}",
                        envelope.message,
                        article_id=article.article_id,
                        exception=exc.__cause__ or exc,
                    )
                )
        for dead_letter in dead_letters:
            try:
                self._repository.write_batch([], [dead_letter], traces)
            except RowRejected as exc:
                # A dead letter that cannot be stored is still on the dead-letter topic; log, move on.
                log.error(
                    "dead letter refused by Postgres",
                    extra={"id": dead_letter.dead_letter_id, "error": str(exc)},
                )
        return HandlerResult(dead_letters=refused)
