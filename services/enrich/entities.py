"""Entities from a parsed Doc: repaired spans, canonical names within the article, ids across articles.

Pure: takes a spaCy ``Doc`` (its tokens, parse and ``ents`` are read) and returns plain values.

* spans and labels are repaired first (``spans.py``: edges, brackets, hyphens, gazetteer places);
* dates, times and numbers become ``Value``s and get no entity id;
* a bare surname resolves to the full name it belongs to in the article, a bracketed form ("(SCO)") to
  the name it follows;
* ids are the normal form of ``entity_ids.py``; the name shared by every article is chosen by the store.
"""

from __future__ import annotations

import bisect
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from spacy.tokens import Doc

from services.contracts.events import Entity, Mention, Value
from services.enrich.entity_ids import (
    NAMED_LABELS,
    PLACE_LABELS,
    VALUE_LABELS,
    canonical_id_for,
    fold_token,
    label_family,
)
from services.enrich.spans import TITLE_WORDS, repair_entities

__all__ = [
    "NAMED_LABELS",
    "PLACE_LABELS",
    "TITLE_WORDS",
    "VALUE_LABELS",
    "EntityAnalysis",
    "ResolvedMention",
    "analyse_entities",
    "canonical_id_for",
    "fold_token",
    "label_family",
    "roles_in",
]

# Labels whose spans may be a mislabelled bare surname ("Lavrov said" tagged ORG by the small model).
_RELABELLABLE = frozenset({"ORG", "GPE", "NORP", "PRODUCT", "WORK_OF_ART", "LOC", "FAC", "EVENT", "LAW"})

# Role cues used to pick between people who share a surname.
_ROLE_CUES: dict[str, tuple[str, ...]] = {
    "minister": ("minister", "top diplomat", "foreign secretary", "secretary of state", "counterpart"),
    "spokesperson": ("spokesperson", "spokesman", "spokeswoman", "press secretary"),
    "president": ("president", "head of state"),
    "premier": ("premier", "prime minister"),
    "expert": ("expert", "analyst", "professor", "researcher", "scholar"),
}
_ROLE_RE = {
    role: re.compile(r"\b(?:" + "|".join(re.escape(c) for c in cues) + r")\b", re.IGNORECASE)
    for role, cues in _ROLE_CUES.items()
}
# Any cue of any role: most contexts have none, and one search rules out every role at once.
_ANY_ROLE_RE = re.compile(
    r"\b(?:" + "|".join(re.escape(c) for cues in _ROLE_CUES.values() for c in cues) + r")\b", re.IGNORECASE
)

# Salience weights: how often a name is mentioned, whether it is in the title (or standfirst), in the lede
# and how early it first appears. They add up to 1.
_W_COUNT, _W_TITLE, _W_LEDE, _W_POSITION = 0.45, 0.2, 0.2, 0.15
# The lede is the first paragraph of at least this many words (bodies often open with a caption or a
# repeated headline), cut at this many characters.
_LEDE_MIN_WORDS, _LEDE_MAX_CHARS = 12, 400


@dataclass(frozen=True)
class ResolvedMention:
    """One entity mention after cleaning and canonicalisation (offsets index the Doc text)."""

    start: int
    end: int
    text: str
    label: str
    canonical: str
    canonical_id: str
    is_subject: bool


