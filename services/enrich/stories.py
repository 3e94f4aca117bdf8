"""Streaming story clustering: pure features, similarity and the join-or-found decision.

An arriving article is compared with the stories a store offers as candidates and joins the best one
whose score passes ``JOIN_THRESHOLD``; otherwise it founds a new story whose id is
``"story-" + article_id`` (deterministic: the same input and story state give the same ids).

Evidence, in order:

* hard gates: when both sides have a known *publication* date, more than ``WINDOW_DAYS`` between the
  article and the story's published range rules the story out. Two articles known only by their
  ingestion dates use ``WEAK_WINDOW_DAYS``. An ingestion date is only an upper bound of the publication
  date, so against a known publication date it gates only when it proves a gap (published more than
  ``WINDOW_DAYS`` after the other side was already ingested).
* date evidence, never a gate: explicit calendar dates of the event ("March 30 and 31", "30 March")
  mentioned on both sides that coincide or never coincide; explicit years that never coincide; and when
  one side has a publication date and the other has not, that date against the other side's mentioned
  event dates (within ``DATE_MATCH_DAYS``: a bonus; ``WINDOW_DAYS`` or more from all of them: a strong
  penalty) and years.
* content: cosine of TF-IDF vectors over content lemmas, an IDF-weighted Jaccard over canonical entity
  ids (people, organisations) and places, and *echo*: word 4-grams of one side's quotes that occur in
  the other side's text. Reports of one event repeat the same quoted words (agency copy, official
  readouts), quoted or paraphrased; a different meeting of the same people rarely does.

Order independence: a story is compared through the union of its members (term centroid, entity and
place sets, event dates, published and ingested ranges, every member's text 4-grams), so an article
that fits any member as well as the founder can join, and a later article choosing between stories
takes the best-scoring one.

IDF comes from the store's document frequencies, so terms common to every story (the two ministers'
names in a beat that covers them) weigh less than what is specific to one event (a town, a date).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import math
import operator
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy
import orjson
from spacy.attrs import ENT_TYPE, IS_ALPHA, IS_STOP, LEMMA, LENGTH, POS
from spacy.lang.en.stop_words import STOP_WORDS
from spacy.parts_of_speech import IDS as POS_IDS
from spacy.tokens import Doc

from services.enrich.entities import PLACE_LABELS, EntityAnalysis

WINDOW_DAYS = 7
WEAK_WINDOW_DAYS = 45
DATE_MATCH_DAYS = 2  # a publication date this close to a mentioned event date supports the story
DATE_MATCH_BONUS = 0.12
DATE_CONFLICT_PENALTY = 0.3  # publication date WINDOW_DAYS or more from every mentioned event date
EVENT_DATE_BONUS = 0.08  # both texts mention event dates: shared (bonus) or disjoint (penalty)
YEAR_PENALTY = 0.1
JOIN_THRESHOLD = 0.3
MAX_CANDIDATES = 500  # most recently updated candidate stories compared (both stores)
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
SHINGLE_WORDS = 4
# Echoed 4-grams beyond the first (one is chance: "Russia and China will") until full evidence.
ECHO_FREE = 1
ECHO_FULL = 4
MAX_STORY_SHINGLES = 1000  # quote 4-grams kept per story (smallest hashes: order-independent)
W_TEXT, W_ENTS, W_ECHO = 0.4, 0.25, 0.35


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
    quote_shingles: frozenset[int] = frozenset()  # hashed word 4-grams of the article's quotes
    text_shingles: frozenset[int] = frozenset()  # hashed word 4-grams of the whole text


@dataclass
class StoryState:
    story_id: str
    published_first: dt.date | None  # range of the members' known publication dates
    published_last: dt.date | None
    ingested_first: dt.date | None  # range of the ingestion dates of members without one
    ingested_last: dt.date | None
    n_articles: int
    years: set[int] = field(default_factory=set)
    event_dates: set[str] = field(default_factory=set)
    entities: Counter[str] = field(default_factory=Counter)
    places: Counter[str] = field(default_factory=Counter)
    terms: dict[str, float] = field(default_factory=dict)
    quote_shingles: set[int] = field(default_factory=set)


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
    text: str | None = None,
) -> StoryFeatures:
    """``text``: the string ``doc`` was parsed from, when the caller has it (``Doc.text`` rebuilds it)."""
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
    tf = content_lemma_counts(doc)
    for e in analysis.entities:
        if e.label not in ("DATE", "TIME", "CARDINAL", "ORDINAL", "PERCENT", "MONEY", "QUANTITY"):
            tf[ENTITY_PREFIX + e.canonical_id] += e.count
    terms = {t: 1.0 + math.log(n) for t, n in tf.items()}
    day = published or ingested
    quote_shingles: set[int] = set()
    for q in quotes:
        quote_shingles |= shingles(q)
    return StoryFeatures(
        article_id=article_id,
        day=day,
        day_is_published=published is not None,
        years=frozenset(years),
        event_dates=frozenset(dates),
        entities=frozenset(entities),
        places=frozenset(places),
        terms=terms,
        quote_shingles=frozenset(quote_shingles),
        text_shingles=frozenset(shingles(doc.text if text is None else text)),
    )


_TERM_POS_IDS = numpy.array(sorted(POS_IDS[pos] for pos in TERM_POS), dtype=numpy.uint64)
_TERM_ATTRS = [POS, IS_ALPHA, IS_STOP, LENGTH, ENT_TYPE, LEMMA]


def content_lemma_counts(doc: Doc) -> Counter[str]:
    """Lowercase lemmas of the content words (TERM_POS, alphabetic, not stop words, longer than two
    letters, outside entities) with their counts, in order of first occurrence. Read from one array of the
    Doc's attributes instead of a Token object per token (the whole pass was a millisecond an article)."""
    tf: Counter[str] = Counter()
    if not len(doc):
        return tf
    a = doc.to_array(_TERM_ATTRS)
    keep = numpy.isin(a[:, 0], _TERM_POS_IDS) & (a[:, 1] == 1) & (a[:, 2] == 0) & (a[:, 3] > 2) & (a[:, 4] == 0)
    lemmas, first, counts = numpy.unique(a[keep, 5], return_index=True, return_counts=True)
    strings = doc.vocab.strings
    for j in numpy.argsort(first, kind="stable"):
        tf[strings[int(lemmas[j])].lower()] += int(counts[j])
    return tf


