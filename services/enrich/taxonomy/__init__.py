"""Topic taxonomy: IPTC Media Topics codes/labels/hierarchy with newsflow's own keyword lists.

This is a package (not a ``taxonomy.py`` module) so the default data file ships inside the wheel
through the project's ``*.json`` package-data rule. ``load_taxonomy(None)`` reads the packaged
``iptc_mediatopics.json``; ``load_taxonomy(path)`` reads a file with the same shape, so deployments can
extend or replace the vocabulary without a code change.

File shape::

    {"topics": {"medtop:20000639": {"label": "diplomacy", "parent": "medtop:20000638",
                                     "level": 3, "keywords": ["diplomatic", "foreign minister"]}}}
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

DEFAULT_FILE = "iptc_mediatopics.json"


class TaxonomyError(ValueError):
    """The taxonomy file is malformed (unknown parent, cycle, missing label)."""


@dataclass(frozen=True)
class TopicDef:
    code: str
    label: str
    parent: str | None
    level: int
    keywords: tuple[str, ...]


@dataclass(frozen=True)
class Taxonomy:
    topics: dict[str, TopicDef]
    # One compiled alternation over every keyword (longest first) and the topics each phrase signals;
    # one regex pass per document instead of one search per keyword.
    matcher: re.Pattern[str] | None
    phrase_topics: dict[str, tuple[str, ...]]

    def ancestors(self, code: str) -> list[str]:
        out: list[str] = []
        parent = self.topics[code].parent
        while parent is not None and parent in self.topics:
            out.append(parent)
            parent = self.topics[parent].parent
        return out


def keyword_alternation(phrases: Iterable[str]) -> str:
    """The flat alternation of ``phrases``, longest first: at a position the longest phrase that fits wins."""
    return "|".join(re.escape(p) for p in sorted(phrases, key=lambda p: (-len(p), p)))


def keyword_trie(phrases: Iterable[str]) -> str:
    """A pattern matching what ``keyword_alternation`` matches, as a trie: ``re`` tries every branch of a
    flat alternation at every position of a text (500 keywords: most of the keyword scorer's time), while
    a trie branches on the next character. Continuing is tried before ending (greedy ``?``), so the
    longest phrase that fits still wins, backtracking to a shorter one as the flat alternation would."""
    root: _TrieNode = {}
    for phrase in phrases:
        node = root
        for char in phrase:
            node = node.setdefault(char, {})
        node[_END] = {}
    return _trie_pattern(root)


_TrieNode = dict[str, "_TrieNode"]
_END = ""  # a phrase ends at this node (no character is the empty string)


def _trie_pattern(node: _TrieNode) -> str:
    branches = [re.escape(char) + _trie_pattern(child) for char, child in sorted(node.items()) if char != _END]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    return f"(?:{body})?" if _END in node else body


def build_taxonomy(raw: dict[str, Any]) -> Taxonomy:
    entries = raw.get("topics")
    if not isinstance(entries, dict) or not entries:
        raise TaxonomyError("taxonomy has no 'topics' object")
    topics: dict[str, TopicDef] = {}
    for code, entry in entries.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("label"), str):
            raise TaxonomyError(f"topic {code!r} has no label")
        keywords = tuple(sorted({str(k).strip().lower() for k in entry.get("keywords", []) if str(k).strip()}))
        parent = entry.get("parent")
        topics[code] = TopicDef(
            code=code,
            label=entry["label"],
            parent=str(parent) if parent else None,
            level=int(entry.get("level", 0)),
            keywords=keywords,
        )
    for t in topics.values():
        if t.parent is not None and t.parent not in topics:
            raise TaxonomyError(f"topic {t.code} names unknown parent {t.parent}")
        seen = {t.code}
        parent = t.parent
        while parent is not None:
            if parent in seen:
                raise TaxonomyError(f"cycle in taxonomy at {t.code}")
            seen.add(parent)
            parent = topics[parent].parent
    phrase_topics: dict[str, list[str]] = defaultdict(list)
    for t in topics.values():
        for kw in t.keywords:
            phrase_topics[kw].append(t.code)
    matcher = None
    if phrase_topics:
        matcher = re.compile(rf"(?<![\w-])(?:{keyword_trie(phrase_topics)})(?![\w-])", re.IGNORECASE)
    return Taxonomy(
        topics=topics,
        matcher=matcher,
        phrase_topics={p: tuple(sorted(codes)) for p, codes in phrase_topics.items()},
    )


def load_taxonomy(path: str | Path | None) -> Taxonomy:
    """The packaged taxonomy when ``path`` is None, else the JSON file at ``path``."""
    if path is None:
        data = resources.files(__name__).joinpath(DEFAULT_FILE).read_text(encoding="utf-8")
    else:
        data = Path(path).read_text(encoding="utf-8")
    return build_taxonomy(json.loads(data))
