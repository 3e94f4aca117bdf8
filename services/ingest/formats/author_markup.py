"""Vocabulary of author markup in HTML: which elements name a page's author and which page zones never
do. Data only; services/ingest/formats/html_author.py applies it.

The same rules as trafilatura's ``AUTHOR_XPATHS`` and ``AUTHOR_DISCARD_XPATHS`` (trafilatura 2.3,
``trafilatura/xpaths.py``), written as tag sets, exact attribute values and regular expressions so they
can be tested in one walk over the tree. trafilatura evaluates them as XPath with EXSLT ``re:test``,
which calls back into Python per node and was a sixth of newsflow's HTML extraction time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["AUTHOR_MAX_CHARS", "AUTHOR_MIN_CHARS", "AUTHOR_TIERS", "DISCARD_ZONE", "AuthorTier", "DiscardZone"]


@dataclass(frozen=True)
class AuthorTier:
    """One priority level: an element of ``tags`` (None: any tag) whose attributes match."""

    tags: frozenset[str] | None
    exact: dict[str, frozenset[str]] = field(default_factory=dict)
    """Attribute name -> values the whole attribute must equal."""
    contains: dict[str, str] = field(default_factory=dict)
    """Attribute name -> substring the attribute must contain."""
    search: dict[str, re.Pattern[str]] = field(default_factory=dict)
    """Attribute name -> pattern searched in the attribute."""
    any_tag: frozenset[str] = frozenset()
    """Tags that match on their own, whatever their attributes (``<author>``)."""


@dataclass(frozen=True)
class DiscardZone:
    """Page zones whose text never names the article's author (comments, figures, dates, sidebars)."""

    tags: frozenset[str]
    exact: dict[str, frozenset[str]]
    contains: dict[str, str]
    search: dict[str, re.Pattern[str]]
    always: frozenset[str]
    """Tags discarded whatever their attributes."""


AUTHOR_TIERS: tuple[AuthorTier, ...] = (
    # specific and almost specific
    AuthorTier(
        tags=frozenset({"a", "address", "div", "link", "p", "span", "strong"}),
        exact={
            "rel": frozenset({"author"}),
            "id": frozenset({"author"}),
            "class": frozenset({"author"}),
            "itemprop": frozenset({"author name"}),
            "data-testid": frozenset({"AuthorCard", "AuthorURL"}),
        },
        search={"class": re.compile(r"author-?name|AuthorName|authorName")},
        any_tag=frozenset({"author"}),
    ),
    # almost generic and generic
    AuthorTier(
        tags=frozenset({"a", "div", "h3", "h4", "p", "span"}),
        exact={"class": frozenset({"byline", "username", "byl", "BBL"})},
        contains={"itemprop": "author"},
        search={
            "id": re.compile(r"author|zuozhe|bianji|xiaobian"),
            "class": re.compile(r"author|channel-name|zuozhe|bianji|xiaobian|submitted-by|posted-by|journalist-name"),
        },
    ),
    # last resort: any element
    AuthorTier(
        tags=None,
        contains={"data-component": "Byline", "itemprop": "author"},
        search={"id": re.compile(r"[Aa]uthor"), "class": re.compile(r"[Aa]uthor|screenname|writer|[Bb]yline")},
    ),
)

DISCARD_ZONE = DiscardZone(
    tags=frozenset({"a", "div", "section", "span"}),
    exact={"id": frozenset({"comments"}), "class": frozenset({"comments", "title", "date"})},
    contains={"data-component": "Figure"},
    search={
        "id": re.compile(r"^comments|comment-?list|ProductReviews"),
        "class": re.compile(
            r"^[Cc]omments|commentlist|comments-list|sidebar|is-hidden|quote|embedly-instagram|"
            r"article-(?:share|support)|print|category|meta-date|meta-reviewer"
        ),
    },
    always=frozenset({"time", "figure"}),
)

# A candidate's text must be longer than this and shorter than the maximum (trafilatura's limits).
AUTHOR_MIN_CHARS = 2
AUTHOR_MAX_CHARS = 120