def _stable_hash(gram: str) -> int:
    # Not ``hash()``: that is salted per process, and shingles are shared through the sqlite store.
    return int.from_bytes(hashlib.blake2b(gram.encode("utf-8"), digest_size=8).digest(), "big") >> 1


def shingles(text: str) -> set[int]:
    """Stable 63-bit hashes of the word 4-grams of ``text``, skipping those made only of stop words."""
    words = _QWORD.findall(text.lower())
    stop = [w in STOP_WORDS for w in words]
    return {
        _stable_hash(" ".join(words[i : i + SHINGLE_WORDS]))
        for i in range(len(words) - SHINGLE_WORDS + 1)
        if not all(stop[i : i + SHINGLE_WORDS])
    }


class _IdfTable(dict[str, float]):
    """IDF per term, computed once per article on first use: the same terms recur across every
    candidate's centroid, and a dict lookup from C (``map(table.__getitem__, ...)``) costs a fraction of
    a Python call per term."""

    def __init__(self, idf: Callable[[str], float]) -> None:
        super().__init__()
        self._idf = idf

    def __missing__(self, term: str) -> float:
        value = self[term] = self._idf(term)
        return value

    def __call__(self, term: str) -> float:
        return self[term]


@dataclass(frozen=True)
class _Weights:
    """An article's IDF-weighted terms and their norm, computed once per article, not per candidate."""

    weights: dict[str, float]
    norm: float


def _weights(terms: Mapping[str, float], idf: _IdfTable) -> _Weights:
    weighted = dict(zip(terms, map(operator.mul, terms.values(), map(idf.__getitem__, terms)), strict=True))
    return _Weights(weighted, math.hypot(*weighted.values()))


