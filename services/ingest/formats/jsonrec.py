"""JSON article records: one object, an array of objects, or JSON Lines (one object per line).

Field mapping (first present, non-empty key wins; keys compared case-insensitively):

============  ==============================================================
article field  record keys
============  ==============================================================
title          title, headline, name
text           text, body, content, article, articleBody, maintext, html
               (a string, or a list of paragraph strings)
url            url, link, canonical_url, source_url, uri
published_at   date, published, published_at, datePublished, date_publish,
               pubDate, publication_date
author         author, byline, authors, creator (string, list of strings, or
               objects with a "name")
language       language, lang, inLanguage, locale
standfirst     standfirst, description, summary, subtitle, dek
============  ==============================================================

A text field that is HTML is extracted like an HTML page; plain text goes through the saved-text
extractor with the record's title, so boilerplate and repeated titles are removed either way.
"""

from __future__ import annotations

import json
from typing import Any

from services.contracts import DeadLetterReason
from services.ingest.clean import normalise_line, sanitise_text
from services.ingest.dates import parse_date_value
from services.ingest.formats.html import extract_html, looks_like_html
from services.ingest.formats.language import normalise_language_tag
from services.ingest.formats.model import ExtractedArticle, ExtractionOptions, RejectedRecord
from services.ingest.formats.text import extract_text
from services.runtime.errors import InvalidInput

__all__ = ["FIELD_KEYS", "extract_json", "extract_jsonl", "record_to_article"]

FIELD_KEYS: dict[str, tuple[str, ...]] = {
    "title": ("title", "headline", "name"),
    "text": ("text", "body", "content", "article", "articlebody", "maintext", "html"),
    "url": ("url", "link", "canonical_url", "source_url", "uri"),
    "published_at": (
        "date",
        "published",
        "published_at",
        "datepublished",
        "date_publish",
        "pubdate",
        "publication_date",
    ),
    "author": ("author", "byline", "authors", "creator"),
    "language": ("language", "lang", "inlanguage", "locale"),
    "standfirst": ("standfirst", "description", "summary", "subtitle", "dek"),
}


def _field(record: dict[str, Any], name: str) -> Any:
    lowered = {str(key).casefold(): value for key, value in record.items()}
    for key in FIELD_KEYS[name]:
        value = lowered.get(key)
        if value not in (None, "", [], {}):
            return value
    return None


def _as_text(value: Any) -> str | None:
    if isinstance(value, str):
        text = " ".join(value.split())
        return text or None
    return None


def _author(value: Any) -> str | None:
    if isinstance(value, str):
        return _as_text(value)
    if isinstance(value, dict):
        return _as_text(value.get("name"))
    if isinstance(value, list):
        names = [name for item in value if (name := _author(item))]
        return ", ".join(names) or None
    return None


def record_to_article(record: Any, options: ExtractionOptions, *, fmt: str, index: int | None) -> ExtractedArticle:
    """One JSON value to an article. Raises InvalidInput(NOT_AN_ARTICLE) for a record without a story."""
    if not isinstance(record, dict):
        raise InvalidInput(DeadLetterReason.NOT_AN_ARTICLE, f"record is a JSON {type(record).__name__}, not an object")
    body = _field(record, "text")
    if isinstance(body, list) and all(isinstance(part, str) for part in body):
        body = "\n\n".join(body)  # datasets that store the body as a list of paragraphs
    if not isinstance(body, str) or not body.strip():
        raise InvalidInput(DeadLetterReason.NOT_AN_ARTICLE, "record has no text/body/content field")
    title = _as_text(_field(record, "title"))
    url = _as_text(_field(record, "url"))
    author = _author(_field(record, "author"))
    language = normalise_language_tag(_as_text(_field(record, "language")))
    if looks_like_html(body):
        article = extract_html(
            body, options, fmt=fmt, record=index, url=url, title=title, author=author, language=language
        )
    else:
        # A record's own title is authoritative; extract_text then only strips repeats of it.
        article = extract_text(
            body, options, fmt=fmt, record=index, title=title, url=url, author=author, language=language
        )
    declared_standfirst = _as_text(_field(record, "standfirst"))
    standfirst = article.standfirst
    text = article.text
    if declared_standfirst:
        key = normalise_line(declared_standfirst)
        paragraphs = text.split("\n\n")
        if paragraphs and normalise_line(paragraphs[0]) == key and len(paragraphs) > 1:
            text = "\n\n".join(paragraphs[1:])
        standfirst = declared_standfirst
    # The record's structured date is the publisher's statement; fall back to what the body says.
    published_at = parse_date_value(_field(record, "published_at")) or article.published_at
    return ExtractedArticle(
        title=article.title,
        text=text,
        standfirst=standfirst,
        author=article.author,
        url=article.url,
        published_at=published_at,
        language=article.language,
        format=fmt,
        record=index,
    )