@dataclass
class EntityAnalysis:
    entities: list[Entity]
    mentions: list[ResolvedMention]
    # Roles (minister, spokesperson, ...) seen next to each person's full name, by canonical_id.
    roles: dict[str, set[str]] = field(default_factory=dict)
    # Dates, times and numbers, in text order: values, not entities.
    values: list[Value] = field(default_factory=list)
    _starts: list[int] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self.mentions.sort(key=lambda m: (m.start, m.end))
        self._starts = [m.start for m in self.mentions]

    def mentions_in(self, start: int, end: int) -> list[ResolvedMention]:
        """Mentions lying fully inside [start, end)."""
        i = bisect.bisect_left(self._starts, start)
        out: list[ResolvedMention] = []
        while i < len(self.mentions) and self.mentions[i].start < end:
            if self.mentions[i].end <= end:
                out.append(self.mentions[i])
            i += 1
        return out

    def last_person_before(self, pos: int, *, subject_only: bool) -> ResolvedMention | None:
        i = bisect.bisect_left(self._starts, pos) - 1
        while i >= 0:
            m = self.mentions[i]
            if m.label == "PERSON" and m.end <= pos and (m.is_subject or not subject_only):
                return m
            i -= 1
        return None

    def person_with_role(self, roles: set[str], before: int) -> ResolvedMention | None:
        """Most recent PERSON mention before ``before`` whose full name carries one of ``roles``."""
        i = bisect.bisect_left(self._starts, before) - 1
        while i >= 0:
            m = self.mentions[i]
            if m.label == "PERSON" and self.roles.get(m.canonical_id, set()) & roles:
                return m
            i -= 1
        return None

    def person_by_surname(self, surname: str) -> ResolvedMention | None:
        """A PERSON mention whose canonical name contains ``surname`` (pattern fallback for speakers)."""
        key = fold_token(surname)
        best: ResolvedMention | None = None
        for m in self.mentions:
            if (
                m.label == "PERSON"
                and key in {fold_token(p) for p in m.canonical.split()}
                and (best is None or len(m.canonical) > len(best.canonical))
            ):
                best = m
        return best


@dataclass
class _Raw:
    start: int
    end: int
    text: str
    label: str
    is_subject: bool
    sent_start: int
    alias_of: tuple[int, int] | None = None  # character bounds of the name a bracketed form follows


def _is_noise(text: str, label: str) -> bool:
    if not any(ch.isalnum() for ch in text) or "\n" in text:
        # A span across a line break glues two paragraphs together; it is never one name.
        return True
    # A Latin-script name without a capital, or a person with digits, is a tagging accident ("2022" as PERSON).
    no_capital = label != "NORP" and not any(ch.isupper() for ch in text) and text.isascii()
    return no_capital or (label == "PERSON" and any(ch.isdigit() for ch in text))


def _raw_mentions(doc: Doc, text: str) -> tuple[list[_Raw], list[Value]]:
    out: list[_Raw] = []
    values: list[Value] = []
    # Sentence starts once per Doc: ``Span.sent`` and ``Doc.has_annotation`` each walk the whole Doc.
    sent_bounds: list[tuple[int, int]] = (
        [(s.start, s.start_char) for s in doc.sents] if doc.has_annotation("SENT_START") else [(0, 0)]
    )
    sent_tok_starts = [t for t, _c in sent_bounds]
    for cand in repair_entities(doc, text):
        span = doc[cand.start : cand.end]
        if cand.label in VALUE_LABELS:
            if "\n" not in span.text:
                values.append(Value(text=span.text, label=cand.label, start=span.start_char, end=span.end_char))
            continue
        if cand.label not in NAMED_LABELS or _is_noise(span.text, cand.label):
            continue
        alias_of = None
        if cand.alias_of is not None:
            name = doc[cand.alias_of[0] : cand.alias_of[1]]
            alias_of = (name.start_char, name.end_char)
        out.append(
            _Raw(
                start=span.start_char,
                end=span.end_char,
                text=span.text,
                label=cand.label,
                is_subject=span.root.dep_ in ("nsubj", "nsubjpass"),
                sent_start=sent_bounds[max(0, bisect.bisect_right(sent_tok_starts, cand.start) - 1)][1],
                alias_of=alias_of,
            )
        )
    # Merge PERSON fragments split by the tagger ("Sergey" + "Lavrov" separated by one space).
    merged: list[_Raw] = []
    for r in out:
        if (
            merged
            and r.label == "PERSON"
            and merged[-1].label == "PERSON"
            and r.alias_of is None
            and text[merged[-1].end : r.start] == " "
        ):
            prev = merged[-1]
            prev.end = r.end
            prev.text = text[prev.start : r.end]
            prev.is_subject = prev.is_subject or r.is_subject
            continue
        merged.append(r)
    return merged, values


def roles_in(context: str) -> set[str]:
    """Role names (see ``_ROLE_CUES``) mentioned in ``context``."""
    return _roles_in(context)


def _roles_in(context: str) -> set[str]:
    if not _ANY_ROLE_RE.search(context):
        return set()
    return {role for role, rx in _ROLE_RE.items() if rx.search(context)}


