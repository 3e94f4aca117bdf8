"""Enrich's real handler under the runner, on the in-memory broker: texts spaCy refuses never stop the stage."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
from spacy.language import Language

from services.contracts import CleanedArticle, DeadLetter, DeadLetterReason, Stage, Topics
from services.enrich.pipeline import Enricher
from services.enrich.service import EnrichHandler
from services.enrich.stories import InMemoryStoryStore
from services.enrich.taxonomy import load_taxonomy
from services.runtime.health import Health
from services.runtime.memory_broker import MemoryBroker
from services.runtime.messages import encode
from services.runtime.runner import Runner
from services.runtime.settings import ServiceSettings

GROUP = "newsflow-enrich"
TEXT = "Maria Lopez, the mayor of Lisbon, opened the new bridge on Monday.\n\nTraffic was light."


@pytest.fixture
def short_nlp(nlp: Language) -> Iterator[Language]:
    """The shared pipeline with a low ``max_length``, so a modest text triggers spaCy's own E088 refusal."""
    before = nlp.max_length
    nlp.max_length = 2_000
    try:
        yield nlp
    finally:
        nlp.max_length = before


def enrich_all(nlp: Language, settings: ServiceSettings, articles: list[CleanedArticle]) -> MemoryBroker:
    broker = MemoryBroker()
    for a in articles:
        broker.append(Topics.CLEANED, a.article_id.encode(), encode(a))
    stop = threading.Event()
    consumer = broker.consumer(GROUP, [Topics.CLEANED])  # a single member: nothing is ever revoked
    enricher = Enricher(nlp=nlp, taxonomy=load_taxonomy(None), stories=InMemoryStoryStore())
    runner = Runner(
        stage=Stage.ENRICH,
        settings=settings,
        consumer=consumer,
        producer=broker.producer(),
        models={Topics.CLEANED: CleanedArticle},
        handler=EnrichHandler(enricher, settings.kafka_max_message_bytes),
        health=Health(stall_after_s=60),
        stop=stop,
    )
    ends = broker.end_offsets(Topics.CLEANED)

    def watch() -> None:
        for _ in range(6000):  # gives up after about a minute: the asserts then fail
            if broker.committed(GROUP) == ends:
                break
            stop.wait(0.01)
        stop.set()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    runner.run()
    watcher.join()
    assert broker.committed(GROUP) == ends
    return broker


def dead_letters(broker: MemoryBroker) -> dict[str | None, DeadLetter]:
    letters = [DeadLetter.model_validate_json(m.value or b"") for m in broker.records(Topics.DEADLETTER)]
    return {letter.article_id: letter for letter in letters}


def test_a_text_spacy_refuses_is_dead_lettered_and_the_batch_is_enriched(
    short_nlp: Language, article: Callable[..., CleanedArticle]
) -> None:
    settings = ServiceSettings(max_text_chars=1_000_000, max_handler_attempts=2)
    articles = [article("good1", TEXT), article("toolong", TEXT * 40), article("good2", TEXT)]

    broker = enrich_all(short_nlp, settings, articles)

    assert sorted((m.key or b"").decode() for m in broker.records(Topics.ENRICHED)) == ["good1", "good2"]
    letter = dead_letters(broker)["toolong"]
    assert letter.reason is DeadLetterReason.HANDLER_FAILED
    assert letter.exception_class == "builtins.ValueError" and "E088" in letter.error
    assert letter.source is not None and letter.source.uri == "test://toolong"


def test_a_cleaned_event_over_a_million_characters_is_refused_before_spacy_sees_it(
    nlp: Language, article: Callable[..., CleanedArticle]
) -> None:
    # Finding 4: with the message limit raised, such an event reached spaCy (E088) and crash-looped enrich.
    settings = ServiceSettings(kafka_max_message_bytes=4_000_000)
    huge = article("huge", "word " * 200_001)
    broker = enrich_all(nlp, settings, [huge, article("good", TEXT)])

    assert [(m.key or b"").decode() for m in broker.records(Topics.ENRICHED)] == ["good"]
    letter = dead_letters(broker)["huge"]
    assert letter.reason is DeadLetterReason.OVERSIZED and "MAX_TEXT_CHARS" in letter.error
    assert letter.source is not None and letter.source.uri == "test://huge"
