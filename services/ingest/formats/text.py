"""Saved plain text: a web page copied as text, with its boilerplate left in.

Shape handled: optional tracking-snippet lines, the title (often repeated further down, sometimes with
a different dash), an optional standfirst, a header zone (date line, byline, repeated title, image
caption and credit), the story with short subheading lines, then comment threads and related-article
lists. Paragraphs are one per line, with or without blank lines between them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from services.contracts import DeadLetterReason
from services.ingest.clean import clean_paragraphs, is_story_like, normalise_line, word_count
from services.ingest.dates import byline_date, header_date, parse_standalone_date
from services.ingest.formats.language import detect_language
from services.ingest.formats.main_content import find_main_content, split_cells, tuning
from services.ingest.formats.model import ExtractedArticle, ExtractionOptions
from services.runtime.errors import InvalidInput

__all__ = ["extract_text", "split_standfirst", "strip_title_repeats", "unwrap_lines"]

_TITLE_MAX_WORDS = 40
_WRAP_MAX_WIDTH = 100  # saved pages with one paragraph per line always have longer lines than this
_WRAP_MIN_WIDTH = 50  # narrower "columns" are lists of short lines (menus, tags), not wrapped prose
_WRAP_SLACK = 15  # a wrapped line ends within this many characters of the wrap column
_BYLINE = re.compile(r"^(?:by|written by|author:|reporting by)\s+(?P<name>[^\W\d_][\w.'’\- ]{1,80})$", re.IGNORECASE)
_LABELLED_DATE = re.compile(r"^(?:published|posted|updated|last updated|first published|date)\b", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?…][\"'”’»)]*(?:\s+|$)")
_BYLINE_PARTS = re.compile(r"\s*[|·•]\s*|\s+[–—-]\s+")
# Separators between a title and a site name in a repeated title line: "Title | Site", "Title – Site".
_SITE_SUFFIX = re.compile(r"^\s*[|\-:•·]\s*.{1,40}$")


@dataclass(frozen=True)
class _Body:
    paragraphs: list[str]
    # Position (in ``paragraphs``) right after the last header line that was removed (date, byline,
    # repeated title): 1 means the first kept paragraph was directly followed by header lines, which
    # is how a standfirst sits. None if no header line was removed.
    header_end: int | None
    author: str | None


def _title_key(line: str) -> str:
    return normalise_line(line).strip(" .:;!?")


def _is_title_repeat(line: str, title_key: str) -> bool:
    key = _title_key(line)
    if not title_key:
        return False
    if key == title_key:
        return True
    # A repeated title carrying the site name after a separator is still the title. A very short title
    # could prefix a subheading ("Drought: what comes next"), so this needs a title of some length and a
    # suffix no longer than a site name.
    if word_count(title_key) < 4 or not key.startswith(title_key):
        return False
    suffix = key[len(title_key) :]
    return _SITE_SUFFIX.match(suffix) is not None and word_count(suffix) <= 6


def strip_title_repeats(paragraphs: list[str], title: str) -> list[str]:
    """Drop every paragraph that is the title again (case, whitespace, quote and dash variants)."""
    key = _title_key(title)
    return [p for p in paragraphs if not _is_title_repeat(p, key)]


def _count_sentences(text: str) -> int:
    return max(1, len(_SENTENCE_END.findall(text.strip())))


def split_standfirst(paragraphs: list[str], header_end: int | None, max_words: int) -> tuple[str | None, list[str]]:
    """Split off a standfirst: the one- or two-sentence summary between the title and the story.

    It is taken only when its position says so: it is directly followed by header lines (date,
    repeated title, caption), or it is clearly shorter than the paragraph that opens the story. A short
    unpunctuated line is a subheading or kicker, never a standfirst.
    """
    if len(paragraphs) < 2:
        return None, paragraphs
    first, following = paragraphs[0], paragraphs[1]
    words = word_count(first)
    if words < 8 or words > max_words or _count_sentences(first) > 2:
        return None, paragraphs
    if not first.rstrip().endswith((".", "!", "?", "”", '"', "’", "»", "…")):
        return None, paragraphs
    followed_by_header = header_end == 1
    shorter_than_lead = len(following) >= 1.25 * len(first) and words <= 0.8 * max_words
    if followed_by_header or shorter_than_lead:
        return first, paragraphs[1:]
    return None, paragraphs


def _byline_author(line: str) -> str | None:
    """The author's name if ``line`` is a byline ("By Ana Lind", "By Ana Lind | March 5, 2024")."""
    match = _BYLINE.match(line.strip())
    if match is not None:
        return match.group("name").strip()
    if byline_date(line) is None:
        return None
    for part in _BYLINE_PARTS.split(line):
        match = _BYLINE.match(part.strip())
        if match is not None:
            return match.group("name").strip()
    return None


