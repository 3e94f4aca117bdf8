"""Span and label repair after NER: rules over the model's ``doc.ents``, measured in bench/results/entities.md.

The small English model cuts names at brackets and hyphens, keeps "of the" on a span's edge and tags
places as PERSON/ORG. These rules run on token bounds, in this order, for every entity:

1. edges: a leading or trailing article/preposition/possessive/punctuation is dropped ("the Foreign
   Ministers of the" -> "Foreign Ministers"), PERSON titles are dropped ("President Xi Jinping");
2. brackets: an unbalanced bracket ends the span ("Shanghai Cooperation Organisation (SCO" -> the
   organisation), and a short bracketed form right after a name becomes an alias of that name ("(SCO)",
   "(Сергей Лавров)");
3. hyphens: a name glued to a capitalised word by a hyphen is kept whole ("Météo-France"), unless the
   other word is a known place or entity of its own ("China-Russia" stays two places); a place grown so,
   or tagged whole as a place while only its last word is one, becomes an ORG;
4. labels: a known place (gazetteer) tagged PERSON/ORG/NORP/PRODUCT becomes GPE; a name ending in a
   facility noun becomes FAC ("London Gateway") or in an organisation noun ORG; a PRODUCT without a digit
   that is the subject of a company verb ("Maersk said") becomes ORG; a LAW without a law word and a
   one-word generic noun ("State") are dropped;
5. misses: known places and summit names (G7) the model left untagged are added, and so are later
   mentions of a person it tagged once (the full name or the surname alone) and bracketed forms after a
   name in another script or in capitals ("(王毅)", "(FAA)").

Vocabulary lives in ``entity_rules.json``; places in ``gazetteer.py``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from spacy.attrs import IDX, IS_PUNCT, LENGTH, POS, SPACY
from spacy.symbols import PROPN
from spacy.tokens import Doc

from services.enrich.entity_ids import PLACE_LABELS, VALUE_LABELS, words_of
from services.enrich.gazetteer import Gazetteer, load_gazetteer

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

_HYPHENS = frozenset({"-", "‐", "‑"})
_MAX_PLACE_WORDS = 3
_MAX_ALIAS_TOKENS = 4


@dataclass(frozen=True)
class EntityRules:
    edge_words: frozenset[str]
    generic_words: frozenset[str]
    law_words: frozenset[str]
    facility_heads: frozenset[str]
    org_heads: frozenset[str]
    speaking_verbs: frozenset[str]
    org_token: re.Pattern[str]
    model_number: re.Pattern[str]
    name_particles: frozenset[str]


@lru_cache(maxsize=1)
def load_rules() -> EntityRules:
    raw = json.loads((resources.files("services.enrich") / "entity_rules.json").read_text(encoding="utf-8"))
    return EntityRules(
        edge_words=frozenset(raw["edge_words"]),
        generic_words=frozenset(raw["generic_words"]),
        law_words=frozenset(raw["law_words"]),
        facility_heads=frozenset(raw["facility_heads"]),
        org_heads=frozenset(raw["org_heads"]),
        speaking_verbs=frozenset(raw["speaking_verbs"]),
        org_token=re.compile(raw["org_token_pattern"]),
        model_number=re.compile(raw["model_number_pattern"]),
        name_particles=frozenset(raw["name_particles"]),
    )


@dataclass
class Candidate:
    """An entity span in token bounds [start, end); ``alias_of`` holds the token bounds of the name that a
    bracketed form follows ("SCO" in "Shanghai Cooperation Organisation (SCO)")."""

    start: int
    end: int
    label: str
    alias_of: tuple[int, int] | None = None


@dataclass(frozen=True)
class _Tokens:
    """Token attributes read once per Doc, in bulk: indexing a Doc builds a Token object on every access."""

    text: list[str]
    lower: list[str]
    propn: list[bool]
    punct: list[bool]
    glued: list[bool]  # no whitespace after the token

    @classmethod
    def of(cls, doc: Doc, doc_text: str) -> _Tokens:
        if not len(doc):
            return cls(text=[], lower=[], propn=[], punct=[], glued=[])
        # Offsets and lengths in bulk, then slices of the text: iterating the Doc would build a Token each.
        start, length, pos, punct, space = doc.to_array([IDX, LENGTH, POS, IS_PUNCT, SPACY]).T.tolist()
        text = [doc_text[i : i + n] for i, n in zip(start, length, strict=True)]
        return cls(
            text=text,
            lower=[t.lower() for t in text],
            propn=[p == PROPN for p in pos],
            punct=[bool(p) for p in punct],
            glued=[not sp for sp in space],
        )

    def __len__(self) -> int:
        return len(self.text)

    def slug(self, start: int, end: int) -> str:
        return "-".join(w for k in range(start, end) for w in words_of(self.text[k]))

    def span_text(self, start: int, end: int) -> str:
        return "".join(self.text[k] + ("" if self.glued[k] or k == end - 1 else " ") for k in range(start, end))


def _trim(t: _Tokens, start: int, end: int, label: str, rules: EntityRules) -> tuple[int, int]:
    if label in VALUE_LABELS:
        return start, end
    while start < end and (
        t.lower[start] in rules.edge_words
        or (t.punct[start] and t.text[start] not in _HYPHENS)
        or (label == "PERSON" and t.lower[start].rstrip(".") in TITLE_WORDS)
    ):
        start += 1
    while end > start and (t.lower[end - 1] in rules.edge_words or t.punct[end - 1]):
        end -= 1
    return start, end


def _cut_brackets(t: _Tokens, start: int, end: int) -> tuple[int, int, tuple[int, int] | None]:
    """Bounds without an unbalanced bracket, and the bracketed tail that was cut off (an alias) if any."""
    depth = 0
    for i in range(start, end):
        tok = t.text[i]
        if tok == "(":
            depth += 1
            if ")" not in t.text[i + 1 : end]:
                tail = (i + 1, end)
                return start, i, tail if tail[0] < tail[1] else None
        elif tok == ")":
            if depth == 0:
                return i + 1, end, None
            depth -= 1
    return start, end, None


def _is_name_word(text: str) -> bool:
    return text[:1].isupper() and text.isalpha()


def _extend_hyphens(t: _Tokens, start: int, end: int, taken: set[int], gazetteer: Gazetteer) -> tuple[int, int, bool]:
    """Bounds grown over glued hyphens to capitalised words ("Météo" -> "Météo-France"), and whether the
    result joined a place to a word that is not one (then it names an organisation). Two places stay apart."""
    own_is_place = gazetteer.is_place_form(t.slug(start, end))
    joined_place = False
    while (
        start >= 2
        and t.text[start - 1] in _HYPHENS
        and t.glued[start - 2]
        and t.glued[start - 1]
        and _is_name_word(t.text[start - 2])
        and start - 2 not in taken
    ):
        word_is_place = gazetteer.is_place_form(t.slug(start - 2, start - 1))
        if word_is_place and own_is_place:
            break
        joined_place = joined_place or word_is_place != own_is_place
        start -= 2
    while (
        end + 1 < len(t)
        and t.text[end] in _HYPHENS
        and t.glued[end - 1]
        and t.glued[end]
        and _is_name_word(t.text[end + 1])
        and end + 1 not in taken
    ):
        word_is_place = gazetteer.is_place_form(t.slug(end + 1, end + 2))
        if word_is_place and own_is_place:
            break
        joined_place = joined_place or word_is_place != own_is_place
        end += 2
    return start, end, joined_place


def _join_hyphenated(doc: Doc, t: _Tokens, gazetteer: Gazetteer) -> list[Candidate]:
    """The model's entities, two of them joined when a hyphen glues them into one name: "Météo" + "France"
    -> ORG "Météo-France". Two places ("China-Russia") or two people ("Biden-Xi") stay apart."""
    out: list[Candidate] = []
    for ent in doc.ents:
        prev = out[-1] if out else None
        if (
            prev is not None
            and ent.start == prev.end + 1
            and t.text[prev.end] in _HYPHENS
            and t.glued[prev.end - 1]
            and t.glued[prev.end]
            and prev.label not in VALUE_LABELS
            and ent.label_ not in VALUE_LABELS
        ):
            left = gazetteer.is_place_form(t.slug(prev.start, prev.end))
            right = gazetteer.is_place_form(t.slug(ent.start, ent.end))
            if not (left and right) and not (prev.label == ent.label_ == "PERSON"):
                prev.end = ent.end
                prev.label = "ORG" if left or right else prev.label
                continue
        out.append(Candidate(ent.start, ent.end, ent.label_))
    return out


def _relabel(doc: Doc, t: _Tokens, c: Candidate, rules: EntityRules, gazetteer: Gazetteer) -> str | None:
    """The repaired label of ``c``, or None when it is not an entity at all."""
    label = c.label
    if label in VALUE_LABELS:
        return label
    words = t.lower[c.start : c.end]
    slug = t.slug(c.start, c.end)
    size = c.end - c.start
    if size == 1 and rules.org_token.match(t.text[c.start]):
        return "ORG"
    if label in ("PERSON", "ORG", "NORP", "PRODUCT") and gazetteer.is_known_place(slug):
        return "GPE"
    if (
        label in ("ORG", "GPE", "NORP", "PRODUCT")
        and size >= 2
        and c.start > 0
        and t.lower[c.start - 1].rstrip(".") in TITLE_WORDS
        and all(
            _is_name_word(t.text[k]) or t.text[k] in _HYPHENS or t.lower[k] in rules.name_particles
            for k in range(c.start, c.end)
        )
    ):
        # "President Kassym-Jomart Tokayev", "spokesperson Sanne de Vries": a title names a person.
        return "PERSON"
    if (
        label in PLACE_LABELS
        and size == 3
        and t.text[c.start + 1] in _HYPHENS
        and not gazetteer.is_known_place(slug)
        and gazetteer.is_known_place(t.slug(c.start + 2, c.end))
        and not gazetteer.is_known_place(t.slug(c.start, c.start + 1))
    ):
        # "Météo-France": a word glued to a place that is not itself a place names an organisation.
        return "ORG"
    if label in ("PERSON", "ORG", "PRODUCT") and len(words) >= 2:
        if words[-1] in rules.facility_heads:
            return "FAC"
        if words[-1] in rules.org_heads and label == "PERSON":
            return "ORG"
    if label == "PRODUCT" and not any(ch.isdigit() for w in words for ch in w):
        root = doc[c.start : c.end].root
        if root.dep_ in ("nsubj", "nsubjpass") and root.head.lemma_.lower() in rules.speaking_verbs:
            return "ORG"
    if label == "LAW" and not rules.law_words & set(words):
        return None
    if len(words) == 1 and words[0] in rules.generic_words:
        return None
    return label


def _join_model_numbers(t: _Tokens, out: list[Candidate], rules: EntityRules) -> list[Candidate]:
    """A maker followed by a model number is one product: "Boeing" + "737" -> PRODUCT "Boeing 737"."""
    by_start = {c.start: c for c in out}
    dropped: set[int] = set()
    for c in out:
        if c.label not in ("ORG", "PRODUCT") or c.end >= len(t) or id(c) in dropped:
            continue
        if t.glued[c.end - 1] or not rules.model_number.match(t.text[c.end]):
            continue
        follower = by_start.get(c.end)
        if follower is not None:
            if follower.end != c.end + 1:
                continue
            dropped.add(id(follower))
        c.end += 1
        c.label = "PRODUCT"
    return [c for c in out if id(c) not in dropped]


def _repeated_people(tokens: _Tokens, out: list[Candidate], taken: set[int]) -> list[Candidate]:
    """Later mentions of a person the model tagged once but not again ("Sybiha said", "He Lifeng said"):
    the full name, or its surname alone, as capitalised proper nouns outside any other entity."""
    text, n = tokens.text, len(tokens.text)
    forms: dict[str, list[tuple[str, ...]]] = {}
    for c in out:
        if c.label == "PERSON" and c.end - c.start >= 2:
            words = tuple(text[c.start : c.end])
            for form in (words, words[-1:]):
                forms.setdefault(form[0], []).append(form)
    if not forms:
        return []
    for first in forms:
        forms[first].sort(key=len, reverse=True)
    found: list[Candidate] = []
    i = 0
    while i < n:
        options = forms.get(text[i]) if i not in taken else None
        width = 0
        for form in options or ():
            end = i + len(form)
            if (
                end <= n
                and tokens.propn[end - 1]
                and tuple(text[i:end]) == form
                and not any(k in taken for k in range(i, end))
            ):
                width = len(form)
                break
        if width:
            found.append(Candidate(i, i + width, "PERSON"))
            i += width
        else:
            i += 1
    return found


def _untagged_bracket_forms(t: _Tokens, out: list[Candidate], taken: set[int]) -> list[Candidate]:
    """A bracketed form after a name that the model left untagged: a native-script spelling ("(王毅)",
    "(김정은)") or an acronym ("(FAA)")."""
    found: list[Candidate] = []
    for c in out:
        if c.label in VALUE_LABELS or c.alias_of is not None:
            continue
        bounds = _bracket_alias(t, c.end)
        if bounds is None or any(k in taken for k in range(*bounds)):
            continue
        inner = t.span_text(*bounds)
        letters = [ch for ch in inner if ch.isalpha()]
        if letters and (not inner.isascii() or (inner.isupper() and len(letters) >= 2)):
            found.append(Candidate(bounds[0], bounds[1], c.label, alias_of=(c.start, c.end)))
    return found


def _bracket_alias(t: _Tokens, end: int) -> tuple[int, int] | None:
    """Token bounds of a short bracketed form right after a name: "(SCO)", "(Сергей Лавров)"."""
    if end >= len(t) or t.text[end] != "(":
        return None
    for k in range(end + 1, min(len(t), end + 2 + _MAX_ALIAS_TOKENS)):
        if t.text[k] == ")":
            inner = t.span_text(end + 1, k)
            if inner and any(ch.isupper() or not ch.isascii() for ch in inner if ch.isalpha()):
                return end + 1, k
            return None
        if t.punct[k] and t.text[k] not in _HYPHENS:
            return None
    return None


def _missed(tokens: _Tokens, taken: set[int], rules: EntityRules, gazetteer: Gazetteer) -> list[Candidate]:
    """Known places and summit names (G7, G20) the model did not tag."""
    out: list[Candidate] = []
    text, n = tokens.text, len(tokens.text)
    i = 0
    while i < n:
        if i in taken or not text[i][:1].isupper():
            i += 1
            continue
        if rules.org_token.match(text[i]):
            out.append(Candidate(i, i + 1, "ORG"))
            i += 1
            continue
        if not tokens.propn[i]:
            i += 1
            continue
        found = 0
        for width in range(min(_MAX_PLACE_WORDS, n - i), 0, -1):
            if any(k in taken or not text[k][:1].isupper() for k in range(i, i + width)):
                continue
            if gazetteer.is_known_place("-".join(w for k in range(i, i + width) for w in words_of(text[k]))):
                found = width
                break
        if found:
            out.append(Candidate(i, i + found, "GPE"))
            i += found
        else:
            i += 1
    return out


def repair_entities(
    doc: Doc, doc_text: str | None = None, rules: EntityRules | None = None, gazetteer: Gazetteer | None = None
) -> list[Candidate]:
    """The entities of ``doc`` after the rules in the module docstring, in text order. ``doc_text`` is
    ``doc.text`` when the caller has it already (``Doc.text`` joins every token on each call)."""
    rules = rules or load_rules()
    gazetteer = gazetteer or load_gazetteer()
    tokens = _Tokens.of(doc, doc.text if doc_text is None else doc_text)
    ents = _join_hyphenated(doc, tokens, gazetteer)
    taken = {i for e in ents for i in range(e.start, e.end)}
    out: list[Candidate] = []
    for ent in ents:
        start, end = _trim(tokens, ent.start, ent.end, ent.label, rules)
        tail: tuple[int, int] | None = None
        if ent.label not in VALUE_LABELS:
            start, end, tail = _cut_brackets(tokens, start, end)
            start, end = _trim(tokens, start, end, ent.label, rules)
        if start >= end:
            continue
        label = ent.label
        if label not in VALUE_LABELS:
            own = set(range(ent.start, ent.end))
            start, end, joined_place = _extend_hyphens(tokens, start, end, taken - own, gazetteer)
            if joined_place:
                label = "ORG"
        c = Candidate(start, end, label)
        repaired = _relabel(doc, tokens, c, rules, gazetteer)
        if repaired is None:
            continue
        c.label = repaired
        out.append(c)
        if tail is not None and c.label not in VALUE_LABELS:
            out.append(Candidate(tail[0], tail[1], c.label, alias_of=(c.start, c.end)))
    out = _join_model_numbers(tokens, out, rules)
    taken = {i for c in out for i in range(c.start, c.end)}
    out.extend(_missed(tokens, taken, rules, gazetteer))
    taken = {i for c in out for i in range(c.start, c.end)}
    out.extend(_repeated_people(tokens, out, taken))
    out.sort(key=lambda c: (c.start, c.end))
    taken = {i for c in out for i in range(c.start, c.end)}
    out.extend(_untagged_bracket_forms(tokens, out, taken))
    out.sort(key=lambda c: (c.start, c.end))
    # Bracketed forms after a name: "(SCO)" cut from a span above, or a span of its own ("(Сергей Лавров)").
    index = {(c.start, c.end): c for c in out}
    for c in out:
        if c.label in VALUE_LABELS or c.alias_of is not None:
            continue
        bounds = _bracket_alias(tokens, c.end)
        alias = index.get(bounds) if bounds is not None else None
        if alias is not None and alias.label not in VALUE_LABELS:
            alias.alias_of = (c.start, c.end)
            alias.label = c.label
    return out
