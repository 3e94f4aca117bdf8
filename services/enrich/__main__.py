"""Composition root of the enrich service: ``python -m services.enrich`` or ``newsflow enrich``."""

from __future__ import annotations

from services.contracts import TOPIC_MODELS, Stage, Topics
from services.enrich.nlp import load_pipeline
from services.enrich.pipeline import Enricher
from services.enrich.service import EnrichHandler
from services.enrich.settings import EnrichSettings
from services.enrich.story_store import SqliteStoryStore
from services.enrich.taxonomy import load_taxonomy
from services.enrich.topic_model import load_topic_model
from services.runtime.lifecycle import run_consuming_stage, start_process


def main() -> None:
    settings = EnrichSettings()
    stop, health = start_process(Stage.ENRICH, settings)
    enricher = Enricher(
        nlp=load_pipeline(settings.spacy_model),
        taxonomy=load_taxonomy(settings.taxonomy_path),
        stories=SqliteStoryStore(settings.story_state_path),
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
