"""The enrich stage's batch handler: cleaned articles in, enriched articles out (published by the runner)."""

from __future__ import annotations

from collections.abc import Sequence

from services.contracts import CleanedArticle, DeadLetterReason, EnrichedArticle, Stage, Topics
from services.enrich.pipeline import Enricher
from services.runtime import deadletters, metrics
from services.runtime.messages import OutgoingEvent, encode
from services.runtime.runner import Envelope, HandlerResult


class EnrichHandler:
    def __init__(self, enricher: Enricher, max_message_bytes: int) -> None:
        self._enricher = enricher
        self._max_message_bytes = max_message_bytes
        self._top_level_topics = frozenset(
            code for code, topic in enricher.taxonomy.topics.items() if topic.parent is None
        )

    def handle(self, batch: Sequence[Envelope]) -> HandlerResult:
        pairs = [(e, e.event) for e in batch if isinstance(e.event, CleanedArticle)]
        enriched = self._enricher.enrich_batch([cleaned for _, cleaned in pairs])
        result = HandlerResult()
        for (envelope, _), article in zip(pairs, enriched, strict=True):
            if not self._fits(article):
                result.dead_letters.append(
                    deadletters.for_message(
                        Stage.ENRICH,
                        DeadLetterReason.OVERSIZED,
                        f"the enriched article is larger than the {self._max_message_bytes}-byte message limit",
                        envelope.message,
                        article_id=article.article_id,
                    )
                )
                continue
            metrics.ENRICH_ANNOTATIONS.labels("entity").inc(len(article.entities))
            metrics.ENRICH_ANNOTATIONS.labels("quote").inc(len(article.quotes))
            metrics.ENRICH_ANNOTATIONS.labels("topic").inc(len(article.topics))
            self._observe_quality(article)
            result.outputs.append(OutgoingEvent(Topics.ENRICHED, article.article_id, article))
        return result

    def _observe_quality(self, article: EnrichedArticle) -> None:
        """Drift signals: a model that stops finding quotes, speakers or topics shows here first."""
        metrics.ENRICH_QUOTES_PER_ARTICLE.observe(len(article.quotes))
        attributed = sum(1 for quote in article.quotes if quote.speaker)
        metrics.ENRICH_QUOTES.labels("true").inc(attributed)
        metrics.ENRICH_QUOTES.labels("false").inc(len(article.quotes) - attributed)
        if not any(topic.code in self._top_level_topics for topic in article.topics):
            metrics.ENRICH_WITHOUT_TOPIC.inc()

    def _fits(self, article: EnrichedArticle) -> bool:
        return len(encode(article)) <= self._max_message_bytes