def _cosine(a: Mapping[str, float], b: Mapping[str, float], idf: _IdfTable, wa: _Weights) -> float:
    if not a or not b:
        return 0.0
    common = a.keys() & b.keys()
    if not common or not wa.norm:
        return 0.0
    # (weight * idf) * b per common term, as maps from C rather than a generator frame per term.
    pairs = map(operator.mul, map(wa.weights.__getitem__, common), map(idf.__getitem__, common))
    dot = math.fsum(map(operator.mul, pairs, map(b.__getitem__, common)))
    nb = math.hypot(*map(operator.mul, b.values(), map(idf.__getitem__, b)))
    return dot / (wa.norm * nb) if nb else 0.0


def _memoised(idf: Callable[[str], float]) -> _IdfTable:
    return idf if isinstance(idf, _IdfTable) else _IdfTable(idf)


def _weighted_jaccard(a: Iterable[str], b: Iterable[str], idf: Callable[[str], float]) -> float:
    sa, sb = set(a), set(b)
    union = sa | sb
    if not union:
        return 0.0
    weight = idf.__getitem__ if isinstance(idf, _IdfTable) else idf  # a C-level lookup when it can be
    inter = sum(map(weight, map(ENTITY_PREFIX.__add__, sa & sb)))
    return inter / sum(map(weight, map(ENTITY_PREFIX.__add__, union)))


def _range_gap(day: dt.date, first: dt.date, last: dt.date) -> int:
    if day < first:
        return (first - day).days
    if day > last:
        return (day - last).days
    return 0


def _gated(f: StoryFeatures, s: StoryState) -> bool:
    """True when the article is provably too far in time from every member of the story.

    A publication date is exact; an ingestion date (no publication date known) is an upper bound of
    the publication date, and two of them are compared with the wide ``WEAK_WINDOW_DAYS``.
    """
    if f.day is None:
        return False
    far: list[bool] = []
    if f.day_is_published:
        if s.published_first is not None and s.published_last is not None:
            far.append(_range_gap(f.day, s.published_first, s.published_last) > WINDOW_DAYS)
        if s.ingested_last is not None:
            # Every undated member was published on or before its ingestion.
            far.append((f.day - s.ingested_last).days > WINDOW_DAYS)
    else:
        if s.published_first is not None:
            far.append((s.published_first - f.day).days > WINDOW_DAYS)
        if s.ingested_first is not None and s.ingested_last is not None:
            far.append(_range_gap(f.day, s.ingested_first, s.ingested_last) > WEAK_WINDOW_DAYS)
    return bool(far) and all(far)


def _shifted(day: dt.date, days: int) -> dt.date:
    try:
        return day + dt.timedelta(days=days)
    except OverflowError:
        return dt.date.max if days > 0 else dt.date.min


def _reaches(first: dt.date | None, last: dt.date | None, first_at_most: dt.date, last_at_least: dt.date) -> bool:
    """A date range (both ends known) that starts no later and ends no earlier than the bounds."""
    return first is not None and last is not None and first <= first_at_most and last >= last_at_least


@dataclass(frozen=True)
class OpenWindow:
    """The stories an article may be compared with, as bounds on a story's date ranges: ``_gated``'s rule
    in a form a store applies in its candidate query, before it reads or ranks any state (most stories
    sharing an entity with an article of a long-running beat are months away: 150 of 160 candidates an
    article on the quotes set). A story is admitted when it has no dates, or its published range has
    ``published_first <= published_first_at_most`` and ``published_last >= published_last_at_least``, or
    its ingested range has ``ingested_first <= ingested_first_at_most`` and
    ``ingested_last >= ingested_last_at_least``. Admitted is exactly not ``_gated`` (a unit test checks
    it over a grid of dates), so stores may drop the others before ``MAX_CANDIDATES`` is applied."""

    published_first_at_most: dt.date
    published_last_at_least: dt.date
    ingested_first_at_most: dt.date
    ingested_last_at_least: dt.date

    def admits(self, s: StoryState) -> bool:
        if s.published_first is None and s.ingested_last is None:
            return True
        published = _reaches(
            s.published_first, s.published_last, self.published_first_at_most, self.published_last_at_least
        )
        return published or _reaches(
            s.ingested_first, s.ingested_last, self.ingested_first_at_most, self.ingested_last_at_least
        )

    @property
    def latest_at_least(self) -> dt.date:
        """Every dated story the window admits has a ``latest_day`` on or after this: one bound a store can
        keep in an index beside each key, so a key shared by years of stories reads only the recent ones."""
        return min(self.published_last_at_least, self.ingested_last_at_least)


