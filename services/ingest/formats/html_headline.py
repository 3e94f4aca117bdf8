"""The headline of an HTML page: the candidate that the page's own signals agree on.

A page offers several: its <h1> and other headings (site name, section, sidebar boxes, other stories),
the <title> ("Headline - Section - Site", "Site | Headline", or just the site's name) and meta titles
(og:title and the like). The headline is the heading the <title> or a meta title repeats; else the
<title> segment (site and section segments cut off) or the <h1> whose words the story uses; never a
widget heading ("Bookmark with:", "More on…"). Pure: the tree is only read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from services.ingest.formats.headline_rules import (
    CONTENT_TOKEN_MIN_CHARS,
    DATED,
    DOMAIN_LIKE,
    HEADING_MIN_OVERLAP,
    HEADING_XPATH,
    HEADLINE_MAX_WORDS,
    HEADLINE_MIN_PART_WORDS,
    HEADLINE_MIN_WORDS,
    IN_TITLE_MIN_OVERLAP,
    LEAD_MAX_LINES,
    LEAD_PARAGRAPH_MIN_WORDS,
    MARKED_HEADING,
    MAX_HEADINGS,
    NOT_A_HEADLINE,
    SEGMENT_MIN_OVERLAP,
    SEGMENT_MIN_WORDS,
    SEGMENT_SHARE_OF_HEADING,
    SITE_COLON,
    TITLE_SEPARATORS,
    TITLE_UNDERSCORES,
    TRIM_MIN_SHARE,
    TRIM_SEPARATOR,
)

__all__ = [
    "Heading",
    "HeadlineEvidence",
    "LeadLines",
    "choose_headline",
    "lead_lines",
    "read_headline_evidence",
    "title_segments",
    "trim_to_page_text",
]

_TOKEN = re.compile(r"\w+")
_SEPARATOR_CHARACTER = re.compile(r"[-|:–—»·]")
_SITE_NAME_XPATH = (
    "//meta[@property='og:site_name']/@content|//meta[@name='application-name']/@content"
    "|//meta[@name='og:site_name']/@content"
)


@dataclass(frozen=True)
class Heading:
    text: str
    is_h1: bool
    """An <h1>, or an element whose class, id or itemprop names it a headline or title."""
    in_title: bool
    """The <title> repeats it word for word."""


@dataclass(frozen=True)
class HeadlineEvidence:
    """What the markup says about the headline, read before trafilatura cleans the tree."""

    headings: list[Heading]
    """Heading texts of headline length, in page order."""
    title: str
    """The whole <title>, whitespace collapsed ('' when the page has none)."""
    site_names: list[str]
    """Names the page gives its site (og:site_name, application-name)."""


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.casefold())


def _contains(haystack: list[str], needle: list[str]) -> bool:
    width = len(needle)
    return any(haystack[i : i + width] == needle for i in range(len(haystack) - width + 1))


def read_headline_evidence(tree: Any) -> HeadlineEvidence:
    title = " ".join(" ".join(tree.xpath("//title//text()")).split())
    title_tokens = _tokens(title)
    headings: list[Heading] = []
    for element in tree.xpath(HEADING_XPATH)[:MAX_HEADINGS]:
        text = " ".join(element.text_content().split())
        tokens = _tokens(text)
        if HEADLINE_MIN_WORDS <= len(tokens) <= HEADLINE_MAX_WORDS:
            names = " ".join(filter(None, (element.get("class"), element.get("id"), element.get("itemprop"))))
            is_marked = element.tag == "h1" or MARKED_HEADING.search(names) is not None
            headings.append(Heading(text, is_marked, _contains(title_tokens, tokens)))
    site_names = [" ".join(str(name).split()) for name in tree.xpath(_SITE_NAME_XPATH)]
    return HeadlineEvidence(headings, title, [name for name in site_names if name])


def _is_site_name(segment: str, site_names: Iterable[str]) -> bool:
    tokens = _tokens(segment)
    return DOMAIN_LIKE.search(segment) is not None or any(tokens == _tokens(name) for name in site_names)


def title_segments(title: str, site_names: Iterable[str] = ()) -> list[str]:
    """The parts of a <title> or meta title that can be the headline, in order: separators split it, and
    parts that are the site's name (a domain, the page's og:site_name) are dropped, also before a colon
    ("example.com: Headline"; "Iran: who is threatening whom?" stays whole)."""
    names = list(site_names)
    parts = [part.strip() for part in TITLE_SEPARATORS.split(title) if part.strip()]
    if len(parts) == 1 and " " in title:
        parts = [part.strip() for part in TITLE_UNDERSCORES.split(title) if part.strip()]
    segments: list[str] = []
    for part in parts:
        colon = SITE_COLON.match(part)
        if colon is not None and _is_site_name(colon.group("site"), names):
            part = colon.group("rest").strip()
        if part and not _is_site_name(part, names) and part not in segments:
            segments.append(part)
    return segments


def _content_tokens(text: str, stoplist: frozenset[str]) -> set[str]:
    return {
        token
        for token in _tokens(text)
        if len(token) >= CONTENT_TOKEN_MIN_CHARS and not token.isdigit() and token not in stoplist
    }


def _overlap(text: str, body_tokens: set[str], stoplist: frozenset[str]) -> float:
    tokens = _content_tokens(text, stoplist)
    return len(tokens & body_tokens) / len(tokens) if tokens else 0.0


def choose_headline(
    evidence: HeadlineEvidence, body: str, *, meta_title: str | None, stoplist: frozenset[str]
) -> str | None:
    """The article's headline, or None to leave it to the caller's fallbacks, in this order:

    1. a heading that the <title> or the meta title repeats (an <h1> first, then a whole segment, then
       the longest);
    2. the <h1> (not a widget heading) or <title> / meta-title segment whose words the body uses most;
    3. a headline-like line above the story's first paragraph (table layouts print the headline in a
       cell) whose words the story uses;
    4. any other heading whose words the body uses most, when it is not a widget heading;
    5. the longest <title> segment of headline length.
    """
    body_tokens = _content_tokens(body, stoplist)

    def overlap(text: str) -> float:
        return _overlap(text, body_tokens, stoplist)

    segments = title_segments(evidence.title, evidence.site_names)
    if meta_title:
        segments += [s for s in title_segments(meta_title, evidence.site_names) if s not in segments]
    segment_keys = {tuple(_tokens(segment)) for segment in segments}
    # Headings the <title> or a meta title repeats: a whole segment of it, or inside it. The story should
    # use their words (section names are repeated too), unless the title is that heading and nothing
    # else: two signals agree. An <h1> first: the <title> also repeats sub-headlines and the site name.
    repeated = []
    for heading in evidence.headings:
        share = overlap(heading.text)
        is_segment = tuple(_tokens(heading.text)) in segment_keys
        # A headline of its own length that opens the <title> needs no echo in the story (word play).
        opens_title = (
            bool(segments) and heading.text == segments[0] and len(_tokens(heading.text)) >= HEADLINE_MIN_PART_WORDS
        )
        if (is_segment and (share >= IN_TITLE_MIN_OVERLAP or opens_title)) or (
            heading.in_title and share >= IN_TITLE_MIN_OVERLAP
        ):
            repeated.append((heading.is_h1, is_segment, len(_tokens(heading.text)), heading.text))
    if repeated:
        return max(repeated)[3]
    free = [h for h in evidence.headings if NOT_A_HEADLINE.search(h.text) is None]
    # The <h1> and the <title> segments compete on how much of them the story uses; at equal use the
    # fuller wording wins. A segment of one or two words is a section or site name ("Britain/Ireland").
    pool = [(overlap(h.text), len(_tokens(h.text)), h.text) for h in free if h.is_h1]
    pool += [
        (overlap(segment), len(_tokens(segment)), segment)
        for segment in segments
        if len(_tokens(segment)) >= SEGMENT_MIN_WORDS
    ]
    best = max(pool, default=None)
    if best is not None and best[0] >= SEGMENT_MIN_OVERLAP:
        return _without_additions(best[2], segments)
    # A line of the main text is judged on the story below it, not on the text it is part of.
    lead = lead_lines(body)
    story_tokens = _content_tokens("\n".join(lead.story), stoplist)
    leads = [(_overlap(line, story_tokens, stoplist), len(_tokens(line)), line) for line in lead.candidates]
    best_lead = max(leads, default=None)
    if best_lead is not None and best_lead[0] >= SEGMENT_MIN_OVERLAP:
        return best_lead[2]
    # Unmarked headings also label sections ("Business Report") and date lines: a heading of its own needs
    # some length and no date to be the headline.
    others = [
        (overlap(h.text), len(_tokens(h.text)), h.text)
        for h in free
        if not h.is_h1 and len(_tokens(h.text)) >= SEGMENT_MIN_WORDS and DATED.search(h.text) is None
    ]
    best_other = max(others, default=None)
    if best_other is not None and best_other[0] >= HEADING_MIN_OVERLAP:
        return best_other[2]
    long_segments = [s for s in segments if len(_tokens(s)) >= HEADLINE_MIN_PART_WORDS]
    return max(long_segments, key=lambda s: len(_tokens(s))) if long_segments and len(segments) > 1 else None


@dataclass(frozen=True)
class LeadLines:
    candidates: list[str]
    """Headline-like lines (or table cells) of the main text above its first paragraph."""
    story: list[str]
    """The main text from its first paragraph on."""


def lead_lines(body: str) -> LeadLines:
    """Split the main text into the headline-like lines above its first paragraph and the story. Table
    layouts put the headline, the byline and the story's start in cells of one row ("a | b | c")."""
    candidates: list[str] = []
    cells = [" ".join(cell.split()) for line in body.split("\n")[:LEAD_MAX_LINES] for cell in line.split("|")]
    cells = [cell for cell in cells if cell]
    story_start = len(cells)
    for index, cell in enumerate(cells):
        words = len(_tokens(cell))
        if words >= LEAD_PARAGRAPH_MIN_WORDS:
            story_start = index
            break
        if (
            HEADLINE_MIN_WORDS <= words <= HEADLINE_MAX_WORDS
            and not cell.endswith((".", ",", ";"))
            and NOT_A_HEADLINE.search(cell) is None
            and DATED.search(cell) is None
        ):
            candidates.append(cell)
    story = cells[story_start:] if story_start < len(cells) else []
    return LeadLines(candidates, [*story, *body.split("\n")[LEAD_MAX_LINES:]])


