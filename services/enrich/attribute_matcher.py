"""The attribute ruler's matching, indexed: the same matches as spaCy's ``Matcher``, found with dictionary
lookups per token instead of a pass of every pattern over every token.

``en_core_web_sm``'s ``attribute_ruler`` maps fine tags to POS and morphology with 179 patterns, nearly all
one token with exact values (``{"TAG": "NN"}``, ``{"TAG": "VBZ", "LOWER": "is"}``). spaCy runs them through
its general ``Matcher``, which took 13% of the pipeline's time on real articles (16 ms of a 700-token
article) for what a tag lookup answers. ``index_attribute_ruler`` keeps the ruler and how it applies
matches (``set_annotations``: sorted by pattern, later patterns win) and replaces only its ``match``:

* one-token patterns whose values are exact or ``IN``/``NOT_IN`` sets over TAG, LOWER, DEP or IS_SPACE
  are indexed by an exact value they require (TAG or LOWER) and checked against the token's attribute
  values;
* anything else (several tokens, REGEX, other attributes or operators) stays with a ``Matcher`` that holds
  only those patterns.

The result is the same list of matches, so the same annotations (a test compares every token's TAG, POS,
MORPH and LEMMA with the stock ruler's on real articles).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from spacy.attrs import DEP, IS_SPACE, LOWER, TAG
from spacy.matcher import Matcher
from spacy.pipeline import AttributeRuler
from spacy.tokens import Doc
from spacy.vocab import Vocab

__all__ = ["index_attribute_ruler"]

# Token attributes the index reads, in the order of the columns of ``Doc.to_array``.
_COLUMNS = {"TAG": 0, "LOWER": 1, "DEP": 2, "IS_SPACE": 3}
_ARRAY_ATTRS = [TAG, LOWER, DEP, IS_SPACE]

Match = tuple[int, int, int, int]  # (attr_id, match_id, start, end): what AttributeRuler.match returns


@dataclass(frozen=True)
class _Condition:
    column: int
    allowed: frozenset[int] | None  # the value must be one of these (exact value or IN)
    refused: frozenset[int]  # NOT_IN


@dataclass(frozen=True)
class _TokenPattern:
    attr_id: int
    match_id: int
    conditions: tuple[_Condition, ...]

    def matches(self, values: Sequence[int]) -> bool:
        for c in self.conditions:
            value = values[c.column]
            if (c.allowed is not None and value not in c.allowed) or value in c.refused:
                return False
        return True


def _value_id(vocab: Vocab, value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    return int(vocab.strings.add(str(value)))  # "" is 0: the id of an attribute that is not set


def _condition(vocab: Vocab, name: str, spec: Any) -> _Condition | None:
    """A compiled condition, or None when the index cannot express it (the Matcher keeps the pattern)."""
    column = _COLUMNS.get(name)
    if column is None:
        return None
    if isinstance(spec, str | bool):
        return _Condition(column, frozenset({_value_id(vocab, spec)}), frozenset())
    if isinstance(spec, Mapping) and set(spec) <= {"IN", "NOT_IN"}:
        allowed = frozenset(_value_id(vocab, v) for v in spec["IN"]) if "IN" in spec else None
        refused = frozenset(_value_id(vocab, v) for v in spec.get("NOT_IN", ()))
        return _Condition(column, allowed, refused)
    return None


def _compile(vocab: Vocab, attr_id: int, match_id: int, token: Mapping[str, Any]) -> _TokenPattern | None:
    conditions = [_condition(vocab, name, spec) for name, spec in token.items()]
    if any(c is None for c in conditions):
        return None
    return _TokenPattern(attr_id, match_id, tuple(c for c in conditions if c is not None))


class IndexedAttributeMatcher:
    """``AttributeRuler.match`` for the patterns of ``ruler``, indexed (see the module docstring)."""

    def __init__(self, ruler: AttributeRuler) -> None:
        vocab = ruler.vocab
        self._residual = Matcher(vocab, validate=False)
        self.residual_patterns = 0
        # Patterns by a value they require: the token's TAG or LOWER id -> patterns to check, in order.
        self._by_column: list[dict[int, list[_TokenPattern]]] = [{} for _ in _COLUMNS]
        self._unindexed: list[_TokenPattern] = []
        for attr_id, entry in enumerate(ruler.patterns):
            key = str(attr_id)  # how AttributeRuler.add names the Matcher key of its attr_id-th pattern
            match_id = int(vocab.strings.add(key))
            alternatives: list[list[dict[str, Any]]] = entry["patterns"]  # type: ignore[assignment]
            compiled = [
                _compile(vocab, attr_id, match_id, alternative[0]) if len(alternative) == 1 else None
                for alternative in alternatives
            ]
            if any(c is None for c in compiled):
                self._residual.add(key, alternatives)
                self.residual_patterns += 1
                continue
            for pattern in compiled:
                assert pattern is not None
                self._index(pattern)

    def _index(self, pattern: _TokenPattern) -> None:
        for column in (_COLUMNS["TAG"], _COLUMNS["LOWER"]):
            exact = [c for c in pattern.conditions if c.column == column and c.allowed is not None]
            if exact:
                index = self._by_column[column]
                allowed = exact[0].allowed
                assert allowed is not None
                for value in allowed:
                    index.setdefault(value, []).append(pattern)
                return
        self._unindexed.append(pattern)

    def __call__(self, doc: Doc) -> list[Match]:
        matches: list[Match] = []
        by_tag, by_lower = self._by_column[_COLUMNS["TAG"]], self._by_column[_COLUMNS["LOWER"]]
        unindexed = self._unindexed
        empty: list[_TokenPattern] = []
        for i, values in enumerate(doc.to_array(_ARRAY_ATTRS).tolist()):
            for candidates in (by_tag.get(values[0], empty), by_lower.get(values[1], empty), unindexed):
                for pattern in candidates:
                    if pattern.matches(values):
                        matches.append((pattern.attr_id, pattern.match_id, i, i + 1))
        if self.residual_patterns:
            matches += [
                (int(doc.vocab.strings[match_id]), match_id, start, end)
                for match_id, start, end in self._residual(doc, allow_missing=True, as_spans=False)
            ]
        # The order AttributeRuler.match sorts into: later patterns are applied last, so they win.
        # A pattern indexed under two TAG values of one token cannot match it twice (one TAG per token).
        matches.sort()
        return matches


def index_attribute_ruler(ruler: AttributeRuler) -> Callable[[Doc], list[Match]]:
    """Replace ``ruler``'s matching with the indexed one (same matches, so the same annotations)."""
    matcher = IndexedAttributeMatcher(ruler)
    ruler.match = matcher  # type: ignore[method-assign]
    return matcher
