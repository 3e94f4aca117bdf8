"""HTML pages: decode with the declared or detected charset, let trafilatura find the main text and
metadata, then run the body through the same boilerplate cleaner as saved text.

trafilatura already drops most navigation, but widget labels inside the article container ("Share
this:", "3 Comments", related-article lists) regularly survive; the line cleaner catches those.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from typing import Any

import lxml.html
import trafilatura
from htmldate import find_date
from lxml import etree
from trafilatura import metadata as trafilatura_metadata

from services.contracts import DeadLetterReason
from services.ingest.clean import clean_paragraphs, normalise_line, word_count
from services.ingest.dates import date_from_html
from services.ingest.formats.decode import declared_html_charset, decode_text
from services.ingest.formats.html_author import page_author
from services.ingest.formats.html_headline import choose_headline, read_headline_evidence, trim_to_page_text
from services.ingest.formats.language import detect_language, normalise_language_tag
from services.ingest.formats.main_content import language_stoplist
from services.ingest.formats.model import ExtractedArticle, ExtractionOptions
from services.ingest.formats.text import split_standfirst, strip_title_repeats
from services.runtime.errors import InvalidInput

__all__ = ["decode_html", "extract_html", "looks_like_html"]

# htmldate settings: trust structured metadata (meta tags, JSON-LD, <time>, URL) and the original
# publication date over "last modified"; skip the free-text scan of the body, which is where dates of
# events mentioned in the story come from.
_DATE_PARAMS: dict[str, Any] = {"extensive_search": False, "original_date": True, "outputformat": "%Y-%m-%d"}

# Class, id or itemprop names that sites use for the summary paragraph under the headline.
_STANDFIRST_NAMES = re.compile(
    r"(?:^|[\s_-])(?:standfirst|dek|deck|sub-?headline|sub-?title|article-summary|summary|lede|"
    r"intro|strapline|description)(?:$|[\s_-])",
    re.IGNORECASE,
)
# Containers whose "summary"/"description" elements belong to the site or to other stories.
_FOREIGN_CONTAINERS = re.compile(
    r"site|related|sidebar|nav|menu|footer|promo|card|teaser|list|widget|newsletter|comment", re.IGNORECASE
)
_NAMED_AFTER_FIRST_H1 = "(//h1)[1]//*[@class or @id or @itemprop] | (//h1)[1]/following::*[@class or @id or @itemprop]"
_HTML_SNIFF = re.compile(
    r"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body|meta|title|article|p|div)\b", re.I | re.S
)
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)
_HTML_TAGS = re.compile(r"<(?:p|div|br|article|span|h[1-6]|a|li|ul|body|html)\b[^>]*>", re.IGNORECASE)


def looks_like_html(text: str) -> bool:
    """True when ``text`` is an HTML document or an HTML fragment with block tags."""
    head = text[:4096]
    return _HTML_SNIFF.match(head) is not None or len(_HTML_TAGS.findall(head)) >= 2


def decode_html(data: bytes) -> str:
    return decode_text(data, declared=declared_html_charset(data))


def _declared_language(tree: Any) -> str | None:
    root = tree.getroottree().getroot()
    candidates = [root.get("lang"), root.get("xml:lang")]
    candidates += root.xpath(
        "//meta[translate(@http-equiv,'CONTENT-LANGUAGE','content-language')='content-language']/@content"
    )
    candidates += root.xpath("//meta[@property='og:locale']/@content")
    for candidate in candidates:
        code = normalise_language_tag(str(candidate)) if candidate else None
        if code:
            return code
    return None


def _names(element: Any) -> str:
    return " ".join(filter(None, (element.get("class"), element.get("id"), element.get("itemprop"))))


def _in_foreign_container(element: Any) -> bool:
    for ancestor in element.iterancestors():
        if ancestor.tag in ("nav", "aside", "footer") or _FOREIGN_CONTAINERS.search(_names(ancestor)):
            return True
    return False


def _marked_standfirst(tree: Any, max_words: int) -> str | None:
    """Text of an element the page marks as the standfirst (class/id/itemprop), if any.

    Only elements after the page's <h1> and outside site furniture count: a site description in the
    masthead or the summaries of related stories are not this article's standfirst.
    """
    # Elements with names, inside and after the first <h1>, in page order: one XPath instead of a Python
    # walk over every element of the page.
    for element in tree.xpath(_NAMED_AFTER_FIRST_H1):
        if element.tag in ("h1", "meta", "link", "script", "style"):
            continue
        names = _names(element)
        if not names or _FOREIGN_CONTAINERS.search(names) or not _STANDFIRST_NAMES.search(names):
            continue
        if _in_foreign_container(element):
            continue
        text = " ".join(element.text_content().split())
        if 6 <= word_count(text) <= max_words:
            return text
    return None


def _parse(html: str) -> Any:
    try:
        # lxml refuses a str that still carries an XML encoding declaration (XHTML pages); the text is
        # already decoded, so the declaration says nothing any more.
        return lxml.html.document_fromstring(_XML_DECLARATION.sub("", html, count=1))
    except (ValueError, etree.ParserError) as exc:
        raise InvalidInput(DeadLetterReason.NOT_AN_ARTICLE, f"HTML does not parse: {exc}") from exc


def _main_text(tree: Any, url: str | None, options: ExtractionOptions, *, favor_precision: bool) -> Any:
    """trafilatura's main text (a trafilatura Document), or None. trafilatura works on its own copy."""
    document = trafilatura.bare_extraction(
        tree,
        url=url,
        with_metadata=False,
        favor_precision=favor_precision,
        include_comments=False,
        include_tables=options.include_tables,
        include_images=False,
        include_links=False,
    )
    return None if document is None or isinstance(document, dict) else document


