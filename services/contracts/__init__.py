"""Public event contracts of newsflow: one pydantic model per topic, topic names, JSON Schema export.

This package is a leaf: it imports pydantic and the standard library only, so other teams can
depend on it (or on the exported JSON Schemas under ``schemas/``) without pulling in the services.
"""

from services.contracts.events import (
    CleanedArticle,
    DeadLetter,
    DeadLetterReason,
    EnrichedArticle,
    EnrichmentInfo,
    Entity,
    Mention,
    OriginalMessage,
    Quote,
    QuoteKind,
    SourceRef,
    Stage,
    Topic,
)
from services.contracts.topics import TOPIC_MODELS, Topics

__all__ = [
    "TOPIC_MODELS",
    "CleanedArticle",
    "DeadLetter",
    "DeadLetterReason",
    "EnrichedArticle",
    "EnrichmentInfo",
    "Entity",
    "Mention",
    "OriginalMessage",
    "Quote",
    "QuoteKind",
    "SourceRef",
    "Stage",
    "Topic",
    "Topics",
]