def _without_additions(heading: str, segments: list[str]) -> str:
    """The <title> segment that a heading extends by a date or a kicker ("Headline (14/01/2008)"): the
    words both carry are the headline."""
    tokens = _tokens(heading)
    for segment in segments:
        segment_tokens = _tokens(segment)
        if (
            HEADLINE_MIN_WORDS <= len(segment_tokens) < len(tokens)
            and len(segment_tokens) >= SEGMENT_SHARE_OF_HEADING * len(tokens)
            and _contains(tokens, segment_tokens)
        ):
            return segment
    return heading


def trim_to_page_text(headline: str, tree: Any) -> str:
    """The part of ``headline`` that the page itself prints as one element, when the headline came with
    additions the page does not show ("Sound Politics: Fight! Fight! Fight!" in the <title>, "Fight!
    Fight! Fight!" over the story; "Headline-Section-Site" joined without spaces). The part must open or
    close the headline and keep at least TRIM_MIN_SHARE of its words; the longest such part wins."""
    if not _SEPARATOR_CHARACTER.search(headline):
        return headline  # nothing is set apart, so nothing can be cut (most headlines; saves a walk of the page)
    tokens = _tokens(headline)
    width = len(tokens)
    best: list[str] = []
    # Leaf elements only: their text is all they print; an element with children could print more.
    for text in tree.xpath("//*[not(*)]/text()"):
        part = _tokens(str(text))
        if not (max(HEADLINE_MIN_WORDS, TRIM_MIN_SHARE * width) <= len(part) < width) or len(part) <= len(best):
            continue
        if tokens[: len(part)] == part or tokens[width - len(part) :] == part:
            best = part
    if not best:
        return headline
    # Cut the headline's own wording (its case and punctuation) at the part's words; what is cut off must
    # be set apart by a separator ("Site: Headline", "Headline-Section"), not be the headline's own words.
    spans = [match.span() for match in _TOKEN.finditer(headline)]
    if tokens[: len(best)] == best:
        kept, cut = headline[: spans[len(best) - 1][1]], headline[spans[len(best) - 1][1] :]
    else:
        kept, cut = headline[spans[width - len(best)][0] :], headline[: spans[width - len(best)][0]]
    return kept.strip() if TRIM_SEPARATOR.search(cut) else headline
