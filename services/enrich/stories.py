"""Streaming story clustering: pure features, similarity and the join-or-found decision.

An arriving article is compared with the stories a store offers as candidates and joins the best one
whose score passes ``JOIN_THRESHOLD``; otherwise it founds a new story whose id is
``"story-" + article_id`` (deterministic: the same input and story state give the same ids).

Evidence, in order:

* hard gates: when both sides have a known *publication* date, more than ``WINDOW_DAYS`` between the
  article and the story's date range rules the story out. With only an ingestion date (unknown
  publication date) the gate uses ``WEAK_WINDOW_DAYS``. Explicit calendar dates of the event ("March
  31", "30 March 2022") mentioned on both sides that never coincide, or explicit years that never
  coincide, count against the story (a different meeting of the same people).
* content: cosine of TF-IDF vectors over content lemmas, plus an IDF-weighted Jaccard over canonical
  entity ids (people, organisations) and places, plus a bonus for shared event dates.

IDF comes from the store's document frequencies, so terms common to every story (the two ministers'
names in a beat that covers them) weigh less than what is specific to one event (a town, a date).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from spacy.tokens import Doc

from services.enrich.entities import PLACE_LABELS, EntityAnalysis

WINDOW_DAYS = 7
WEAK_WINDOW_DAYS = 45
JOIN_THRESHOLD = 0.26
MAX_STORY_TERMS = 400
TERM_POS = frozenset({"NOUN", "PROPN", "VERB", "ADJ"})
ENTITY_PREFIX = "ent:"

_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        (
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        )
    )
}
_MONTH_DAY = re.compile(
    r"\b(?P<m>"
    + "|".join(_MONTHS)
    + r")\s+(?P<d>\d{1,2})(?!\d)|\b(?P<d2>\d{1,2})\s+(?P<m2>"
    + "|".join(_MONTHS)
    + r")\b",
    re.IGNORECASE,
)
_YEAR = re.compile(r"\b(19[5-9]\d|20\d\d)\b")
_QWORD = re.compile(r"[a-z0-9]+")
QUOTE_SHINGLES_FULL = 5  # shared quote trigrams that count as full evidence of the same event
MAX_STORY_SHINGLES = 600


@dataclass(frozen=True)
class StoryFeatures:
    article_id: str
    day: dt.date | None
    day_is_published: bool
    years: frozenset[int]
    event_dates: frozenset[str]  # "MM-DD" calendar dates mentioned in the text
    entities: frozenset[str]  # canonical ids of people/organisations/events
    places: frozenset[str]
    terms: Mapping[str, float]  # sublinear tf of lemmas and entity ids
    quote_shingles: frozenset[str] = frozenset()  # word trigrams of the article's quotes


@dataclass
class StoryState:
    story_id: str
    first_day: dt.date | None
    last_day: dt.date | None
    days_published: bool
    n_articles: int
    years: set[int] = field(default_factory=set)
    event_dates: set[str] = field(default_factory=set)
    entities: Counter[str] = field(default_factory=Counter)
    places: Counter[str] = field(default_factory=Counter)
    terms: dict[str, float] = field(default_factory=dict)
    quote_shingles: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Decision:
    story_id: str
    joined: bool
    score: float


def extract_features(
    article_id: str,
    doc: Doc,
    analysis: EntityAnalysis,
    *,
    published: dt.date | None,
    ingested: dt.date | None,
    quotes: Iterable[str] = (),
) -> StoryFeatures:
    years: set[int] = set()
    dates: set[str] = set()
    for ent in doc.ents:
        if ent.label_ != "DATE":
            continue
        years.update(int(y) for y in _YEAR.findall(ent.text))
        for m in _MONTH_DAY.finditer(ent.text):
            month = _MONTHS[(m.group("m") or m.group("m2")).lower()]
            dom = int(m.group("d") or m.group("d2"))
            if 1 <= dom <= 31:
                dates.add(f"{month:02d}-{dom:02d}")
        # "March 30 and 31": the second day inherits the month of the first.
        for extra in re.finditer(r"\band\s+(\d{1,2})\b", ent.text):
            head = _MONTH_DAY.search(ent.text)
            if head is not None and head.group("m"):
                dates.add(f"{_MONTHS[head.group('m').lower()]:02d}-{int(extra.group(1)):02d}")
    entities: set[str] = set()
    places: set[str] = set()
    for e in analysis.entities:
        if e.label in PLACE_LABELS:
            places.add(e.canonical_id)
        elif e.label in ("PERSON", "ORG", "EVENT", "FAC", "LAW"):
            entities.add(e.canonical_id)
    tf: Counter[str] = Counter()
    for tok in doc:
        if (
            tok.pos_ in TERM_POS
            and tok.is_alpha
            and not tok.is_stop
            and len(tok.text) > 2
            and not tok.ent_type_
        ):
            tf[tok.lemma_.lower()] += 1
    for e in analysis.entities:
        if e.label not in ("DATE", "TIME", "CARDINAL", "ORDINAL", "PERCENT", "MONEY", "QUANTITY"):
            tf[ENTITY_PREFIX + e.canonical_id] += e.count
    terms = {t: 1.0 + math.log(n) for t, n in tf.items()}
    day = published or ingested
    shingles: set[str] = set()
    for q in quotes:
        words = _QWORD.findall(q.lower())
        shingles.update(" ".join(words[i : i + 3]) for i in range(len(words) - 2))
    return StoryFeatures(
        article_id=article_id,
        day=day,
        day_is_published=published is not None,
        years=frozenset(years),
        event_dates=frozenset(dates),
        entities=frozenset(entities),
        places=frozenset(places),
        terms=terms,
        quote_shingles=frozenset(shingles),
    )


def _cosine(a: Mapping[str, float], b: Mapping[str, float], idf: Callable[[str], float]) -> float:
    if not a or not b:
        return 0.0
    small, large = (a, b) if len(a) <= len(b) else (b, a)
    dot = sum(v * idf(t) ** 2 * large[t] for t, v in small.items() if t in large)
    na = math.sqrt(sum((v * idf(t)) ** 2 for t, v in a.items()))
    nb = math.sqrt(sum((v * idf(t)) ** 2 for t, v in b.items()))
    return dot / (na * nb) if na and nb else 0.0


def _weighted_jaccard(a: Iterable[str], b: Iterable[str], idf: Callable[[str], float]) -> float:
    sa, sb = set(a), set(b)
    union = sa | sb
    if not union:
        return 0.0
    inter = sum(idf(ENTITY_PREFIX + x) for x in sa & sb)
    return inter / sum(idf(ENTITY_PREFIX + x) for x in union)


def _day_gap(f: StoryFeatures, s: StoryState) -> int | None:
    if f.day is None or s.first_day is None or s.last_day is None:
        return None
    if f.day < s.first_day:
        return (s.first_day - f.day).days
    if f.day > s.last_day:
        return (f.day - s.last_day).days
    return 0


def similarity(f: StoryFeatures, s: StoryState, idf: Callable[[str], float]) -> float | None:
    """Score in 0..1, or None when a hard gate rules the story out."""
    gap = _day_gap(f, s)
    if gap is not None:
        window = WINDOW_DAYS if (f.day_is_published and s.days_published) else WEAK_WINDOW_DAYS
        if gap > window:
            return None
    text = _cosine(f.terms, s.terms, idf)
    ents = _weighted_jaccard(f.entities | f.places, set(s.entities) | set(s.places), idf)
    # Same-event reports repeat the same quotes (agency copy, official readouts); a different meeting
    # of the same people rarely repeats the same words.
    shared_quotes = len(f.quote_shingles & s.quote_shingles)
    quoted = min(1.0, shared_quotes / QUOTE_SHINGLES_FULL)
    score = 0.5 * text + 0.3 * ents + 0.2 * quoted
    if f.event_dates and s.event_dates:
        score += 0.08 if f.event_dates & s.event_dates else -0.08
    if f.years and s.years and not (f.years & s.years):
        score -= 0.1
    return max(0.0, min(1.0, score))


def choose_story(f: StoryFeatures, candidates: Iterable[StoryState], idf: Callable[[str], float]) -> Decision:
    best: tuple[float, str] | None = None
    for s in candidates:
        score = similarity(f, s, idf)
        if score is None or score < JOIN_THRESHOLD:
            continue
        # Ties break on story id so the choice never depends on candidate order.
        if best is None or score > best[0] or (score == best[0] and s.story_id < best[1]):
            best = (score, s.story_id)
    if best is None:
        return Decision(story_id=f"story-{f.article_id}", joined=False, score=0.0)
    return Decision(story_id=best[1], joined=True, score=best[0])


def new_story(f: StoryFeatures, story_id: str) -> StoryState:
    s = StoryState(
        story_id=story_id,
        first_day=None,
        last_day=None,
        days_published=f.day_is_published,
        n_articles=0,
    )
    return merge(s, f)


def merge(s: StoryState, f: StoryFeatures) -> StoryState:
    """Fold an article into a story (mutates and returns ``s``); the term centroid is capped."""
    if f.day is not None:
        s.first_day = f.day if s.first_day is None else min(s.first_day, f.day)
        s.last_day = f.day if s.last_day is None else max(s.last_day, f.day)
    s.days_published = s.days_published and f.day_is_published
    s.n_articles += 1
    s.years |= f.years
    s.event_dates |= f.event_dates
    s.entities.update(f.entities)
    s.places.update(f.places)
    for t, v in f.terms.items():
        s.terms[t] = s.terms.get(t, 0.0) + v
    if len(s.quote_shingles) < MAX_STORY_SHINGLES:
        s.quote_shingles |= set(sorted(f.quote_shingles)[: MAX_STORY_SHINGLES - len(s.quote_shingles)])
    if len(s.terms) > MAX_STORY_TERMS:
        s.terms = dict(sorted(s.terms.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_STORY_TERMS])
    return s


def idf_function(doc_freq: Mapping[str, int], n_docs: int) -> Callable[[str], float]:
    def idf(term: str) -> float:
        return math.log((n_docs + 1) / (doc_freq.get(term, 0) + 1)) + 1.0

    return idf


class StoryStore(Protocol):
    """Where story state lives; ``assign`` must be atomic with respect to other writers."""

    def assign(self, features: StoryFeatures) -> Decision: ...


class InMemoryStoryStore:
    """Process-local store with the same semantics as the sqlite adapter (tests, benchmarks)."""

    def __init__(self) -> None:
        self.stories: dict[str, StoryState] = {}
        self.assignments: dict[str, str] = {}
        self.doc_freq: Counter[str] = Counter()
        self.n_docs = 0

    def assign(self, features: StoryFeatures) -> Decision:
        known = self.assignments.get(features.article_id)
        if known is not None:
            return Decision(story_id=known, joined=True, score=1.0)
        idf = idf_function(self.doc_freq, self.n_docs)
        decision = choose_story(features, list(self.stories.values()), idf)
        if decision.joined:
            merge(self.stories[decision.story_id], features)
        else:
            self.stories[decision.story_id] = new_story(features, decision.story_id)
        self.assignments[features.article_id] = decision.story_id
        self.doc_freq.update(features.terms.keys())
        self.n_docs += 1
        return decision
