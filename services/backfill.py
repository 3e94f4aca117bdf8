"""Re-enrichment (``newsflow reenrich``): bring stored articles up to the current enrichment, and say what changed.

A run selects stored articles (enricher version below a bound, ingested since a date, one story, at most N),
records the selection in Postgres (``backfill_runs`` / ``backfill_items``, with each article's stored event
as it was), then republishes each article's cleaned form, taken from that stored event, to
``articles.cleaned`` with the ``newsflow-backfill-of`` header. Enrich handles it like a new article (same
topic, same consumer group, behind live traffic: see the README for why) and store replaces the old
annotations, because the new enrichment is newer (``enriched_at``) than the stored one.

Safety: the selection is written before anything is published; items are marked published only after the
broker acknowledged them, chunk by chunk. A run killed at any point resumes with the same selection and
republishes at most the chunk that was in flight; the store upserts by ``article_id``, so an article
republished twice is still stored once. Publishing is rate-limited so live articles keep their latency.

The diff report compares two enriched forms of each article per field: entities (by canonical id and
label) added/removed, quotes added/removed/re-attributed (same words, other speaker), topics (by code)
added/removed, keyphrases added/removed, story_id changed (and story merges across the articles), and any
article field that differs. Scores (salience, confidence, topic score) are not compared: they move with
every model tweak and would bury the changes a reader acts on. ``--dry-run`` runs the current enricher
in this process on a sample without publishing or writing anything; the report of a completed run reads
the recorded "before" and the stored "now" from Postgres.

Composition module (beside ``cli.py``, like ``redrive``): it wires enrich's pipeline, the Kafka adapter and
the store's backfill ledger; the selection, diff and rate logic below are pure and unit-tested.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from packaging.version import InvalidVersion, Version

from services.contracts import CleanedArticle, EnrichedArticle, Topics
from services.enrich.nlp import load_pipeline
from services.enrich.pipeline import Enricher
from services.enrich.settings import EnrichSettings
from services.enrich.stories import Decision, StoryFeatures
from services.enrich.taxonomy import load_taxonomy
from services.runtime import metrics
from services.runtime.kafka import EventProducer, ensure_topics
from services.runtime.messages import OutgoingEvent, Trace, trace_id_for
from services.runtime.settings import ServiceSettings
from services.store.backfills import BackfillLedger, BackfillRun, PendingItem, PublishedMark

KIND = "reenrich"
# Article fields compared as whole values (the annotations are compared element by element).
_ARTICLE_FIELDS = (
    "title",
    "standfirst",
    "text",
    "author",
    "url",
    "published_at",
    "language",
    "word_count",
    "duplicate_of",
)
_SHOWN_CHARS = 60


# -- selection ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Selection:
    """What ``newsflow reenrich`` was asked to bring up to date."""

    # None (reingest): every stored article, whichever enricher produced it.
    where_version_below: str | None
    since: dt.datetime | None = None
    story: str | None = None
    limit: int | None = None

    def as_record(self) -> dict[str, object]:
        return {
            "where_version_below": self.where_version_below,
            "since": None if self.since is None else self.since.isoformat(),
            "story": self.story,
            "limit": self.limit,
        }


def parse_version(text: str) -> Version:
    """A PEP 440 version (the enricher's versions are ``major.minor.patch``). Raises ``ValueError``."""
    try:
        return Version(text)
    except InvalidVersion:
        raise ValueError(f"--where-version-below {text!r}: expected a version such as 0.2.0") from None


def version_below(version: str, bound: str) -> bool:
    """Whether an article's recorded enricher version is older than ``bound``. A version that does not
    parse (hand-edited, pre-release naming) counts as older: re-enriching it is the safe side."""
    try:
        return Version(version) < Version(bound)
    except InvalidVersion:
        return True


def choose(candidates: Iterable[tuple[str, EnrichedArticle]], selection: Selection) -> list[EnrichedArticle]:
    """The stored articles (``(enricher_version, event)``, already filtered by date/story) this run takes."""
    chosen: list[EnrichedArticle] = []
    for version, event in candidates:
        if selection.limit is not None and len(chosen) >= selection.limit:
            break
        if selection.where_version_below is None or version_below(version, selection.where_version_below):
            chosen.append(event)
    return chosen


def cleaned_form(article: EnrichedArticle) -> CleanedArticle:
    """The cleaned article enrich once consumed: every field the two contracts share."""
    return CleanedArticle.model_validate(article.model_dump(include=set(CleanedArticle.model_fields)))


# -- the diff report -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldChange:
    """What changed in one field of one article; ``changed`` holds ``old -> new`` descriptions."""

    article_id: str
    field: str
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()

    def as_record(self) -> dict[str, object]:
        return {
            "article_id": self.article_id,
            "field": self.field,
            "added": list(self.added),
            "removed": list(self.removed),
            "changed": list(self.changed),
        }


@dataclass(frozen=True)
class StoryMerge:
    """Articles that were in different stories and are now in one."""

    story_id: str
    merged: tuple[str, ...]
    article_ids: tuple[str, ...]

    def as_record(self) -> dict[str, object]:
        return {
            "field": "story_merge",
            "story_id": self.story_id,
            "merged": list(self.merged),
            "article_ids": list(self.article_ids),
        }


@dataclass(frozen=True)
class Skipped:
    article_id: str
    outcome: str
    detail: str | None

    def as_record(self) -> dict[str, object]:
        return {"article_id": self.article_id, "field": None, "skipped": self.outcome, "detail": self.detail}


@dataclass
class DiffReport:
    articles: int = 0
    changes: list[FieldChange] = field(default_factory=list)
    merges: list[StoryMerge] = field(default_factory=list)
    # Selected articles not re-enriched yet (a report of a run still in progress) or since deleted.
    pending: list[str] = field(default_factory=list)
    # reingest: selected articles nothing would be (or was) published for, with the outcome and why.
    skipped: list[Skipped] = field(default_factory=list)
    versions: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def changed_articles(self) -> int:
        return len({c.article_id for c in self.changes})

    def fields(self) -> dict[str, set[str]]:
        """Field names that changed, by article."""
        out: dict[str, set[str]] = {}
        for change in self.changes:
            out.setdefault(change.article_id, set()).add(change.field)
        return out


def _short(value: object) -> str:
    text = "" if value is None else str(value)
    text = " ".join(text.split())
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 1] + "…"


