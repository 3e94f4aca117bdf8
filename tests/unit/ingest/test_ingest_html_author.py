"""The byline author from HTML markup: the same answer as trafilatura's extract_author, in one walk."""

from __future__ import annotations

import lxml.html
import pytest
from trafilatura import metadata as trafilatura_metadata

from services.ingest.formats.html_author import page_author

# Invented pages, one per rule shape: tiers in priority order, discarded zones (comments, figures, dates,
# sidebars) around or inside a byline, lengths at the limits, and no byline at all.
PAGES = {
    "rel author link": '<html><body><p>Story</p><a rel="author" href="/x">Ana Lind</a></body></html>',
    "class author-name": '<html><body><span class="post-author-name">Mei Chen</span></body></html>',
    "byline class, tier two": '<html><body><div class="byline">By Tom Berg</div></body></html>',
    "tier one beats an earlier tier two": (
        '<html><body><div class="byline">By Tom Berg</div><span class="author">Ana Lind</span></body></html>'
    ),
    "itemprop contains author": '<html><body><span itemprop="author creator">Raj Patel</span></body></html>',
    "any tag with a Byline component": '<html><body><em data-component="Byline">Lea Roth</em></body></html>',
    "writer class on any tag": '<html><body><em class="writer-box">Lea Roth</em></body></html>',
    "byline inside comments is skipped": (
        '<html><body><div id="comments"><span class="author">Commenter One</span></div>'
        '<p class="byline">By Sam Ortiz</p></body></html>'
    ),
    "time inside the byline is cut, its tail kept": (
        '<html><body><div class="byline">By Ana Lind <time>May 3</time> in Oslo</div></body></html>'
    ),
    "sidebar author box skipped": (
        '<html><body><div class="sidebar"><p class="author">Columnist</p></div>'
        '<span class="authorName">Kim Park</span></body></html>'
    ),
    "figure credit skipped": '<html><body><figure><span class="author">Photo Desk</span></figure></body></html>',
    "too short then plausible": (
        '<html><body><span class="author">AB</span><span class="author">Jo Bloggs</span></body></html>'
    ),
    "too long text is not a byline": '<html><body><div class="author">' + "word " * 40 + "</div></body></html>",
    "comment node inside byline": '<html><body><p class="byline">By <!-- x -->Ivo Maric</p></body></html>',
    "no byline": "<html><body><h1>Headline</h1><p>Only the story.</p></body></html>",
}


@pytest.mark.parametrize("markup", PAGES.values(), ids=PAGES.keys())
def test_page_author_agrees_with_trafilatura(markup: str) -> None:
    tree = lxml.html.document_fromstring(markup)
    assert page_author(tree) == trafilatura_metadata.extract_author(lxml.html.document_fromstring(markup))


def test_page_author_reads_the_tree_without_changing_it() -> None:
    markup = PAGES["byline inside comments is skipped"]
    tree = lxml.html.document_fromstring(markup)
    before = lxml.html.tostring(tree)
    assert page_author(tree) == "Sam Ortiz"
    assert lxml.html.tostring(tree) == before


def test_no_byline_gives_none() -> None:
    assert page_author(lxml.html.document_fromstring(PAGES["no byline"])) is None