def _context(text: str, r: _Raw) -> str:
    """Words around a mention that may carry its title: the clause before it and an appositive after."""
    before = text[max(r.sent_start, r.start - 60) : r.start]
    after = text[r.end : r.end + 60]
    # Only an appositive (", the Russian foreign minister,") describes the mention; a following verb
    # phrase usually describes someone else.
    after = after[: after.find(",", 1) + 1] if after.startswith(",") and after.find(",", 1) > 0 else ""
    return before[-40:] + " " + after


def _name_tokens(name: str) -> list[str]:
    return [t for t in name.split() if t]


def analyse_entities(doc: Doc, title: str = "", *, text: str | None = None) -> EntityAnalysis:
    """Repair, canonicalise and score the entities of ``doc``; ``title`` (and standfirst) weigh salience.
    ``text``: the string ``doc`` was parsed from, when the caller has it (``Doc.text`` joins every token
    on each call: a tenth of enrich's own work per article)."""
    text = doc.text if text is None else text
    raws, values = _raw_mentions(doc, text)

    full_names: dict[str, list[_Raw]] = defaultdict(list)
    for r in raws:
        if r.label == "PERSON" and len(_name_tokens(r.text)) >= 2:
            full_names[r.text].append(r)
    name_token_sets = {name: {fold_token(t) for t in _name_tokens(name)} for name in full_names}

    # Bare surnames the small model tags as ORG/GPE become PERSON when a full name in the article
    # contains them; a capitalised single token is required so common nouns are never relabelled.
    for r in raws:
        if r.label in _RELABELLABLE and r.alias_of is None:
            toks = {fold_token(t) for t in _name_tokens(r.text)}
            if toks and r.text[:1].isupper() and any(toks <= s for s in name_token_sets.values()):
                r.label = "PERSON"

    full_roles: dict[str, set[str]] = {
        name: set().union(*(_roles_in(_context(text, m)) for m in ms)) for name, ms in full_names.items()
    }
    full_starts: dict[str, list[int]] = {name: [m.start for m in ms] for name, ms in full_names.items()}

    resolved: list[ResolvedMention] = []
    by_bounds: dict[tuple[int, int], ResolvedMention] = {}
    # A bracketed form takes the id of the name it follows, and so does every other mention of that form
    # in the article ("Shanghai Cooperation Organisation (SCO) ... the SCO summit").
    short_forms: dict[str, ResolvedMention] = {}
    for r in raws:
        canonical = r.text
        if r.label == "PERSON":
            canonical = _resolve_person(r, text, name_token_sets, full_names, full_roles, full_starts)
        mention = ResolvedMention(
            start=r.start,
            end=r.end,
            text=r.text,
            label=r.label,
            canonical=canonical,
            canonical_id=canonical_id_for(canonical, r.label),
            is_subject=r.is_subject,
        )
        followed = by_bounds.get(r.alias_of) if r.alias_of is not None else None
        if followed is not None:
            short_forms[mention.canonical_id] = followed
        by_bounds[(r.start, r.end)] = mention
        resolved.append(mention)
    resolved = [_as_name(m, short_forms[m.canonical_id]) if m.canonical_id in short_forms else m for m in resolved]

    entities = _build_entities(resolved, text, title)
    # Make every mention report the article-level canonical name and label of its group (variants merged).
    by_id = {e.canonical_id: e for e in entities}
    resolved = [
        ResolvedMention(
            start=m.start,
            end=m.end,
            text=m.text,
            label=m.label,
            canonical=by_id[m.canonical_id].canonical if m.canonical_id in by_id else m.canonical,
            canonical_id=m.canonical_id,
            is_subject=m.is_subject,
        )
        for m in resolved
    ]
    roles: dict[str, set[str]] = defaultdict(set)
    for name, found in full_roles.items():
        roles[canonical_id_for(name, "PERSON")] |= found
    return EntityAnalysis(entities=entities, mentions=resolved, roles=dict(roles), values=values)


def _as_name(m: ResolvedMention, name: ResolvedMention) -> ResolvedMention:
    return ResolvedMention(
        start=m.start,
        end=m.end,
        text=m.text,
        label=name.label,
        canonical=name.canonical,
        canonical_id=name.canonical_id,
        is_subject=m.is_subject,
    )