def _set_change(article_id: str, name: str, old: dict[str, str], new: dict[str, str]) -> FieldChange | None:
    added = tuple(new[k] for k in sorted(new.keys() - old.keys()))
    removed = tuple(old[k] for k in sorted(old.keys() - new.keys()))
    return FieldChange(article_id, name, added=added, removed=removed) if added or removed else None


def diff_article(old: EnrichedArticle, new: EnrichedArticle) -> list[FieldChange]:
    """Per field, what ``new`` changes in ``old`` (nothing listed for a field that did not change)."""
    aid = old.article_id
    changes: list[FieldChange] = []
    if new.article_id != aid:  # reingest: the body changed, so did the id
        changes.append(FieldChange(aid, "article_id", changed=(f"{aid} -> {new.article_id}",)))
    for name in _ARTICLE_FIELDS:
        before, after = getattr(old, name), getattr(new, name)
        if before != after:
            changes.append(FieldChange(aid, name, changed=(f"{_short(before)} -> {_short(after)}",)))
    entities = _set_change(
        aid,
        "entities",
        {f"{e.canonical_id}\x1f{e.label}": f"{e.canonical} [{e.label}]" for e in old.entities},
        {f"{e.canonical_id}\x1f{e.label}": f"{e.canonical} [{e.label}]" for e in new.entities},
    )
    old_quotes = {q.text: q.speaker for q in old.quotes}
    new_quotes = {q.text: q.speaker for q in new.quotes}
    reattributed = tuple(
        f"«{_short(text)}»: {old_quotes[text] or 'no speaker'} -> {new_quotes[text] or 'no speaker'}"
        for text in sorted(old_quotes.keys() & new_quotes.keys())
        if old_quotes[text] != new_quotes[text]
    )
    quotes_added = tuple(
        f"«{_short(t)}» ({new_quotes[t] or 'no speaker'})" for t in sorted(new_quotes.keys() - old_quotes.keys())
    )
    quotes_removed = tuple(
        f"«{_short(t)}» ({old_quotes[t] or 'no speaker'})" for t in sorted(old_quotes.keys() - new_quotes.keys())
    )
    topics = _set_change(
        aid,
        "topics",
        {t.code: f"{t.code} {t.label}" for t in old.topics},
        {t.code: f"{t.code} {t.label}" for t in new.topics},
    )
    phrases = _set_change(aid, "keyphrases", {p: p for p in old.keyphrases}, {p: p for p in new.keyphrases})
    changes += [c for c in (entities,) if c is not None]
    if reattributed or quotes_added or quotes_removed:
        changes.append(FieldChange(aid, "quotes", added=quotes_added, removed=quotes_removed, changed=reattributed))
    changes += [c for c in (topics, phrases) if c is not None]
    if old.story_id != new.story_id:
        changes.append(FieldChange(aid, "story_id", changed=(f"{old.story_id} -> {new.story_id}",)))
    return changes


