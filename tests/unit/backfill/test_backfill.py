"""Pure parts of ``newsflow reenrich``: selection by version, the cleaned form, the per-field diff, story
merges, pending articles and the rate limit."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from services.backfill import (
    RateLimiter,
    Selection,
    choose,
    chunk_size,
    cleaned_form,
    diff_article,
    diff_report,
    parse_version,
    story_merges,
    version_below,
)
from services.contracts import CleanedArticle, EnrichedArticle, EnrichmentInfo, Entity, Quote, QuoteKind, SourceRef
from services.contracts.events import Topic

T0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def article(
    article_id: str = "a",
    *,
    version: str = "0.1.0",
    enriched_at: dt.datetime = T0,
    entities: tuple[tuple[str, str], ...] = (("Ann Lee", "PERSON"), ("Harbourton", "GPE")),
    quotes: tuple[tuple[str, str | None], ...] = (("We will be back", "Ann Lee"),),
    topics: tuple[str, ...] = ("medtop:04000000",),
    story_id: str | None = "s1",
    title: str = "Port strike ends",
) -> EnrichedArticle:
    return EnrichedArticle(
        article_id=article_id,
        source=SourceRef(uri=f"inbox/{article_id}.txt", version="v1", format="text", size=10, sha256="0" * 64),
        title=title,
        text='Dock workers went back. "We will be back," Ann Lee said.',
        word_count=10,
        ingested_at=T0 - dt.timedelta(days=1),
        entities=[
            Entity(text=name, canonical=name, canonical_id=name.lower(), label=label, count=1, salience=0.5)
            for name, label in entities
        ],
        quotes=[
            Quote(text=text, speaker=speaker, kind=QuoteKind.FULL, confidence=0.9, start=0, end=5)
            for text, speaker in quotes
        ],
        topics=[Topic(code=code, label=code.split(":")[1], score=0.5) for code in topics],
        story_id=story_id,
        enrichment=EnrichmentInfo(
            enricher_version=version, model="en_core_web_sm", model_version="3.8.0", enriched_at=enriched_at
        ),
    )


def test_versions_below_the_bound_are_chosen_and_an_unparseable_one_counts_as_older() -> None:
    assert version_below("0.0.9", "0.1.0") and version_below("0.1.0", "0.10.0")
    assert not version_below("0.1.0", "0.1.0") and not version_below("0.2.0", "0.1.0")
    assert version_below("hand-edited", "0.1.0")
    with pytest.raises(ValueError, match="expected a version"):
        parse_version("latest")


def test_choose_filters_by_version_and_stops_at_the_limit() -> None:
    stored = [("0.0.9", article("a")), ("0.1.0", article("b")), ("0.0.8", article("c")), ("0.0.1", article("d"))]
    assert [a.article_id for a in choose(stored, Selection("0.1.0"))] == ["a", "c", "d"]
    assert [a.article_id for a in choose(stored, Selection("0.1.0", limit=2))] == ["a", "c"]
    assert choose(stored, Selection("0.0.1")) == []


def test_the_cleaned_form_is_every_shared_field_and_nothing_of_the_enrichment() -> None:
    enriched = article()
    cleaned = cleaned_form(enriched)
    assert isinstance(cleaned, CleanedArticle)
    assert cleaned.model_dump() == {k: v for k, v in enriched.model_dump().items() if k in CleanedArticle.model_fields}
    assert "entities" not in cleaned.model_dump_json()


def test_the_diff_lists_exactly_the_fields_that_changed() -> None:
    old = article(
        entities=(("Ann Lee", "PERSON"), ("Harbourton", "GPE")),
        quotes=(("We will be back", None), ("Not now", "Bob Ray")),
        topics=("medtop:04000000",),
    )
    new = article(
        enriched_at=T0 + dt.timedelta(days=1),
        entities=(("Ann Lee", "PERSON"), ("Port Authority", "ORG")),
        quotes=(("We will be back", "Ann Lee"), ("Soon", "Ann Lee")),
        topics=("medtop:09000000",),
    )
    changes = {c.field: c for c in diff_article(old, new)}
    assert set(changes) == {"entities", "quotes", "topics"}
    assert changes["entities"].added == ("Port Authority [ORG]",)
    assert changes["entities"].removed == ("Harbourton [GPE]",)
    assert changes["quotes"].changed == ("«We will be back»: no speaker -> Ann Lee",)
    assert changes["quotes"].added == ("«Soon» (Ann Lee)",) and changes["quotes"].removed == ("«Not now» (Bob Ray)",)
    assert changes["topics"].added == ("medtop:09000000 09000000",)
    assert changes["topics"].removed == ("medtop:04000000 04000000",)


def test_same_annotations_with_other_scores_and_times_are_no_change() -> None:
    old = article()
    new = article(version="0.2.0", enriched_at=T0 + dt.timedelta(days=1))
    rescored = new.model_copy(update={"entities": [e.model_copy(update={"salience": 0.9}) for e in new.entities]})
    assert diff_article(old, rescored) == []


def test_article_fields_and_story_changes_are_listed() -> None:
    changes = diff_article(article(title="Old", story_id="s1"), article(title="New", story_id="s2"))
    assert [(c.field, c.changed) for c in changes] == [("title", ("Old -> New",)), ("story_id", ("s1 -> s2",))]


def test_story_merges_are_new_stories_gathering_two_old_ones() -> None:
    pairs = [
        ("a", article("a", story_id="s1"), article("a", story_id="s1")),
        ("b", article("b", story_id="s2"), article("b", story_id="s1")),
        ("c", article("c", story_id="s3"), article("c", story_id="s3")),
    ]
    (merge,) = story_merges(pairs)
    assert (merge.story_id, merge.merged, merge.article_ids) == ("s1", ("s1", "s2"), ("a", "b"))


def test_articles_not_re_enriched_yet_are_pending_not_unchanged() -> None:
    old = article("a")
    report = diff_report(
        [
            ("a", old, old),  # the store still holds the selected event
            ("b", article("b"), None),  # deleted since
            ("c", article("c"), article("c", enriched_at=T0 + dt.timedelta(hours=1), version="0.2.0")),
        ]
    )
    assert report.pending == ["a", "b"] and report.changes == [] and report.changed_articles == 0
    assert report.versions == {"c": ("0.1.0", "0.2.0")}


def test_the_rate_limiter_waits_for_each_chunks_share_of_time() -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(5.0, clock=lambda: now[0], sleep=sleep)
    assert limiter.wait_after(10) == pytest.approx(2.0)
    now[0] += 3.0  # the next chunk was slow to build: its own share is still waited, no catching up
    assert limiter.wait_after(5) == pytest.approx(1.0)
    assert limiter.wait_after(10) == pytest.approx(2.0)
    assert slept == pytest.approx([2.0, 1.0, 2.0])


def test_chunks_are_about_a_seconds_worth() -> None:
    assert chunk_size(0.5) == 1 and chunk_size(20) == 20 and chunk_size(10_000) == 200


def test_the_report_prints_brackets_as_text_and_json_lines_as_they_are(capsys: pytest.CaptureFixture[str]) -> None:
    from services.cli import ReportFormat, _print_diff

    old = article(quotes=(("Say [sic] :smile: it", "Ann Lee"),))
    new = article(enriched_at=T0 + dt.timedelta(days=1), entities=(("Ann Lee", "PERSON"),), quotes=())
    report = diff_report([("a", old, new)])
    _print_diff(report, ReportFormat.TABLE, "changed")
    table = capsys.readouterr().out
    assert "Harbourton [GPE]" in table and "«Say [sic] :smile: it» (Ann Lee)" in table
    assert "1 article(s) compared, 1 changed, 0 story merge(s), 0 pending" in table
    _print_diff(report, ReportFormat.JSONL, "changed")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["field"], r["removed"]) for r in lines] == [
        ("entities", ["Harbourton [GPE]"]),
        ("quotes", ["«Say [sic] :smile: it» (Ann Lee)"]),
    ]
