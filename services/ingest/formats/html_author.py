"""The author named in a page's markup (byline elements), found in one walk over the parsed tree.

Same result as trafilatura's ``metadata.extract_author`` (checked against it in the unit tests and on
the dev set), without its deep copy of the tree, its pruning pass and its per-node XPath regex
callbacks. Pure: the tree is only read.
"""

from __future__ import annotations

import re
from typing import Any

from trafilatura.json_metadata import normalize_authors

from services.ingest.formats.author_markup import (
    AUTHOR_MAX_CHARS,
    AUTHOR_MIN_CHARS,
    AUTHOR_TIERS,
    DISCARD_ZONE,
    AuthorTier,
)

__all__ = ["page_author"]


def _is_discarded(tag: str, attributes: dict[str, str]) -> bool:
    if tag in DISCARD_ZONE.always:
        return True
    if not attributes or tag not in DISCARD_ZONE.tags:
        return False
    return _attributes_match(attributes, DISCARD_ZONE.exact, DISCARD_ZONE.contains, DISCARD_ZONE.search)


def _attributes_match(
    attributes: dict[str, str],
    exact: dict[str, frozenset[str]],
    contains: dict[str, str],
    search: dict[str, re.Pattern[str]],
) -> bool:
    for name, values in exact.items():
        if attributes.get(name) in values:
            return True
    for name, part in contains.items():
        value = attributes.get(name)
        if value is not None and part in value:
            return True
    for name, pattern in search.items():
        value = attributes.get(name)
        if value is not None and pattern.search(value):
            return True
    return False


def _in_tier(tag: str, attributes: dict[str, str], tier: AuthorTier) -> bool:
    if tag in tier.any_tag:
        return True
    if not attributes or (tier.tags is not None and tag not in tier.tags):
        return False
    return _attributes_match(attributes, tier.exact, tier.contains, tier.search)


def _text_outside(element: Any, discarded: set[Any]) -> str:
    """``element``'s text without discarded zones inside it (their tails stay, as when they are cut out)."""
    parts: list[str] = []
    # Depth first in page order: a node's own text, then each child's subtree followed by its tail.
    stack: list[tuple[Any, bool]] = [(element, False)]
    while stack:
        node, tail = stack.pop()
        if tail:
            if node.tail:
                parts.append(node.tail)
            continue
        if isinstance(node.tag, str) and node.text:
            parts.append(node.text)
        for child in reversed(node):
            stack.append((child, True))
            if child not in discarded:
                stack.append((child, False))
    return " ".join(" ".join(parts).split())


def page_author(tree: Any) -> str | None:
    """The author from byline markup, or None. Candidates of a higher tier win; within a tier the first in
    page order whose text has a plausible length."""
    discarded: set[Any] = set()
    candidates: list[list[Any]] = [[] for _ in AUTHOR_TIERS]
    for element in tree.iter():
        tag = element.tag
        if not isinstance(tag, str):
            continue
        parent = element.getparent()
        if (parent is not None and parent in discarded) or tag in DISCARD_ZONE.always:
            discarded.add(element)
            continue
        if not len(element.attrib):
            # Most elements carry no attributes: only a tag can make them a candidate.
            for index, tier in enumerate(AUTHOR_TIERS):
                if tag in tier.any_tag:
                    candidates[index].append(element)
            continue
        attributes = dict(element.items())
        if _is_discarded(tag, attributes):
            discarded.add(element)
            continue
        for index, tier in enumerate(AUTHOR_TIERS):
            if _in_tier(tag, attributes, tier):
                candidates[index].append(element)
    for tier_candidates in candidates:
        for element in tier_candidates:
            text = _text_outside(element, discarded)
            if AUTHOR_MIN_CHARS < len(text) < AUTHOR_MAX_CHARS:
                return normalize_authors(None, text)
    return None