def story_merges(pairs: Sequence[tuple[str, EnrichedArticle, EnrichedArticle]]) -> list[StoryMerge]:
    """New stories that gather articles from two or more old stories (``(article_id, old, new)``)."""
    by_new: dict[str, list[tuple[str, str | None]]] = {}
    for article_id, old, new in pairs:
        if new.story_id is not None:
            by_new.setdefault(new.story_id, []).append((article_id, old.story_id))
    merges = []
    for story_id, members in sorted(by_new.items()):
        old_stories = sorted({s for _, s in members if s is not None})
        if len(old_stories) >= 2:
            merges.append(StoryMerge(story_id, tuple(old_stories), tuple(sorted(a for a, _ in members))))
    return merges


def diff_report(pairs: Sequence[tuple[str, EnrichedArticle, EnrichedArticle | None]]) -> DiffReport:
    """The report over ``(article_id, before, after)``; ``after`` None or not newer than ``before``: pending."""
    report = DiffReport(articles=len(pairs))
    done: list[tuple[str, EnrichedArticle, EnrichedArticle]] = []
    for article_id, before, after in pairs:
        if after is None or after.enrichment.enriched_at <= before.enrichment.enriched_at:
            report.pending.append(article_id)
            continue
        done.append((article_id, before, after))
        report.versions[article_id] = (before.enrichment.enricher_version, after.enrichment.enricher_version)
        report.changes += diff_article(before, after)
    report.merges = story_merges(done)
    return report


# -- rate limit ----------------------------------------------------------------------------------------


@dataclass
class RateLimiter:
    """At most ``per_second`` articles a second: after each chunk, wait until that chunk's share of time has
    passed since the previous chunk was released (so a chunk of 10 at 5/s takes at least 2 s). Time lost
    to a slow chunk is not made up later: a backfill never bursts to catch up."""

    per_second: float
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _released: float | None = None

    def wait_after(self, sent: int) -> float:
        now = self.clock()
        due = max(now, self._released if self._released is not None else now) + sent / self.per_second
        self._released = due
        delay = max(0.0, due - now)
        if delay:
            self.sleep(delay)
        return delay


def chunk_size(per_second: float) -> int:
    """Items per publish-flush-mark round: about a second's worth, 1..200."""
    return max(1, min(200, int(per_second)))


# -- composition -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Started:
    run: BackfillRun
    resumed: bool


def new_run_id(now: dt.datetime | None = None, kind: str = KIND) -> str:
    now = now or dt.datetime.now(dt.UTC)
    return f"{kind}-{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


def start_or_resume(
    ledger: BackfillLedger, selection: Selection, target_version: str, kind: str = KIND
) -> Started | None:
    """The unfinished run of ``kind`` if a crash left one (its recorded selection wins), else a new run
    recorded with its whole selection; None when nothing matches."""
    unfinished = ledger.unfinished(kind)
    if unfinished is not None:
        return Started(unfinished, resumed=True)
    candidates = ((c.enricher_version, c.event) for c in ledger.candidates(selection.since, selection.story))
    chosen = choose(candidates, selection)
    if not chosen:
        return None
    run_id = new_run_id(kind=kind)
    ledger.record(run_id, kind, selection.as_record(), target_version, chosen)
    run = ledger.run(run_id)
    assert run is not None  # just written in its own committed transaction
    return Started(run, resumed=False)


@dataclass(frozen=True)
class Prepared:
    """What one selected item becomes: a cleaned article to republish, or nothing and why."""

    outcome: str
    article: CleanedArticle | None = None
    detail: str | None = None


def reenriched(item: PendingItem) -> Prepared:
    """reenrich: the stored cleaned form, as it is."""
    return Prepared("republished", cleaned_form(item.before))


def _event(item: PendingItem, article: CleanedArticle, run_id: str) -> OutgoingEvent:
    trace = Trace(
        trace_id=item.trace_id or trace_id_for(run_id, item.article_id),
        source_uri=article.source.uri,
        backfill_of=run_id,
    )
    return OutgoingEvent(Topics.CLEANED, article.article_id, article, trace)


