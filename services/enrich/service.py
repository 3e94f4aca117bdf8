"""The enrich stage's batch handler: cleaned articles in, enriched articles out (published by the runner)."""

from __future__ import annotations

from collections.abc import Sequence

from services.contracts import CleanedArticle, Topics
from services.enrich.pipeline import Enricher
from services.runtime import metrics
from services.runtime.messages import OutgoingEvent
from services.runtime.runner import Envelope, HandlerResult


class EnrichHandler:
    def __init__(self, enricher: Enricher) -> None:
        self._enricher = enricher

    def handle(self, batch: Sequence[Envelope]) -> HandlerResult:
        articles = [e.event for e in batch if isinstance(e.event, CleanedArticle)]
        enriched = self._enricher.enrich_batch(articles)
        for article in enriched:
            metrics.ENRICH_ANNOTATIONS.labels("entity").inc(len(article.entities))
            metrics.ENRICH_ANNOTATIONS.labels("quote").inc(len(article.quotes))
            metrics.ENRICH_ANNOTATIONS.labels("topic").inc(len(article.topics))
        return HandlerResult(outputs=[OutgoingEvent(Topics.ENRICHED, a.article_id, a) for a in enriched])
