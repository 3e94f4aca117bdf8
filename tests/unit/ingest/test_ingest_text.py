"""Saved plain text pages: title, repeated titles, standfirst, header zone, boilerplate."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import pytest

from services.contracts import DeadLetterReason
from services.ingest.formats import ExtractedArticle, ExtractionOptions, extract_articles
from services.ingest.formats.text import unwrap_lines
from services.runtime.errors import InvalidInput

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "ingest"
OPTIONS = ExtractionOptions()


def _one(name: str) -> ExtractedArticle:
    [article] = extract_articles(name, (FIXTURES / name).read_bytes(), OPTIONS)
    assert isinstance(article, ExtractedArticle)
    return article


def _paragraphs(article: ExtractedArticle) -> list[str]:
    return article.text.split("\n\n")


def test_repeated_title_with_other_dash_is_dropped() -> None:
    article = _one("trade_talks_comments.txt")
    assert article.title == (
        "Slow Progress, But No Breakthrough – What Did the Valmoran and Ostrian Trade Ministers Agree?"
    )
    assert "Slow Progress" not in article.text
    assert _paragraphs(article)[0].startswith("On May 2 and 3, Valmoran Trade Minister")


def test_comment_thread_and_whitespace_line_are_removed() -> None:
    article = _one("trade_talks_comments.txt")
    paragraphs = _paragraphs(article)
    assert paragraphs[-1].startswith("To sum up the two days of talks")
    for junk in ("MORE ON THE TOPIC", "Notify of", "hashed", "Rolf K", "Dairy will sink", "Click to see"):
        assert junk not in article.text
    assert all(p.strip() for p in paragraphs)
    assert len(paragraphs) == 8
    assert article.published_at is None  # "On May 2 and 3" and "of February 4, 2021" are story dates
    assert article.format == "text" and article.record is None


def test_guillemets_and_curly_quotes_are_preserved() -> None:
    article = _one("trade_talks_comments.txt")
    assert "«We are closer than we have ever been" in article.text
    assert "“We have agreed on the principles" in article.text


def test_gtag_header_date_caption_and_standfirst() -> None:
    article = _one("port_strike_gtag.txt")
    assert article.title == "Dockers End Strike at Kessel Port After “Fair and Lasting” Pay Deal"
    assert article.standfirst == (
        "Union leaders said the agreement “ends the longest stoppage the port has seen in a generation.”"
    )
    assert article.published_at == dt.date(2023, 6, 14)
    paragraphs = _paragraphs(article)
    assert paragraphs[0] == article.standfirst  # the body is whole, standfirst first
    assert paragraphs[1].startswith("On Tuesday, dock workers at the port of Kessel")
    assert paragraphs[-1].startswith("The regional government, which mediated")
    for junk in ("gtag", "IMAGE SOURCE", "shakes hands", "June 14, 2023", "Fair and Lasting"):
        assert junk not in article.text
    assert article.language == "en"


def test_two_sentence_teaser_is_standfirst_and_subheadings_stay() -> None:
    article = _one("science_prize_related.txt")
    assert article.title == "Coral researchers win Lindqvist Prize"
    assert article.standfirst is not None and article.standfirst.startswith("The Lindqvist Prize for marine science")
    paragraphs = _paragraphs(article)
    assert paragraphs[0] == article.standfirst  # the body is whole, standfirst first
    assert paragraphs[1].startswith("Two marine biologists from the University of Tarn")
    assert "“A decade of patience”" in paragraphs
    assert "Prize money for new research" in paragraphs
    assert paragraphs[-1].startswith("The prize comes with one million crowns")
    for junk in ("Show More", "Related Articles", "Back to top", "Breaking News", "bloggers"):
        assert junk not in article.text


def test_story_sentences_mentioning_comments_and_subscribe_survive() -> None:
    article = _one("science_prize_related.txt")
    assert "students who subscribe to the lab’s open data programme" in article.text
    assert "answering questions left in the comments" in article.text


def test_no_blank_lines_one_sentence_standfirst_and_story_date() -> None:
    article = _one("rail_merger_noblank.txt")
    assert article.title == "Northern rail operators agree to merge in deal worth 2 billion crowns"
    assert article.standfirst == (
        "Nordbahn and Tarnline say the merger will create a ‘single network’ for passengers in the north."
    )
    paragraphs = _paragraphs(article)
    assert paragraphs[0] == article.standfirst  # the body is whole, standfirst first
    assert paragraphs[1].startswith("Two of the largest rail operators")
    assert "‘No job losses’" in paragraphs
    assert paragraphs[-1].startswith("The two companies expect a decision")
    assert article.published_at is None  # "In a ruling of February 4, 2022" is inside the story


def test_lead_is_not_mistaken_for_standfirst_and_agency_tail_goes() -> None:
    article = _one("grain_deal_agencies.txt")
    assert article.standfirst is None
    paragraphs = _paragraphs(article)
    assert paragraphs[0].startswith("During a summit in the port city of Kessel")
    assert "Key Points of the Agreement" in paragraphs
    assert paragraphs[-1].startswith("Economists said the deal could also steady bread prices")
    for junk in ("International Agencies", "No comments", "Post a Comment"):
        assert junk not in article.text


def test_byline_published_line_and_photo_credits() -> None:
    article = _one("bridge_bylines_share.txt")
    assert article.author == "Clara Mendes"
    assert article.published_at == dt.date(2024, 3, 12)
    paragraphs = _paragraphs(article)
    assert paragraphs[0].startswith("The new bridge over the river Lorn")
    assert paragraphs[-1].startswith("Residents who had campaigned")
    for junk in (
        "By Clara",
        "Published:",
        "Photo",
        "Image credit",
        "Share this",
        "Twitter",
        "Like Loading",
        "Leave a Reply",
        "email address",
    ):
        assert junk not in article.text


def test_title_is_never_the_first_paragraph() -> None:
    for name in (
        "trade_talks_comments.txt",
        "port_strike_gtag.txt",
        "science_prize_related.txt",
        "rail_merger_noblank.txt",
        "grain_deal_agencies.txt",
        "bridge_bylines_share.txt",
    ):
        article = _one(name)
        assert article.title
        assert _paragraphs(article)[0].casefold() != article.title.casefold()


def test_nav_only_text_is_not_an_article() -> None:
    with pytest.raises(InvalidInput) as caught:
        extract_articles("nav_only.txt", (FIXTURES / "nav_only.txt").read_bytes(), OPTIONS)
    assert caught.value.reason is DeadLetterReason.NOT_AN_ARTICLE


def test_min_body_words_option_is_respected() -> None:
    data = (FIXTURES / "bridge_bylines_share.txt").read_bytes()
    with pytest.raises(InvalidInput) as caught:
        extract_articles("bridge.txt", data, ExtractionOptions(min_body_words=5000))
    assert caught.value.reason is DeadLetterReason.NOT_AN_ARTICLE


def test_breadcrumbs_skip_link_and_byline_with_date(tmp_path: Path) -> None:
    story = (
        "The island ferry operator has been fined for cancelling more than a hundred winter sailings "
        "without the notice its contract requires, the transport regulator said on Tuesday in a statement."
    )
    page = "\n".join(
        [
            "Skip to content",
            "Home › Regions › Islands",
            "Ferry operator fined over cancelled sailings",
            "By Ana Lind | March 5, 2024",
            story,
            "Read more: Islanders demand second ferry berth",
            story.replace("Tuesday", "Wednesday"),
            "Topics: Ferries, Islands",
        ]
    )
    [article] = extract_articles("ferry.txt", page.encode(), OPTIONS)
    assert isinstance(article, ExtractedArticle)
    assert article.title == "Ferry operator fined over cancelled sailings"
    assert article.author == "Ana Lind"
    assert article.published_at == dt.date(2024, 3, 5)
    assert _paragraphs(article) == [story, story.replace("Tuesday", "Wednesday")]


def test_title_repeat_with_site_name_is_dropped_but_prefixed_subheading_kept() -> None:
    story = (
        "Authorities introduced water rationing on Friday after the driest summer in half a century left the "
        "reservoirs of the southern provinces at less than a quarter of their capacity, officials said."
    )
    page = "\n".join(
        [
            "Drought forces rationing in the south",
            "Drought forces rationing in the south | Kessel Morning Post",
            story,
            "Drought forces rationing in the south: what the new rules mean for farmers and households",
            story.replace("Friday", "Saturday"),
        ]
    )
    [article] = extract_articles("drought.txt", page.encode(), OPTIONS)
    assert isinstance(article, ExtractedArticle)
    assert _paragraphs(article) == [story, page.splitlines()[3], story.replace("Friday", "Saturday")]


WRAPPED_STORY = [
    "Two of the largest rail operators in the northern provinces have agreed to merge, creating a single "
    "company that will run almost half of all regional passenger trains, their boards said on Monday.",
    "Nordbahn chief executive Sofia Lind said the combined company would invest in new trains and simpler "
    "tickets, and promised that no station would close as a result of the deal between the two operators.",
    "Unions welcomed a promise that there would be no compulsory job losses for three years, although they "
    "said they would watch closely how the maintenance depots of the two companies are combined.",
]


@pytest.mark.parametrize("separator", ["\n\n", "\n"])
def test_hard_wrapped_text_is_rejoined_into_paragraphs(separator: str) -> None:
    blocks = ["Rail operators agree to merge", *("\n".join(textwrap.wrap(p, 72)) for p in WRAPPED_STORY)]
    page = "\n\n".join(blocks[:1]) + "\n\n" + separator.join(blocks[1:])
    [article] = extract_articles("rail.txt", page.encode(), OPTIONS)
    assert isinstance(article, ExtractedArticle)
    assert article.title == "Rail operators agree to merge"
    assert article.standfirst is None
    assert _paragraphs(article) == WRAPPED_STORY


def test_one_paragraph_per_line_files_are_not_rejoined() -> None:
    article = _one("rail_merger_noblank.txt")
    assert "‘No job losses’" in _paragraphs(article)
    assert len(_paragraphs(article)) == 11  # standfirst and ten story paragraphs


def test_unwrap_leaves_short_line_lists_alone() -> None:
    menu = ["Home", "World", "Business", "Sport", "Weather", "Contact us", "About us", "Privacy policy"]
    assert unwrap_lines(menu) == menu
