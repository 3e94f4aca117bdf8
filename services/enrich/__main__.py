"""Composition root of the enrich service: ``python -m services.enrich`` or ``newsflow enrich``."""

from __future__ import annotations

import datetime as dt
import sys

from services.contracts import TOPIC_MODELS, Stage, Topics
from services.enrich.nlp import load_pipeline
from services.enrich.pipeline import Enricher
from services.enrich.service import EnrichHandler
from services.enrich.settings import EnrichSettings
from services.enrich.stories import StoryStore
from services.enrich.story_store import SqliteStoryStore
from services.enrich.taxonomy import load_taxonomy
from services.enrich.topic_model import load_topic_model
from services.runtime.lifecycle import run_consuming_stage, start_process


def build_story_store(settings: EnrichSettings) -> StoryStore:
    if settings.story_state == "postgres":
        if settings.database_url is None:
            print("enrich: STORY_STATE=postgres needs DATABASE_URL", file=sys.stderr)
            sys.exit(2)
        from services.enrich.postgres_story_store import PostgresStoryStore

        store = PostgresStoryStore(
            settings.database_url.get_secret_value(),
            retention=dt.timedelta(days=settings.story_retention_days),
            prune_interval_s=settings.story_prune_interval_seconds,
        )
        store.migrate()  # enrich may start before the store: it applies its own tables
        return store
    return SqliteStoryStore(settings.story_state_path)


def main() -> None:
    settings = EnrichSettings()
    stop, health = start_process(Stage.ENRICH, settings)
    enricher = Enricher(
        nlp=load_pipeline(settings.spacy_model, exclude=settings.spacy_exclude),
        taxonomy=load_taxonomy(settings.taxonomy_path),
        stories=build_story_store(settings),
        batch_size=settings.enrich_batch_size,
        topic_model=load_topic_model(settings.topic_model_path),
    )
    run_consuming_stage(
        stage=Stage.ENRICH,
        settings=settings,
        group_id=settings.enrich_group_id,
        models={Topics.CLEANED: TOPIC_MODELS[Topics.CLEANED]},
        handler=EnrichHandler(enricher, settings.kafka_max_message_bytes),
        stop=stop,
        health=health,
    )


if __name__ == "__main__":
    main()
