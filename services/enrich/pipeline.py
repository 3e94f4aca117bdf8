"""Composition of the pure parts: one ``nlp.pipe`` pass, then entities, quotes, topics, keyphrases, story.

Only ``text`` goes through spaCy, so every Mention/Quote offset indexes ``CleanedArticle.text`` directly.
The title (and standfirst) are used as plain strings: topic keywords, entity salience, keyphrase-free.
Parsing them too would cost a second Doc per article for little gain.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from spacy.language import Language
from spacy.tokens import Doc

from services.contracts.events import CleanedArticle, EnrichedArticle, EnrichmentInfo, Quote, Topic
from services.enrich import ENRICHER_VERSION
from services.enrich.entities import EntityAnalysis, analyse_entities
from services.enrich.nlp import model_identity
from services.enrich.quotes import extract_quotes
from services.enrich.stories import StoryFeatures, StoryStore, assign_stories, extract_features
from services.enrich.taxonomy import Taxonomy
from services.enrich.topic_model import TopicModel, load_topic_model
from services.enrich.topics import assign_topics, keyphrases, score_topics


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def story_features(
    article: CleanedArticle, doc: Doc, analysis: EntityAnalysis, quotes: Sequence[Quote]
) -> StoryFeatures:
    """What story assignment sees of an article (also used by tests that replay arrival orders)."""
    return extract_features(
        article.article_id,
        doc,
        analysis,
        published=article.published_at,
        ingested=article.ingested_at.date(),
        # Every kind: a short quoted fragment echoed by another report is evidence too.
        quotes=[q.text for q in quotes],
        text=article.text,
    )


class Enricher:
    def __init__(
        self,
        *,
        nlp: Language,
        taxonomy: Taxonomy,
        stories: StoryStore,
        batch_size: int = 32,
        clock: Callable[[], dt.datetime] = _utcnow,
        topic_model: TopicModel | Literal["packaged"] | None = "packaged",
    ) -> None:
        """``topic_model``: the level-1 topic classifier; ``"packaged"`` is the model shipped with newsflow,
        ``None`` leaves topics to the keyword scorer alone (the pre-classifier behaviour, a cost baseline)."""
        self.nlp = nlp
        self.topic_model = load_topic_model(None) if topic_model == "packaged" else topic_model
        self.taxonomy = taxonomy
        self.stories = stories
        self.batch_size = batch_size
        self._clock = clock
        self._model, self._model_version = model_identity(nlp)

    def enrich_batch(self, articles: Sequence[CleanedArticle]) -> list[EnrichedArticle]:
        """Enrich ``articles`` in order. Story assignment runs sequentially in input order, so the
        result is deterministic for the same input and story state (apart from ``enriched_at``)."""
        enriched_at = self._clock()
        info = EnrichmentInfo(
            enricher_version=ENRICHER_VERSION,
            model=self._model,
            model_version=self._model_version,
            enriched_at=enriched_at,
            topic_model=self.topic_model.name if self.topic_model else None,
            topic_model_version=self.topic_model.version if self.topic_model else None,
        )
        parts: list[_Parts] = []
        # Inside a memory zone the strings and vocabulary entries the batch adds are freed when it
        # ends, so a long-running enricher stays at a flat RSS (every Doc is consumed inside it).
        with self.nlp.memory_zone():
            docs = self.nlp.pipe((a.text for a in articles), batch_size=self.batch_size)
            for article, doc in zip(articles, docs, strict=True):
                title = article.title if not article.standfirst else f"{article.title}\n{article.standfirst}"
                analysis = analyse_entities(doc, title=title, text=article.text)
                quotes = extract_quotes(doc, analysis, text=article.text)
                topics = (
                    assign_topics(title, article.text, self.taxonomy, self.topic_model)
                    if self.topic_model
                    else score_topics(title, article.text, self.taxonomy)
                )
                phrases = keyphrases(doc, analysis)
                features = story_features(article, doc, analysis, quotes)
                parts.append(_Parts(article, analysis, quotes, topics, phrases, features))
        # One story transaction for the batch, in input order, after the parses (the lock is not held
        # while spaCy runs).
        decisions = assign_stories(self.stories, [p.features for p in parts])
        out: list[EnrichedArticle] = []
        for part, decision in zip(parts, decisions, strict=True):
            fields = part.article.model_dump(exclude={"schema_version"})
            out.append(
                EnrichedArticle(
                    **fields,
                    entities=part.analysis.entities,
                    quotes=part.quotes,
                    topics=part.topics,
                    keyphrases=part.keyphrases,
                    story_id=decision.story_id,
                    enrichment=info,
                    values=part.analysis.values,
                )
            )
        return out


@dataclass(frozen=True)
class _Parts:
    """What one article's parse produced, kept until its story is assigned with the batch's."""

    article: CleanedArticle
    analysis: EntityAnalysis
    quotes: list[Quote]
    topics: list[Topic]
    keyphrases: list[str]
    features: StoryFeatures
