"""Value types of the extraction layer: options in, articles or per-record rejections out."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from services.contracts import DeadLetterReason

__all__ = ["ExtractedArticle", "ExtractionOptions", "RejectedRecord"]


@dataclass(frozen=True)
class ExtractionOptions:
    """Knobs for one extraction call, passed as a single object so callers can keep one per source."""

    max_bytes: int = 10_000_000
    """Largest input accepted, checked on the raw bytes and again on the decompressed bytes."""
    min_body_words: int = 40
    """Below this many body words the page is not an article (nav page, teaser, error page)."""
    favor_precision: bool = True
    """Passed to trafilatura: prefer dropping doubtful blocks over keeping boilerplate."""
    max_records: int = 100_000
    """Most records read from one container (JSON array, JSON Lines, WARC); the rest are rejected."""
    recall_check_max_words: int = 80
    """An HTML body shorter than this in precision mode is checked against trafilatura's recall mode."""
    recall_fallback_ratio: float = 3.0
    """Recall mode replaces precision mode when it finds at least this many times the words."""
    standfirst_max_words: int = 50
    """A standfirst is a one- or two-sentence summary; anything longer is story text."""
    include_tables: bool = True
    """Keep table text from HTML pages (results tables, figures in economic stories)."""


@dataclass(frozen=True)
class ExtractedArticle:
    title: str
    text: str
    """The whole body, standfirst included, paragraphs joined by a blank line; never the title again."""
    standfirst: str | None
    author: str | None
    url: str | None
    published_at: dt.date | None
    """Precision first: None unless the date is stated as the publication date."""
    language: str | None
    """ISO 639-1."""
    format: str
    """"html", "text", "json", "jsonl" or "warc"."""
    record: int | None
    """Index within a container (JSON array element, JSON Lines line, WARC response record), else None."""
    encoding: str | None = None
    """The character encoding the text was read in (``decode.DecodedText.encoding``), when known."""


@dataclass(frozen=True)
class RejectedRecord:
    """One bad record inside a container file that otherwise parses."""

    record: int
    reason: DeadLetterReason
    detail: str