EVERY_STORY = OpenWindow(dt.date.max, dt.date.min, dt.date.max, dt.date.min)


def latest_day(s: StoryState) -> dt.date | None:
    """The story's last known date, published or ingested (None: it has none)."""
    days = [d for d in (s.published_last, s.ingested_last) if d is not None]
    return max(days) if days else None


def open_window(f: StoryFeatures) -> OpenWindow:
    """The stories ``f`` is not gated from (see ``_gated``): its date within ``WINDOW_DAYS`` of a published
    range, or of the last ingestion of undated members; an undated article's ingestion day no more than
    ``WINDOW_DAYS`` before the first publication, or within ``WEAK_WINDOW_DAYS`` of an ingested range."""
    if f.day is None:
        return EVERY_STORY
    if f.day_is_published:
        return OpenWindow(
            published_first_at_most=_shifted(f.day, WINDOW_DAYS),
            published_last_at_least=_shifted(f.day, -WINDOW_DAYS),
            ingested_first_at_most=dt.date.max,
            ingested_last_at_least=_shifted(f.day, -WINDOW_DAYS),
        )
    return OpenWindow(
        published_first_at_most=_shifted(f.day, WINDOW_DAYS),
        published_last_at_least=dt.date.min,
        ingested_first_at_most=_shifted(f.day, WEAK_WINDOW_DAYS),
        ingested_last_at_least=_shifted(f.day, -WEAK_WINDOW_DAYS),
    )


def _mention_gap(month_day: str, first: dt.date, last: dt.date) -> int | None:
    """Days between a year-less mentioned date ("03-31") and a date range, over the nearby years."""
    month, dom = int(month_day[:2]), int(month_day[3:])
    best: int | None = None
    for year in range(first.year - 1, last.year + 2):
        try:
            day = dt.date(year, month, dom)
        except ValueError:
            continue
        gap = _range_gap(day, first, last)
        best = gap if best is None else min(best, gap)
    return best


def _published_vs_mentions(first: dt.date, last: dt.date, event_dates: Iterable[str], years: Iterable[int]) -> float:
    """Evidence of publication dates against the event dates and years the other side mentions."""
    score = 0.0
    ys = set(years)
    if ys and not any(first.year <= y <= last.year for y in ys):
        score -= YEAR_PENALTY
    gaps = [g for md in event_dates if (g := _mention_gap(md, first, last)) is not None]
    if gaps:
        if min(gaps) <= DATE_MATCH_DAYS:
            score += DATE_MATCH_BONUS
        elif min(gaps) >= WINDOW_DAYS:
            score -= DATE_CONFLICT_PENALTY
    return score


def date_evidence(f: StoryFeatures, s: StoryState) -> float:
    """Score adjustment from mentioned dates and years (never a gate)."""
    score = 0.0
    if f.event_dates and s.event_dates:
        score += EVENT_DATE_BONUS if f.event_dates & s.event_dates else -EVENT_DATE_BONUS
    if f.years and s.years and not (f.years & s.years):
        score -= YEAR_PENALTY
    if f.day_is_published and f.day is not None and s.published_first is None:
        score += _published_vs_mentions(f.day, f.day, s.event_dates, s.years)
    elif not f.day_is_published and s.published_first is not None and s.published_last is not None:
        score += _published_vs_mentions(s.published_first, s.published_last, f.event_dates, f.years)
    return score


def echo_count(f: StoryFeatures, s: StoryState, quote_hits: int) -> int:
    """4-grams quoted on one side and present in the other side's text.

    ``quote_hits`` is how many of the article's quote 4-grams occur in the texts of the story's members
    (the store looks them up in its shingle index); the story's quote 4-grams are checked against the
    article's text here. 4-grams quoted on both sides are in both counts and are subtracted once.
    """
    return quote_hits + len(s.quote_shingles & f.text_shingles) - len(s.quote_shingles & f.quote_shingles)