@dataclass(frozen=True)
class _PageMetadata:
    title: str | None
    """From meta tags and JSON-LD (og:title and the like); the heading rules run only when they are missing."""
    author: str | None
    url: str | None
    date: str | None


def _page_metadata(tree: Any, url: str | None) -> _PageMetadata:
    """Title, author, URL and publication date, the way trafilatura's metadata step finds them (meta
    tags, JSON-LD, bylines, htmldate), without the parts newsflow does not use (site name, categories,
    tags, licence), which cost about a tenth of the extraction time. The byline markup is read by
    ``page_author``, trafilatura's author rules in one walk of the tree (its XPath version was a sixth of
    the extraction time)."""
    metadata = trafilatura_metadata.examine_meta(tree)
    if metadata.author and " " not in metadata.author:
        metadata.author = None  # a one-word "author" is a site or a handle, as trafilatura also judges
    with contextlib.suppress(Exception):  # trafilatura guards its JSON-LD parser the same way
        metadata = trafilatura_metadata.extract_meta_json(tree, metadata)
    page_url = metadata.url or trafilatura_metadata.extract_url(tree, url)
    return _PageMetadata(
        title=metadata.title,
        author=metadata.author or page_author(tree),
        url=page_url,
        date=find_date(tree, url=page_url, **_DATE_PARAMS),
    )


def _words(document: Any) -> int:
    return word_count(document.text) if document is not None and document.text else 0


def extract_html(
    html: str,
    options: ExtractionOptions,
    *,
    fmt: str = "html",
    record: int | None = None,
    url: str | None = None,
    title: str | None = None,
    author: str | None = None,
    language: str | None = None,
) -> ExtractedArticle:
    """Extract one article from an HTML document. Keyword values override what the page says.

    Raises InvalidInput(NOT_AN_ARTICLE) when the page has no story body.
    """
    tree = _parse(html)
    # Read what trafilatura's cleaning would remove from the tree before handing the tree over: one
    # parse per page instead of two.
    marked_standfirst = _marked_standfirst(tree, options.standfirst_max_words)
    headline_evidence = read_headline_evidence(tree)
    declared_language = _declared_language(tree)
    metadata = _page_metadata(tree, url)
    document = _main_text(tree, url, options, favor_precision=options.favor_precision)
    if options.favor_precision and _words(document) < options.recall_check_max_words:
        # Precision mode sometimes keeps only a notice or a caption of a real article; recall mode on a
        # fresh tree tells whether the page has far more story than that.
        fallback = _main_text(tree, url, options, favor_precision=False)
        if _words(fallback) >= options.recall_fallback_ratio * max(_words(document), 1):
            document = fallback
    if document is None or not document.text:
        raise InvalidInput(DeadLetterReason.NOT_AN_ARTICLE, "no main text found in the HTML page")

    chosen = (
        None
        if title
        else choose_headline(
            headline_evidence,
            document.text,
            meta_title=metadata.title,
            stoplist=language_stoplist(declared_language or normalise_language_tag(document.language) or "en"),
        )
    )
    headline = (
        title
        or (trim_to_page_text(chosen, tree) if chosen else None)
        or metadata.title
        or trafilatura_metadata.extract_title(tree)
        or ""
    )
    page_title = " ".join(headline.split())
    paragraphs = clean_paragraphs(document.text.split("\n"))
    paragraphs = strip_title_repeats(paragraphs, page_title)

    standfirst = marked_standfirst
    if standfirst is not None:
        key = normalise_line(standfirst)
        # The standfirst opens the body (once), also when trafilatura left it out of the main text.
        paragraphs = [standfirst] + [p for p in paragraphs if normalise_line(p) != key]
    else:
        # Without markup saying so, use the same positional rule as saved text (no header lines known).
        standfirst, _ = split_standfirst(paragraphs, None, options.standfirst_max_words)

    body_words = sum(word_count(p) for p in paragraphs)
    if body_words < options.min_body_words:
        raise InvalidInput(
            DeadLetterReason.NOT_AN_ARTICLE,
            f"body has {body_words} words after cleaning, fewer than {options.min_body_words}",
        )
    body_text = "\n\n".join(paragraphs)
    return ExtractedArticle(
        title=page_title,
        text=body_text,
        standfirst=standfirst,
        author=author or metadata.author,
        url=url or metadata.url,
        published_at=date_from_html(metadata.date),
        language=language
        or normalise_language_tag(document.language)
        or declared_language
        or detect_language(f"{page_title}\n{body_text}"),
        format=fmt,
        record=record,
    )
