"""Topic names and the model each one carries."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel

from services.contracts.events import CleanedArticle, DeadLetter, EnrichedArticle


class Topics(StrEnum):
    CLEANED = "articles.cleaned"
    ENRICHED = "articles.enriched"
    DEADLETTER = "articles.deadletter"


TOPIC_MODELS: dict[Topics, type[BaseModel]] = {
    Topics.CLEANED: CleanedArticle,
    Topics.ENRICHED: EnrichedArticle,
    Topics.DEADLETTER: DeadLetter,
}