def similarity(f: StoryFeatures, s: StoryState, idf: Callable[[str], float], quote_hits: int = 0) -> float | None:
    """Score in 0..1, or None when a hard gate rules the story out."""
    table = _memoised(idf)
    return _similarity(f, s, table, quote_hits, _weights(f.terms, table))


def _similarity(f: StoryFeatures, s: StoryState, idf: _IdfTable, quote_hits: int, wa: _Weights) -> float | None:
    if _gated(f, s):
        return None
    text = _cosine(f.terms, s.terms, idf, wa)
    ents = _weighted_jaccard(f.entities | f.places, set(s.entities) | set(s.places), idf)
    echoed = echo_count(f, s, quote_hits)
    echo = min(1.0, max(0, echoed - ECHO_FREE) / (ECHO_FULL - ECHO_FREE))
    score = W_TEXT * text + W_ENTS * ents + W_ECHO * echo + date_evidence(f, s)
    return max(0.0, min(1.0, score))


def choose_story(
    f: StoryFeatures,
    candidates: Iterable[StoryState],
    idf: Callable[[str], float],
    quote_hits: Mapping[str, int] | None = None,
) -> Decision:
    """Join the best-scoring candidate that passes ``JOIN_THRESHOLD``, else found ``story-<article_id>``."""
    hits = quote_hits or {}
    table = _memoised(idf)
    wa = _weights(f.terms, table)
    best: tuple[float, str] | None = None
    for s in candidates:
        score = _similarity(f, s, table, hits.get(s.story_id, 0), wa)
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
        published_first=None,
        published_last=None,
        ingested_first=None,
        ingested_last=None,
        n_articles=0,
    )
    return merge(s, f)


def _widen(first: dt.date | None, last: dt.date | None, day: dt.date) -> tuple[dt.date, dt.date]:
    return (day if first is None else min(first, day), day if last is None else max(last, day))


def merge(s: StoryState, f: StoryFeatures) -> StoryState:
    """Fold an article into a story (mutates and returns ``s``); the term centroid is capped."""
    if f.day is not None:
        if f.day_is_published:
            s.published_first, s.published_last = _widen(s.published_first, s.published_last, f.day)
        else:
            s.ingested_first, s.ingested_last = _widen(s.ingested_first, s.ingested_last, f.day)
    s.n_articles += 1
    s.years |= f.years
    s.event_dates |= f.event_dates
    s.entities.update(f.entities)
    s.places.update(f.places)
    for t, v in f.terms.items():
        s.terms[t] = s.terms.get(t, 0.0) + v
    s.quote_shingles |= f.quote_shingles
    if len(s.quote_shingles) > MAX_STORY_SHINGLES:
        s.quote_shingles = set(sorted(s.quote_shingles)[:MAX_STORY_SHINGLES])
    if len(s.terms) > MAX_STORY_TERMS:
        s.terms = dict(sorted(s.terms.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_STORY_TERMS])
    return s


def idf_function(doc_freq: Mapping[str, int], n_docs: int) -> Callable[[str], float]:
    def idf(term: str) -> float:
        return math.log((n_docs + 1) / (doc_freq.get(term, 0) + 1)) + 1.0

    return idf


def idf_table(doc_freq: Mapping[str, int], n_docs: int, terms: Iterable[str]) -> _IdfTable:
    """``idf_function``'s values for ``terms``, computed in one pass (the same formula, so the same
    floats); any other term is computed on first use. An article compares against the ~1,000 centroid
    terms of its candidates: one Python call per term was a third of assignment's own time."""
    table = _IdfTable(idf_function(doc_freq, n_docs))
    ordered = list(terms)
    frequencies = list(map(doc_freq.get, ordered, itertools.repeat(0)))
    # Most terms share a handful of frequencies (0, 1, 2, ...): one log per distinct value, not per term.
    by_frequency = {df: math.log((n_docs + 1) / (df + 1)) + 1.0 for df in set(frequencies)}
    table.update(zip(ordered, map(by_frequency.__getitem__, frequencies), strict=True))
    return table


@dataclass(frozen=True)
class Assignment:
    """One decision to record: the article, where it went and the story state after it joined."""

    features: StoryFeatures
    decision: Decision
    state: StoryState
    founded: bool