def _sanitised(value: Any) -> Any:
    """A parsed JSON value with every string (keys too) sanitised: JSON escapes can spell lone
    surrogates and NULs that no decoded byte could."""
    if isinstance(value, str):
        return sanitise_text(value)
    if isinstance(value, list):
        return [_sanitised(item) for item in value]
    if isinstance(value, dict):
        return {sanitise_text(str(key)): _sanitised(item) for key, item in value.items()}
    return value


def _loads(text: str) -> Any:
    return _sanitised(json.loads(text))


def _records(
    values: list[Any], options: ExtractionOptions, fmt: str, indices: list[int]
) -> list[ExtractedArticle | RejectedRecord]:
    results: list[ExtractedArticle | RejectedRecord] = []
    for value, index in zip(values, indices, strict=True):
        try:
            results.append(record_to_article(value, options, fmt=fmt, index=index))
        except InvalidInput as exc:
            results.append(RejectedRecord(record=index, reason=exc.reason, detail=exc.detail))
    return results


def extract_json(text: str, options: ExtractionOptions) -> list[ExtractedArticle | RejectedRecord]:
    """A JSON document: one object (errors raise) or an array of objects (errors become rejections)."""
    try:
        value = _loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(DeadLetterReason.MALFORMED_JSON, f"invalid JSON: {exc}") from exc
    if isinstance(value, dict):
        return [record_to_article(value, options, fmt="json", index=None)]
    if isinstance(value, list):
        if not value:
            raise InvalidInput(DeadLetterReason.EMPTY, "JSON array has no records")
        kept = value[: options.max_records]
        results = _records(kept, options, "json", list(range(len(kept))))
        results += [
            RejectedRecord(i, DeadLetterReason.OVERSIZED, f"more than {options.max_records} records in one file")
            for i in range(len(kept), len(value))
        ]
        return results
    raise InvalidInput(DeadLetterReason.MALFORMED_JSON, f"top-level JSON {type(value).__name__} is not a record")


def extract_jsonl(text: str, options: ExtractionOptions) -> list[ExtractedArticle | RejectedRecord]:
    """JSON Lines: each non-blank line one record; the record index is the 0-based line number."""
    results: list[ExtractedArticle | RejectedRecord] = []
    parsed = 0
    for line_number, line in enumerate(text.splitlines()):
        if not line.strip():
            continue
        if parsed >= options.max_records:
            results.append(
                RejectedRecord(
                    line_number,
                    DeadLetterReason.OVERSIZED,
                    f"more than {options.max_records} records in one file",
                )
            )
            continue
        try:
            value = _loads(line)
        except json.JSONDecodeError as exc:
            results.append(RejectedRecord(line_number, DeadLetterReason.MALFORMED_JSON, f"invalid JSON: {exc}"))
            continue
        parsed += 1
        results.extend(_records([value], options, "jsonl", [line_number]))
    if not results:
        raise InvalidInput(DeadLetterReason.EMPTY, "JSON Lines file has no records")
    if parsed == 0:
        raise InvalidInput(DeadLetterReason.MALFORMED_JSON, "no line of the JSON Lines file is valid JSON")
    return results
