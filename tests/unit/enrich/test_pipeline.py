from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from spacy.language import Language

from services.contracts.events import CleanedArticle
from services.enrich import ENRICHER_VERSION
from services.enrich.pipeline import Enricher
from services.enrich.stories import InMemoryStoryStore
from services.enrich.story_store import SqliteStoryStore
from services.enrich.taxonomy import load_taxonomy

TEXT = (
    "Russian Foreign Minister Alexei Morozov met his Chinese counterpart Chen Hao in Lhasa on May 12.\n\n"
    "“We share a view of a fair and balanced world order,” Morozov said after the talks.\n\n"
    "The diplomats also discussed sanctions and trade routes."
)


def test_enrich_batch_copies_fields_and_offsets_index_text(
    nlp: Language, tmp_path: Path, article: Callable[..., CleanedArticle]
) -> None:
    art = article("a1", TEXT, title="Morozov meets Chen", published=dt.date(2025, 5, 12))
    enricher = Enricher(
        nlp=nlp,
        taxonomy=load_taxonomy(None),
        stories=SqliteStoryStore(tmp_path / "s.sqlite3"),
        clock=lambda: dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    )
    [out] = enricher.enrich_batch([art])
    assert out.article_id == "a1" and out.text == TEXT and out.published_at == dt.date(2025, 5, 12)
    assert out.story_id == "story-a1"
    assert out.enrichment.enricher_version == ENRICHER_VERSION
    assert out.enrichment.model.startswith("en_core_web_sm")
    for e in out.entities:
        for m in e.mentions:
            assert TEXT[m.start : m.end] in (e.text, e.canonical) or e.canonical.endswith(TEXT[m.start : m.end])
    [quote] = out.quotes
    assert TEXT[quote.start : quote.end] == quote.text
    assert quote.speaker == "Alexei Morozov"
    assert "medtop:20000639" in {t.code for t in out.topics}
    assert out.keyphrases


def test_enrich_batch_is_deterministic(nlp: Language, article: Callable[..., CleanedArticle]) -> None:
    articles = [article(f"a{i}", TEXT) for i in range(3)]

    def run() -> list[str]:
        enricher = Enricher(nlp=nlp, taxonomy=load_taxonomy(None), stories=InMemoryStoryStore(), batch_size=2)
        return [e.model_dump_json(exclude={"enrichment"}) for e in enricher.enrich_batch(articles)]

    assert run() == run()


def test_empty_batch(nlp: Language) -> None:
    enricher = Enricher(nlp=nlp, taxonomy=load_taxonomy(None), stories=InMemoryStoryStore())
    assert enricher.enrich_batch([]) == []