class StoryStatePort(Protocol):
    """What story assignment needs of a storage. ``assign_story`` calls these inside one transaction of
    the store that owns the port, which must keep other writers out of it until ``record`` is committed."""

    def known_story(self, article_id: str) -> str | None:
        """The story this article was already assigned to (a redelivery), if any."""
        ...

    def quote_hits(self, quote_shingles: frozenset[int], window: OpenWindow) -> Mapping[str, int]:
        """Per story that ``window`` admits, how many of these quote 4-grams occur in its members' texts."""
        ...

    def stories_with_keys(self, keys: frozenset[str], window: OpenWindow) -> set[str]:
        """Stories that ``window`` admits having one of these entity or place ids."""
        ...

    def recent_states(self, story_ids: set[str], limit: int) -> list[StoryState]:
        """The states of at most ``limit`` of these stories, most recently updated first (ties: story id).
        The caller may mutate them; ``record`` is then called with the one it changed."""
        ...

    def doc_freq(self, terms: set[str]) -> tuple[Mapping[str, int], int]:
        """Document frequencies of these terms and the number of documents seen."""
        ...

    def record(self, assignment: Assignment) -> None:
        """Persist the assignment, the story state, its new keys and shingles, and the counts."""
        ...


def assign_story(port: StoryStatePort, features: StoryFeatures) -> Decision:
    """The one assignment algorithm: candidates (shared ids, echoed quotes) -> IDF -> choose -> merge."""
    known = port.known_story(features.article_id)
    if known is not None:
        return Decision(story_id=known, joined=True, score=1.0)
    # The time gates go first, in the stores' queries: most stories sharing an entity with an article
    # of a long-running beat are months away, and ``MAX_CANDIDATES`` counts only the open ones.
    window = open_window(features)
    hits = port.quote_hits(features.quote_shingles, window)
    ids = set(hits) | port.stories_with_keys(features.entities | features.places, window)
    candidates = port.recent_states(ids, MAX_CANDIDATES) if ids else []
    # Document frequencies for every term either side of a comparison uses: the article's and the
    # centroids' of the open candidates (a story term missing here would get the maximum IDF and skew
    # norms; a gated candidate is never scored, so its terms are not needed). Gated here again for
    # stories a store keeps without dates (states written before stores recorded them).
    open_candidates = [c for c in candidates if not _gated(features, c)]
    terms = set(features.terms)
    for c in open_candidates:
        terms.update(c.terms)
    doc_freq, n_docs = port.doc_freq(terms)
    decision = choose_story(features, open_candidates, idf_table(doc_freq, n_docs, terms), hits)
    if decision.joined:
        state = merge(next(s for s in open_candidates if s.story_id == decision.story_id), features)
    else:
        state = new_story(features, decision.story_id)
    port.record(Assignment(features=features, decision=decision, state=state, founded=not decision.joined))
    return decision


class StoryStore(Protocol):
    """Where story state lives; ``assign`` must be atomic with respect to other writers."""

    def assign(self, features: StoryFeatures) -> Decision: ...


@runtime_checkable
class BatchStoryStore(StoryStore, Protocol):
    """A store that assigns a batch in one transaction: ``assign_story`` per article, in order, and
    one commit (one write-lock hold and one WAL flush per batch instead of per article). The result is
    the same as ``assign`` called in order; other writers see the whole batch or none of it."""

    def assign_batch(self, features: Sequence[StoryFeatures]) -> list[Decision]: ...


def assign_stories(store: StoryStore, features: Sequence[StoryFeatures]) -> list[Decision]:
    """Assign ``features`` in order, in one transaction where the store can."""
    if isinstance(store, BatchStoryStore):
        return store.assign_batch(features)
    return [store.assign(f) for f in features]


