"""End-to-end check on the real seed articles (not committed; skipped when absent)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from spacy.language import Language

from services.contracts.events import CleanedArticle, EnrichedArticle, SourceRef
from services.enrich.entities import canonical_id_for
from services.enrich.pipeline import Enricher
from services.enrich.stories import InMemoryStoryStore
from services.enrich.taxonomy import load_taxonomy

SEEDS = Path(__file__).resolve().parents[3].parent / "shared" / "seeds"
pytestmark = pytest.mark.skipif(not SEEDS.is_dir(), reason="shared seeds not present")

# Lines from which the rest of a saved page is boilerplate (comments, related links).
_END_MARKERS = ("MORE ON THE TOPIC", "Show More", "Related Articles", "No comments", "International Agencies")
_DROP_LINES = ("Click to see full-size image", "IMAGE SOURCE", "!-- Google tag")
DIPLOMACY = {"medtop:20000639", "medtop:20000638"}


def _clean(path: Path) -> CleanedArticle:
    lines = [line.strip() for line in path.read_text(encoding="utf-8").split("\n")]
    body: list[str] = []
    for line in lines:
        if line.startswith(_END_MARKERS):
            break
        if line and not line.startswith(_DROP_LINES):
            body.append(line)
    title, text = body[0], "\n\n".join(body[1:])
    return CleanedArticle(
        article_id=path.stem.split("_")[0],
        source=SourceRef(uri=str(path), version="1", format="text", size=len(text), sha256="0"),
        title=title,
        text=text,
        word_count=len(text.split()),
        ingested_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    )


@pytest.fixture(scope="module")
def enriched(nlp: Language) -> dict[str, EnrichedArticle]:
    articles = [_clean(p) for p in sorted(SEEDS.glob("*.txt"))]
    enricher = Enricher(nlp=nlp, taxonomy=load_taxonomy(None), stories=InMemoryStoryStore())
    return {e.article_id: e for e in enricher.enrich_batch(articles)}


def _speaker(article: EnrichedArticle, start: str) -> tuple[str | None, str | None]:
    matches = [q for q in article.quotes if q.text.startswith(start)]
    assert matches, start
    return matches[-1].speaker, matches[-1].speaker_id


def test_seed_quotes(enriched: dict[str, EnrichedArticle]) -> None:
    lavrov = canonical_id_for("Sergey Lavrov", "PERSON")
    assert _speaker(enriched["000"], "Russia and China")[0] == "Sergey Lavrov"
    assert _speaker(enriched["000"], "Since the conflict erupted")[0] == "Zhao Lijian"
    assert _speaker(enriched["001"], "China is willing to work with Russia")[0] == "Wang Yi"
    assert _speaker(enriched["001"], "there is no limit to China-Russia cooperation")[0] == "Wang Wenbin"
    assert _speaker(enriched["002"], "We will move together") == ("Sergei Lavrov", lavrov)
    speaker, _ = _speaker(enriched["002"], "It is crucial that")
    assert speaker is not None and speaker.lower() == "a us state department spokesman"
    assert _speaker(enriched["003"], "China and Russia, as leading global powers")[0] == "Wang Yi"
    assert _speaker(enriched["003"], "The world expects us")[0] == "Antony Blinken"
    assert _speaker(enriched["003"], "I expect both sides")[0] == "Ryan Hass"


def test_seed_lavrov_spellings_share_an_id(enriched: dict[str, EnrichedArticle]) -> None:
    ids = {
        e.canonical_id
        for a in enriched.values()
        for e in a.entities
        if e.canonical in ("Sergey Lavrov", "Sergei Lavrov")
    }
    assert ids == {canonical_id_for("Sergey Lavrov", "PERSON")}


def test_seed_stories(enriched: dict[str, EnrichedArticle]) -> None:
    s = {k: v.story_id for k, v in enriched.items()}
    assert s["000"] == s["001"] == s["002"]
    assert len({s["000"], s["003"], s["004"]}) == 3


def test_seed_topics_are_diplomatic(enriched: dict[str, EnrichedArticle]) -> None:
    for article in enriched.values():
        assert DIPLOMACY & {t.code for t in article.topics}, article.article_id