def publish(
    ledger: BackfillLedger,
    settings: ServiceSettings,
    run: BackfillRun,
    per_second: float,
    progress: Callable[[int, int], None] = lambda done, total: None,
    prepare: Callable[[PendingItem], Prepared] = reenriched,
) -> int:
    """Republish every pending item of ``run`` (as ``prepare`` makes it): a chunk is sent, flushed (every
    send acknowledged) and only then marked handled. Returns how many were published now."""
    ensure_topics(settings, [t.value for t in Topics])
    producer = EventProducer(settings, client_id="newsflow-reenrich")
    limiter = RateLimiter(per_second)
    size = chunk_size(per_second)
    published = 0
    done = run.items - run.pending
    metrics.BACKFILL_REMAINING.set(run.pending)
    progress(done, run.items)
    try:
        while items := ledger.pending(run.run_id, size):
            prepared = [(item, prepare(item)) for item in items]
            for item, step in prepared:
                if step.article is not None:
                    producer.send(_event(item, step.article, run.run_id))
            records = iter(producer.flush_records())
            marks = []
            for item, step in prepared:
                landed = None if step.article is None else next(records)
                new_id = (
                    None
                    if step.article is None or step.article.article_id == item.article_id
                    else (step.article.article_id)
                )
                marks.append(
                    PublishedMark(
                        item.position,
                        item.article_id,
                        None if landed is None else f"{landed.topic}[{landed.partition}]@{landed.offset}",
                        step.outcome,
                        step.detail,
                        new_id,
                    )
                )
            ledger.mark_published(run.run_id, marks)
            published += sum(1 for _, step in prepared if step.article is not None)
            done += len(items)
            metrics.BACKFILL_PUBLISHED.inc(len(items))
            metrics.BACKFILL_REMAINING.set(run.items - done)
            progress(done, run.items)
            limiter.wait_after(len(items))
    finally:
        producer.close()
    ledger.finish(run.run_id)
    return published


def run_report(ledger: BackfillLedger, run_id: str) -> DiffReport:
    """The report of a (completed or running) backfill: recorded "before" against what is stored now."""
    return diff_report([(s.article_id, s.before, s.now) for s in ledger.states(run_id)])


def dry_run(
    ledger: BackfillLedger,
    selection: Selection,
    enrich: Callable[[Sequence[CleanedArticle]], list[EnrichedArticle]],
) -> DiffReport:
    """What the current enricher would change on the selection (``limit`` is the sample size), in this
    process: nothing is published and nothing is written."""
    candidates = ((c.enricher_version, c.event) for c in ledger.candidates(selection.since, selection.story))
    chosen = choose(candidates, selection)
    after = enrich([cleaned_form(a) for a in chosen]) if chosen else []
    return diff_report([(old.article_id, old, new) for old, new in zip(chosen, after, strict=True)])


class KeptStories:
    """The dry run's story store: each article keeps the story it is stored with. The live story store does
    the same for an article it has assigned before (a re-enriched article never moves), and a dry run must
    not write story state; so a dry run reports no story changes, and a completed run's report shows any."""

    def __init__(self, stored: Iterable[EnrichedArticle]) -> None:
        self._stories = {a.article_id: a.story_id for a in stored}

    def assign(self, features: StoryFeatures) -> Decision:
        story_id = self._stories.get(features.article_id) or f"unassigned-{features.article_id}"
        return Decision(story_id=story_id, joined=True, score=1.0)


def local_enricher(settings: EnrichSettings, stored: Sequence[EnrichedArticle]) -> Enricher:
    """The current enricher, in this process, as the enrich service builds it (stories aside)."""
    return Enricher(
        nlp=load_pipeline(settings.spacy_model),
        taxonomy=load_taxonomy(settings.taxonomy_path),
        stories=KeptStories(stored),
        batch_size=settings.enrich_batch_size,
    )


def dry_run_current(ledger: BackfillLedger, selection: Selection, settings: EnrichSettings) -> DiffReport:
    """``--dry-run``: the current enricher on the selection."""

    def enrich(articles: Sequence[CleanedArticle]) -> list[EnrichedArticle]:
        stored = [c.event for c in ledger.candidates(selection.since, selection.story)]
        return local_enricher(settings, stored).enrich_batch(articles)

    return dry_run(ledger, selection, enrich)