class InMemoryStoryStore:
    """Process-local store (tests, benchmarks): the port over dictionaries, one writer.

    Candidates are the stories sharing an entity or place id with the article or holding one of its
    quote 4-grams (both indexed), not every story, so assignment does not slow down as stories pile up.
    """

    def __init__(self) -> None:
        self.stories: dict[str, StoryState] = {}
        self.assignments: dict[str, str] = {}
        self.doc_freq_counts: Counter[str] = Counter()
        self.n_docs = 0
        self._seq: dict[str, int] = {}
        self._keys: dict[str, set[str]] = {}
        self._shingles: dict[int, set[str]] = {}

    def assign(self, features: StoryFeatures) -> Decision:
        return assign_story(self, features)

    def assign_batch(self, features: Sequence[StoryFeatures]) -> list[Decision]:
        return [assign_story(self, f) for f in features]

    # -- the port --------------------------------------------------------------------------------

    def known_story(self, article_id: str) -> str | None:
        return self.assignments.get(article_id)

    def quote_hits(self, quote_shingles: frozenset[int], window: OpenWindow) -> Mapping[str, int]:
        hits: Counter[str] = Counter()
        for h in quote_shingles:
            hits.update(self._shingles.get(h, ()))
        return {i: n for i, n in hits.items() if window.admits(self.stories[i])}

    def stories_with_keys(self, keys: frozenset[str], window: OpenWindow) -> set[str]:
        ids: set[str] = set()
        for k in keys:
            ids |= self._keys.get(k, set())
        return {i for i in ids if window.admits(self.stories[i])}

    def recent_states(self, story_ids: set[str], limit: int) -> list[StoryState]:
        ranked = sorted(story_ids, key=lambda i: (-self._seq[i], i))[:limit]
        return [self.stories[i] for i in ranked]

    def doc_freq(self, terms: set[str]) -> tuple[Mapping[str, int], int]:
        return self.doc_freq_counts, self.n_docs

    def record(self, assignment: Assignment) -> None:
        f, story_id = assignment.features, assignment.state.story_id
        self.stories[story_id] = assignment.state
        self._seq[story_id] = self.n_docs
        for k in f.entities | f.places:
            self._keys.setdefault(k, set()).add(story_id)
        for h in f.text_shingles:
            self._shingles.setdefault(h, set()).add(story_id)
        self.assignments[f.article_id] = story_id
        self.doc_freq_counts.update(f.terms.keys())
        self.n_docs += 1

    # -- diagnostics -----------------------------------------------------------------------------

    def _quote_hits(self, features: StoryFeatures) -> Mapping[str, int]:
        return self.quote_hits(features.quote_shingles, EVERY_STORY)

    def scores(self, features: StoryFeatures) -> dict[str, float | None]:
        """Diagnostics: the score against every story (None: gated), as ``assign`` would compute it."""
        hits = self.quote_hits(features.quote_shingles, EVERY_STORY)
        idf = idf_function(self.doc_freq_counts, self.n_docs)
        return {i: similarity(features, s, idf, hits.get(i, 0)) for i, s in self.stories.items()}


# -- caches of the persistent adapters (SQLite, Postgres) ---------------------------------------


class StoryStateCache:
    """Parsed candidate states by story id and version (``seq``, bumped at every update), so a store
    reads and parses again only the candidates another writer (or this one) changed since. ``merge``
    mutates cached states in place: a store clears the cache when its transaction fails. Bounded at a
    few times the candidates of one article (a state with its centroid and quote 4-grams is tens of KiB),
    so the enricher's memory stays flat however many stories pile up."""

    def __init__(self, max_states: int = 2 * MAX_CANDIDATES) -> None:
        self._states: dict[str, tuple[int, StoryState]] = {}
        self._max_states = max_states

    def stale(self, versions: Iterable[tuple[str, int]]) -> list[str]:
        """The ids of ``versions`` to read again. Evicts here, before the caller reads and ``put``s them,
        never in ``put``: a clear in the middle of filling would drop states the caller was told are
        fresh (bounded memory; the next candidates are simply read again)."""
        wanted = list(versions)
        if len(self._states) + len(wanted) > self._max_states:
            self._states.clear()
        return [story_id for story_id, seq in wanted if self._states.get(story_id, (None,))[0] != seq]

    def put(self, story_id: str, seq: int, state: StoryState) -> None:
        self._states[story_id] = (seq, state)

    def get(self, story_id: str) -> StoryState:
        return self._states[story_id][1]

    def clear(self) -> None:
        self._states.clear()


