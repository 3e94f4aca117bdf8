"""The enrich stage's handler with the real spaCy pipeline: outputs in order, oversized results
dead-lettered against the message they came from."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from services.contracts import CleanedArticle, EnrichedArticle, SourceRef, Topics
from services.enrich.nlp import load_pipeline
from services.enrich.pipeline import Enricher
from services.enrich.service import EnrichHandler
from services.enrich.story_store import SqliteStoryStore
from services.enrich.taxonomy import load_taxonomy
from services.runtime.messages import ConsumedMessage
from services.runtime.runner import Envelope

pytestmark = pytest.mark.integration

TEXT = (
    "Harbour workers in Kessel ended their strike on Friday after a nine-hour meeting.\n\n"
    "\u201cWe got what we came for, and the port opens tomorrow,\u201d union leader Mara Quill told reporters "
    "outside the ministry. Transport Minister Jon Edde said the deal was fair to both sides."
)


def cleaned(article_id: str, text: str) -> CleanedArticle:
    return CleanedArticle(
        article_id=article_id,
        source=SourceRef(uri=f"inbox/{article_id}.txt", version="1", format="text", size=len(text), sha256="0"),
        title="Port strike ends",
        text=text,
        word_count=len(text.split()),
        ingested_at=dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
    )


def envelope(offset: int, article: CleanedArticle) -> Envelope:
    message = ConsumedMessage(
        Topics.CLEANED, 0, offset, article.article_id.encode(), article.model_dump_json().encode()
    )
    return Envelope(message, article)


@pytest.fixture(scope="module")
def enricher(tmp_path_factory: pytest.TempPathFactory) -> Enricher:
    folder: Path = tmp_path_factory.mktemp("stories")
    return Enricher(
        nlp=load_pipeline("en_core_web_sm"),
        taxonomy=load_taxonomy(None),
        stories=SqliteStoryStore(folder / "stories.sqlite3"),
        batch_size=8,
    )


def test_outputs_follow_inputs_and_carry_the_enrichment(enricher: Enricher) -> None:
    batch = [envelope(i, cleaned(f"a{i}", TEXT + f" Update {i}.")) for i in range(3)]
    result = EnrichHandler(enricher, max_message_bytes=1_000_000).handle(batch)
    assert result.dead_letters == []
    assert [o.key for o in result.outputs] == ["a0", "a1", "a2"]
    first = result.outputs[0].event
    assert isinstance(first, EnrichedArticle)
    assert {q.speaker for q in first.quotes} == {"Mara Quill"}
    assert first.enrichment.model.startswith("en_core_web_sm")


def test_an_enriched_article_above_the_message_limit_is_dead_lettered(enricher: Enricher) -> None:
    small = cleaned("small", TEXT)
    large = cleaned("large", TEXT + "\n\n" + " ".join(["Kessel port reopened."] * 120))
    unlimited = EnrichHandler(enricher, max_message_bytes=10_000_000).handle([envelope(7, small)])
    small_size = len(unlimited.outputs[0].event.model_dump_json().encode())
    result = EnrichHandler(enricher, max_message_bytes=small_size + 100).handle(
        [envelope(7, small), envelope(8, large)]
    )
    assert [o.key for o in result.outputs] == ["small"]
    assert [(d.reason.value, d.article_id) for d in result.dead_letters] == [("oversized", "large")]
    assert result.dead_letters[0].original is not None and result.dead_letters[0].original.offset == 8