def _is_date_line(line: str) -> bool:
    return parse_standalone_date(line) is not None or (_LABELLED_DATE.match(line) is not None and len(line) <= 80)


def _is_header_line(line: str) -> bool:
    return _byline_author(line) is not None or _is_date_line(line)


def _strip_header(paragraphs: list[str], title: str) -> _Body:
    """Remove header-zone lines (repeated title, date, byline) and remember where the header ended."""
    title_key = _title_key(title)
    kept: list[str] = []
    header_end: int | None = None
    author: str | None = None
    in_header = True
    for paragraph in paragraphs:
        if in_header and is_story_like(paragraph):
            in_header = False
        byline = _byline_author(paragraph) if in_header else None
        if byline is not None:
            author = author or byline
        is_date_line = _is_date_line(paragraph)
        if _is_title_repeat(paragraph, title_key) or byline is not None or (in_header and is_date_line):
            header_end = len(kept) if in_header else header_end
            continue
        kept.append(paragraph)
    return _Body(kept, header_end, author)


def unwrap_lines(lines: list[str]) -> list[str]:
    """Rejoin paragraphs of hard-wrapped text (every line cut at a fixed column, e.g. 72 characters).

    Saved pages normally have one paragraph per line, so this only acts when the file itself shows a
    wrap column: no line longer than 100 characters and many lines filled up to the same width. Then a
    line that reaches the wrap column continues on the next line; a shorter line ends its paragraph.
    Blank lines are kept as paragraph breaks.
    """
    lengths = [len(line) for line in lines if line]
    if len(lengths) < 8 or max(lengths) > _WRAP_MAX_WIDTH:
        return lines
    width = max(lengths)
    if width < _WRAP_MIN_WIDTH:
        return lines
    filled = sum(1 for length in lengths if length >= width - _WRAP_SLACK)
    if filled < 0.4 * len(lengths):
        return lines
    # With blank lines between paragraphs, the blank line ends a paragraph. Without them, a filled line
    # that closes a sentence before a capitalised line is taken as a paragraph end: splitting a
    # paragraph in two loses nothing, merging two stories' paragraphs would.
    blank_separated = sum(1 for line in lines if not line) >= 3
    joined: list[str] = []
    continues = False
    for index, line in enumerate(lines):
        if continues and line:
            previous = joined[-1]
            # "well-" + "known": a hyphen at the wrap point belongs to the word.
            glue = "" if previous.endswith("-") and line[:1].islower() else " "
            joined[-1] = previous + glue + line
        else:
            joined.append(line)
        following = lines[index + 1] if index + 1 < len(lines) else ""
        continues = bool(line) and len(line) >= width - _WRAP_SLACK
        if continues and not blank_separated and _SENTENCE_END.search(line[-3:]) and following[:1].isupper():
            continues = False
    return joined


def extract_text(
    text: str,
    options: ExtractionOptions,
    *,
    fmt: str = "text",
    record: int | None = None,
    title: str | None = None,
    url: str | None = None,
    author: str | None = None,
    language: str | None = None,
) -> ExtractedArticle:
    """Extract one article from saved page text. ``title`` etc. override what the text says.

    Raises InvalidInput(NOT_AN_ARTICLE) when no story body of ``options.min_body_words`` remains.
    """
    config = tuning()
    page_lines = unwrap_lines(split_cells(text, config.cell_gap_spaces))
    lines = [line for line in page_lines if line]
    published_at = header_date(lines)
    # The stop-word list that tells prose from menus is the page's language; a declared one wins.
    page_language = language or detect_language("\n".join(lines))
    main = find_main_content(page_lines, page_language)
    # Between the headline and the story's block sit the standfirst, bylines and dates: the standfirst
    # is article text, and the others carry the author and mark where a standfirst sits.
    header = [line.text for line in main.header if line.is_prose or _is_header_line(line.text)]
    cleaned = clean_paragraphs(header + main.lines)
    title = " ".join((title if title is not None else main.title or "").split())

    body = _strip_header(cleaned, title)
    standfirst, story = split_standfirst(body.paragraphs, body.header_end, options.standfirst_max_words)
    # The standfirst stays in the body too: a reader of ``text`` must not miss the lede.
    paragraphs = ([standfirst] if standfirst else []) + story
    body_words = sum(word_count(p) for p in paragraphs)
    if body_words < options.min_body_words:
        raise InvalidInput(
            DeadLetterReason.NOT_AN_ARTICLE,
            f"body has {body_words} words after cleaning, fewer than {options.min_body_words}",
        )
    body_text = "\n\n".join(paragraphs)
    return ExtractedArticle(
        title=title,
        text=body_text,
        standfirst=standfirst,
        author=author or body.author,
        url=url,
        published_at=published_at,
        language=language or detect_language(f"{title}\n{body_text}") or page_language,
        format=fmt,
        record=record,
    )