class DocFreqCache:
    """Document frequencies of the terms looked up so far, kept exact without re-reading them: every
    changed row carries a sequence value, and before each use the store applies the rows changed since
    ``watermark`` (by any writer), then reads the terms it has never looked up. Writers hold the store's
    write lock from stamping to commit, so no change can commit behind the watermark."""

    def __init__(self, max_terms: int = 300_000) -> None:
        self.watermark: int | None = None  # None: not yet read from the store
        self._df: dict[str, int] = {}
        self._max_terms = max_terms

    def start(self, watermark: int) -> None:
        """Begin at the store's current greatest sequence value, with nothing cached."""
        self.watermark = watermark
        self._df.clear()

    def apply(self, changes: Iterable[tuple[str, int, int]]) -> None:
        """(term, df, seq) rows changed since the watermark."""
        for term, df, seq in changes:
            if term in self._df:
                self._df[term] = df
            if self.watermark is None or seq > self.watermark:
                self.watermark = seq

    def count_own(self, terms: Iterable[str], seq: int | None) -> None:
        """The caller's own document counted once for each of ``terms``, while it holds the store's write
        lock, after an ``apply`` brought the cache up to date: the same values a re-read would give.
        ``seq``: the value stamping those changes, when known now (else the store passes it to
        ``advance`` once it has written them)."""
        df = self._df
        for term in terms:
            if term in df:
                df[term] += 1
        if seq is not None:
            self.advance(seq)

    def advance(self, seq: int) -> None:
        """Rows up to ``seq`` are the caller's own changes, already counted (``count_own``)."""
        if self.watermark is not None and seq > self.watermark:
            self.watermark = seq

    def missing(self, terms: Iterable[str]) -> list[str]:
        """The terms to read from the store before ``frequencies`` covers ``terms``."""
        if len(self._df) > self._max_terms:
            self._df.clear()  # bounded memory; cleared terms are read again when next needed
        # A set difference probes the dict from C: a generator per term was a tenth of assignment.
        return sorted(set(terms).difference(self._df))

    def fill(self, asked: Iterable[str], found: Mapping[str, int]) -> None:
        for term in asked:
            self._df[term] = found.get(term, 0)  # 0 is cached too: a later first use arrives as a change

    @property
    def frequencies(self) -> Mapping[str, int]:
        return self._df


# -- state codec (shared by the sqlite and Postgres adapters) ------------------------------------


def state_to_json(s: StoryState) -> str:
    return orjson.dumps(
        {
            "published_first": _iso(s.published_first),
            "published_last": _iso(s.published_last),
            "ingested_first": _iso(s.ingested_first),
            "ingested_last": _iso(s.ingested_last),
            "n_articles": s.n_articles,
            "years": sorted(s.years),
            "event_dates": sorted(s.event_dates),
            # In the state's own order, not sorted: a state read back then iterates (and sums its floats)
            # in the same order as the cached one it was written from, and 400 terms are not re-sorted
            # at every update.
            "entities": s.entities,
            "places": s.places,
            "terms": s.terms,
            "quote_shingles": sorted(s.quote_shingles),
        },
    ).decode()  # text, not bytes: SQLite would take bytes for JSONB


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None


def _date(raw: Any) -> dt.date | None:
    return dt.date.fromisoformat(raw) if raw else None


def state_from_json(story_id: str, raw: str) -> StoryState:
    d: dict[str, Any] = orjson.loads(raw)
    if "first_day" in d:
        # Earlier format: one range, publication dates only when every member had one.
        kind = "published" if d.get("days_published") else "ingested"
        d[f"{kind}_first"], d[f"{kind}_last"] = d["first_day"], d["last_day"]
    return StoryState(
        story_id=story_id,
        published_first=_date(d.get("published_first")),
        published_last=_date(d.get("published_last")),
        ingested_first=_date(d.get("ingested_first")),
        ingested_last=_date(d.get("ingested_last")),
        n_articles=int(d["n_articles"]),
        years=set(d["years"]),
        event_dates=set(d["event_dates"]),
        entities=Counter(d["entities"]),
        places=Counter(d["places"]),
        terms={k: float(v) for k, v in d["terms"].items()},
        # Earlier states held word trigrams as strings; they cannot match hashed 4-grams.
        quote_shingles={int(h) for h in d.get("quote_shingles", []) if isinstance(h, int)},
    )