def _resolve_person(
    r: _Raw,
    text: str,
    name_token_sets: dict[str, set[str]],
    full_names: dict[str, list[_Raw]],
    full_roles: dict[str, set[str]],
    full_starts: dict[str, list[int]],
) -> str:
    toks = {fold_token(t) for t in _name_tokens(r.text)}
    candidates = sorted(name for name, s in name_token_sets.items() if toks <= s and name != r.text)
    if len(_name_tokens(r.text)) >= 2:
        # A full name is its own canonical unless a longer name in the article contains it. A name with a
        # middle part (George W. Bush) names someone of its own: only given name + surname grow.
        if len(_name_tokens(r.text)) > 2:
            return r.text
        longer = [c for c in candidates if len(name_token_sets[c]) > len(toks)]
        return max(longer, key=lambda c: len(full_names[c])) if longer else r.text
    if not candidates:
        return r.text
    if len(candidates) == 1:
        return candidates[0]
    # Several people share the token: a title next to the bare mention decides first, then how often
    # each full name occurs and which was mentioned most recently before this point.
    roles = _roles_in(_context(text, r))
    scored: list[tuple[float, str]] = []
    latest: str | None = None
    latest_pos = -1
    for c in candidates:
        before = [s for s in full_starts[c] if s < r.start]
        if before and before[-1] > latest_pos:
            latest, latest_pos = c, before[-1]
    for c in candidates:
        score = float(len(full_names[c]))
        if latest == c:
            score += 0.75
        if roles & full_roles[c]:
            score += 5.0
        elif roles and full_roles[c]:
            score -= 2.0
        scored.append((score, c))
    scored.sort(key=lambda sc: (-sc[0], sc[1]))
    return scored[0][1]


def _lede(text: str) -> str:
    for paragraph in text.split("\n"):
        if len(paragraph.split()) >= _LEDE_MIN_WORDS:
            return paragraph[:_LEDE_MAX_CHARS]
    return text[:_LEDE_MAX_CHARS]


def _is_full_form(name: str) -> bool:
    """A name of several words, or one word that is not an abbreviation (US, SCO)."""
    return len(name.split()) >= 2 or not name.isupper()


def _build_entities(mentions: list[ResolvedMention], text: str, title: str) -> list[Entity]:
    groups: dict[str, list[ResolvedMention]] = defaultdict(list)
    for m in mentions:
        groups[m.canonical_id].append(m)
    if not groups:
        return []
    max_count = max(len(ms) for ms in groups.values())
    length = max(len(text), 1)
    title_folded = {fold_token(t) for t in re.findall(r"\w+", title)}
    lede = _lede(text)
    lede_start = text.find(lede)
    lede_end = lede_start + len(lede)
    out: list[Entity] = []
    for cid, ms in groups.items():
        surfaces = Counter(m.text for m in ms)
        labels = Counter(m.label for m in ms)
        canon_counts = Counter(m.canonical for m in ms)
        # The most frequent full form (a full name over a surname, a name over an abbreviation); ties go
        # to the longer, then the alphabetically first. The store applies the same rule across articles.
        canonical = max(canon_counts, key=lambda c: (_is_full_form(c), canon_counts[c], len(c.split()), c))
        first = min(m.start for m in ms)
        # In the title when one of its forms is there whole ("Lavrov" in "Lavrov in China").
        forms = [{fold_token(t) for t in re.findall(r"\w+", f)} for f in (canonical, *surfaces)]
        in_title = 1.0 if any(f and f <= title_folded for f in forms) else 0.0
        in_lede = 1.0 if any(lede_start <= m.start < lede_end for m in ms) else 0.0
        salience = (
            _W_COUNT * len(ms) / max_count
            + _W_TITLE * in_title
            + _W_LEDE * in_lede
            + _W_POSITION * (1.0 - first / length)
        )
        out.append(
            Entity(
                text=max(surfaces, key=lambda s: (surfaces[s], len(s), s)),
                canonical=canonical,
                canonical_id=cid,
                label=max(labels, key=lambda lab: (labels[lab], lab)),
                count=len(ms),
                salience=round(min(1.0, salience), 4),
                mentions=[Mention(start=m.start, end=m.end) for m in sorted(ms, key=lambda m: m.start)],
            )
        )
    out.sort(key=lambda e: (-e.salience, e.canonical_id))
    return out
