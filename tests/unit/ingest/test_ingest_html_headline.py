"""Headline choice in HTML pages: the candidate the page's own signals agree on, never a widget heading."""

from __future__ import annotations

import lxml.html

from services.ingest.formats.html_headline import (
    choose_headline,
    lead_lines,
    read_headline_evidence,
    title_segments,
    trim_to_page_text,
)
from services.ingest.formats.main_content import language_stoplist

STOPLIST = language_stoplist("en")
BODY = (
    "The harbour crane fleet in Kessel grew again this year, with two new cranes arriving from the southern "
    "shipyard and a third expected before the winter storms close the strait.\n"
    "Port officials said the cranes would cut waiting times for container ships by a third."
)


def _headline(head: str, body_markup: str, body: str = BODY, meta_title: str | None = None) -> str | None:
    tree = lxml.html.document_fromstring(f"<html><head>{head}</head><body>{body_markup}</body></html>")
    return choose_headline(read_headline_evidence(tree), body, meta_title=meta_title, stoplist=STOPLIST)


def test_title_segments_drop_site_names_and_keep_colons_inside_headlines() -> None:
    assert title_segments("Cranes arrive in Kessel | Harbour Daily") == ["Cranes arrive in Kessel", "Harbour Daily"]
    assert title_segments("harbourdaily.com: Cranes arrive in Kessel") == ["Cranes arrive in Kessel"]
    assert title_segments("Kessel: who pays for the cranes?") == ["Kessel: who pays for the cranes?"]
    assert title_segments("Cranes arrive - Harbour Daily", ["Harbour Daily"]) == ["Cranes arrive"]
    underscored = title_segments("Cranes arrive in Kessel_Business_Harbour")
    assert underscored == ["Cranes arrive in Kessel", "Business", "Harbour"]


def test_h1_repeated_in_the_title_beats_the_site_name_heading() -> None:
    headline = _headline(
        "<title>Cranes arrive in Kessel harbour | Harbour Daily</title>",
        "<h2>Harbour Daily</h2><h1>Cranes arrive in Kessel harbour</h1>",
    )
    assert headline == "Cranes arrive in Kessel harbour"


def test_widget_heading_loses_to_the_title() -> None:
    headline = _headline(
        "<title>New cranes cut waiting times for container ships</title>",
        "<h1>Bookmark with:</h1><h3>More on this story</h3>",
    )
    assert headline == "New cranes cut waiting times for container ships"


def test_title_segment_the_story_uses_beats_the_section_segment() -> None:
    headline = _headline("<title>Local News - Kessel cranes cut ship waiting times - Harbour Daily</title>", "")
    assert headline == "Kessel cranes cut ship waiting times"


def test_heading_with_a_date_added_gives_the_title_wording() -> None:
    headline = _headline(
        "<title>Kessel cranes cut ship waiting times - Harbour Daily</title>",
        "<h1>Kessel cranes cut ship waiting times (14/01/2024)</h1>",
    )
    assert headline == "Kessel cranes cut ship waiting times"


def test_table_cell_above_the_story_is_the_headline_when_markup_says_nothing() -> None:
    body = "| Menu | Kessel cranes cut ship waiting times |\n" + BODY
    headline = _headline("<title>Harbour Daily - Business</title>", "", body=body)
    assert headline == "Kessel cranes cut ship waiting times"


def test_no_evidence_gives_none() -> None:
    assert _headline("<title>Harbour Daily</title>", "<h2>Weather</h2>") is None


def test_lead_lines_stop_at_the_story() -> None:
    lead = lead_lines("Home | Business\nKessel cranes cut ship waiting times\n" + BODY)
    assert lead.candidates == ["Kessel cranes cut ship waiting times"]
    assert lead.story[0].startswith("The harbour crane fleet")


def _trimmed(headline: str, body_markup: str) -> str:
    tree = lxml.html.document_fromstring(f"<html><body>{body_markup}</body></html>")
    return trim_to_page_text(headline, tree)


def test_headline_loses_the_site_name_that_the_page_does_not_print_with_it() -> None:
    printed = "<div><span class='t'>Cranes arrive in Kessel harbour</span><p>Story.</p></div>"
    assert _trimmed("Harbour Daily: Cranes arrive in Kessel harbour", printed) == "Cranes arrive in Kessel harbour"
    assert _trimmed("Cranes arrive in Kessel harbour-Business-Harbour Daily", printed) == (
        "Cranes arrive in Kessel harbour"
    )


def test_headline_keeps_its_own_words_when_the_page_prints_only_part_of_them() -> None:
    # No separator before the cut: "Kessel cranes" is a name the page prints elsewhere, not the headline.
    assert _trimmed("Kessel cranes break down again", "<p><b>Kessel cranes</b> news</p>") == (
        "Kessel cranes break down again"
    )


def test_element_marked_as_the_headline_competes_with_the_h1() -> None:
    # The <title> is the site's name only; the <h1> is the section, the marked element the story's headline.
    headline = _headline(
        "<title>Harbour Daily</title>",
        "<h1>Kessel harbour news</h1><span class='article_headline'>New cranes cut waiting times at Kessel</span>",
    )
    assert headline == "New cranes cut waiting times at Kessel"
