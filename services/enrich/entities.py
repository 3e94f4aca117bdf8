"""Entities from a parsed Doc: cleaned spans, canonical names within the article, ids across articles.

Pure: takes a spaCy ``Doc`` (only its tokens and ``ents`` are read) and returns plain values.

Canonical ids (shared across articles) are a documented normalisation, not a model:

* every name token is folded to ASCII lowercase letters, ``ks`` -> ``x`` and a final ``ey/ei/ej/iy/yy/y``
  -> ``i`` (so Sergey/Sergei/Sergej, Dmitriy/Dmitry, Zelensky/Zelenskyy/Zelenskiy fold together), and
  doubled letters are collapsed;
* PERSON ids use the folded given name + surname only (first and last token), so a middle name or
  patronymic does not split an id;
* other labels are grouped into families (places: GPE/LOC/FAC) and keyed by the folded full name
  without a leading "the", with a short alias table for abbreviations news uses interchangeably.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from spacy.tokens import Doc, Span

from services.contracts.events import Entity, Mention

PLACE_LABELS = frozenset({"GPE", "LOC", "FAC"})
NAMED_LABELS = frozenset({"PERSON", "ORG", "GPE", "LOC", "FAC", "NORP", "EVENT", "PRODUCT", "WORK_OF_ART", "LAW"})
# Labels whose spans may be a mislabelled bare surname ("Lavrov said" tagged ORG by the small model).
_RELABELLABLE = frozenset({"ORG", "GPE", "NORP", "PRODUCT", "WORK_OF_ART", "LOC", "FAC", "EVENT", "LAW"})

# Words that precede a name as a title and are not part of it ("President Xi Jinping").
TITLE_WORDS = frozenset(
    {
        "mr",
        "mrs",
        "ms",
        "dr",
        "sir",
        "president",
        "premier",
        "minister",
        "secretary",
        "spokesman",
        "spokeswoman",
        "spokesperson",
        "chancellor",
        "senator",
        "governor",
        "general",
        "ambassador",
        "envoy",
        "king",
        "queen",
        "prince",
        "pope",
        "leader",
        "chairman",
        "professor",
        "prof",
    }
)

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

_ALIASES = {
    "us": "united-states",
    "usa": "united-states",
    "america": "united-states",
    "united-states-of-america": "united-states",
    "uk": "united-kingdom",
    "britain": "united-kingdom",
    "great-britain": "united-kingdom",
    "un": "united-nations",
    "prc": "china",
    "peoples-republic-of-china": "china",
    "russian-federation": "russia",
}

_FINAL_VOWEL_Y = re.compile(r"(?:ey|ei|ej|iy|yy|ij|y)$")
_DOUBLED = re.compile(r"(.)\1+")
_NON_LETTER = re.compile(r"[^a-z]+")
_POSSESSIVE = ("’s", "'s", "’", "'")


def fold_token(token: str) -> str:
    """Fold one name token so transliteration variants compare equal (see module docstring)."""
    ascii_form = unicodedata.normalize("NFKD", token).encode("ascii", "ignore").decode("ascii").lower()
    s = _NON_LETTER.sub("", ascii_form)
    if len(s) > 2:
        s = s.replace("ks", "x")
        s = _FINAL_VOWEL_Y.sub("i", s)
    return _DOUBLED.sub(r"\1", s)


def label_family(label: str) -> str:
    if label in PLACE_LABELS:
        return "place"
    return label.lower()


def canonical_id_for(name: str, label: str) -> str:
    """Id shared by spelling variants of ``name`` across articles."""
    tokens = [t for t in (fold_token(p) for p in re.split(r"[\s\-‐]+", name)) if t]
    if label == "PERSON":
        if len(tokens) >= 2:
            tokens = [tokens[0], tokens[-1]]
        return "person:" + "-".join(tokens)
    if tokens and tokens[0] == "the":
        tokens = tokens[1:]
    key = "-".join(tokens)
    key = _ALIASES.get(key, key)
    return f"{label_family(label)}:{key}"


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


def _clean_span(span: Span) -> tuple[int, int] | None:
    """Token bounds of ``span`` without a leading article/title and a trailing possessive."""
    i, j = span.start, span.end
    doc = span.doc
    while i < j and (doc[i].lower_ == "the" or (span.label_ == "PERSON" and doc[i].lower_ in TITLE_WORDS)):
        i += 1
    while j > i and (doc[j - 1].text in _POSSESSIVE or doc[j - 1].is_punct):
        j -= 1
    if i >= j:
        return None
    return i, j


def _is_noise(text: str, label: str) -> bool:
    if not any(ch.isalnum() for ch in text) or "\n" in text:
        # A span across a line break glues two paragraphs together; it is never one name.
        return True
    # A named entity without a capital, or a person with digits, is a tagging accident ("2022" as PERSON).
    no_capital = label in NAMED_LABELS and label != "NORP" and not any(ch.isupper() for ch in text)
    return no_capital or (label == "PERSON" and any(ch.isdigit() for ch in text))


def _raw_mentions(doc: Doc, text: str) -> list[_Raw]:
    out: list[_Raw] = []
    # Sentence starts once per Doc: ``Span.sent`` and ``Doc.has_annotation`` each walk the whole Doc.
    sent_bounds: list[tuple[int, int]] = (
        [(s.start, s.start_char) for s in doc.sents] if doc.has_annotation("SENT_START") else [(0, 0)]
    )
    sent_tok_starts = [t for t, _c in sent_bounds]
    for ent in doc.ents:
        bounds = _clean_span(ent)
        if bounds is None:
            continue
        i, j = bounds
        span = doc[i:j]
        text = span.text
        label = ent.label_
        if _is_noise(text, label):
            continue
        root = span.root
        out.append(
            _Raw(
                start=span.start_char,
                end=span.end_char,
                text=text,
                label=label,
                is_subject=root.dep_ in ("nsubj", "nsubjpass"),
                sent_start=sent_bounds[max(0, bisect.bisect_right(sent_tok_starts, span.start) - 1)][1],
            )
        )
    # Merge PERSON fragments split by the tagger ("Sergey" + "Lavrov" separated by one space).
    merged: list[_Raw] = []
    for r in out:
        if merged and r.label == "PERSON" and merged[-1].label == "PERSON" and text[merged[-1].end : r.start] == " ":
            prev = merged[-1]
            prev.end = r.end
            prev.text = text[prev.start : r.end]
            prev.is_subject = prev.is_subject or r.is_subject
            continue
        merged.append(r)
    return merged


def roles_in(context: str) -> set[str]:
    """Role names (see ``_ROLE_CUES``) mentioned in ``context``."""
    return _roles_in(context)


def _roles_in(context: str) -> set[str]:
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


def analyse_entities(doc: Doc, title: str = "") -> EntityAnalysis:
    """Clean, canonicalise and score the entities of ``doc``; ``title`` only boosts salience."""
    text = doc.text
    raws = _raw_mentions(doc, text)

    full_names: dict[str, list[_Raw]] = defaultdict(list)
    for r in raws:
        if r.label == "PERSON" and len(_name_tokens(r.text)) >= 2:
            full_names[r.text].append(r)
    name_token_sets = {name: {fold_token(t) for t in _name_tokens(name)} for name in full_names}

    # Bare surnames the small model tags as ORG/GPE become PERSON when a full name in the article
    # contains them; a capitalised single token is required so common nouns are never relabelled.
    for r in raws:
        if r.label in _RELABELLABLE:
            toks = {fold_token(t) for t in _name_tokens(r.text)}
            if toks and r.text[:1].isupper() and any(toks <= s for s in name_token_sets.values()):
                r.label = "PERSON"

    full_roles: dict[str, set[str]] = {
        name: set().union(*(_roles_in(_context(text, m)) for m in ms)) for name, ms in full_names.items()
    }
    full_starts: dict[str, list[int]] = {name: [m.start for m in ms] for name, ms in full_names.items()}

    resolved: list[ResolvedMention] = []
    for r in raws:
        canonical = r.text
        if r.label == "PERSON":
            canonical = _resolve_person(r, text, name_token_sets, full_names, full_roles, full_starts)
        elif r.text.lower().startswith("the "):
            canonical = r.text[4:]
        cid = canonical_id_for(canonical, r.label)
        resolved.append(
            ResolvedMention(
                start=r.start,
                end=r.end,
                text=r.text,
                label=r.label,
                canonical=canonical,
                canonical_id=cid,
                is_subject=r.is_subject,
            )
        )

    entities = _build_entities(resolved, text, title)
    # Make every mention report the article-level canonical name of its group (variants merged).
    by_id = {e.canonical_id: e.canonical for e in entities}
    resolved = [
        ResolvedMention(
            start=m.start,
            end=m.end,
            text=m.text,
            label=m.label,
            canonical=by_id.get(m.canonical_id, m.canonical),
            canonical_id=m.canonical_id,
            is_subject=m.is_subject,
        )
        for m in resolved
    ]
    roles: dict[str, set[str]] = defaultdict(set)
    for name, found in full_roles.items():
        roles[canonical_id_for(name, "PERSON")] |= found
    return EntityAnalysis(entities=entities, mentions=resolved, roles=dict(roles))


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
        # A full name is its own canonical unless a longer name in the article contains it.
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


def _build_entities(mentions: list[ResolvedMention], text: str, title: str) -> list[Entity]:
    groups: dict[str, list[ResolvedMention]] = defaultdict(list)
    for m in mentions:
        groups[m.canonical_id].append(m)
    if not groups:
        return []
    max_count = max(len(ms) for ms in groups.values())
    length = max(len(text), 1)
    title_folded = {fold_token(t) for t in re.findall(r"\w+", title)}
    out: list[Entity] = []
    for cid, ms in groups.items():
        surfaces = Counter(m.text for m in ms)
        labels = Counter(m.label for m in ms)
        canon_counts = Counter(m.canonical for m in ms)
        # Prefer the longest canonical (a full name over a surname); ties go to the most frequent.
        canonical = max(canon_counts, key=lambda c: (len(c.split()), canon_counts[c], c))
        first = min(m.start for m in ms)
        freq = len(ms) / max_count
        position = 1.0 - first / length
        name_toks = {fold_token(t) for t in canonical.split()}
        in_title = 1.0 if name_toks and name_toks & title_folded and name_toks - {""} else 0.0
        salience = min(1.0, 0.6 * freq + 0.25 * position + 0.15 * in_title)
        out.append(
            Entity(
                text=max(surfaces, key=lambda s: (surfaces[s], len(s), s)),
                canonical=canonical,
                canonical_id=cid,
                label=max(labels, key=lambda lab: (labels[lab], lab)),
                count=len(ms),
                salience=round(salience, 4),
                mentions=[Mention(start=m.start, end=m.end) for m in sorted(ms, key=lambda m: m.start)],
            )
        )
    out.sort(key=lambda e: (-e.salience, e.canonical_id))
    return out
