"""Main-content detection in saved text: the article block among menus, teasers, lists and comments."""

from __future__ import annotations

from services.ingest.formats import ExtractedArticle, ExtractionOptions, extract_articles
from services.ingest.formats.main_content import find_main_content, split_cells

STORY = [
    "The harbour authority said on Monday that the new ferry terminal would open in the spring, two years "
    "later than planned, after the builders found old foundations under the quay.",
    "Engineers had to remove the stones by hand, which took most of the winter, and the cost of the work "
    "rose by a third, according to figures the council published last week.",
    "Passengers will be able to board the island ferries from a covered hall with a café and a waiting room "
    "for those who arrive early, the authority said in a statement.",
    "Local traders welcomed the news but said the delay had cost them a season of visitors, and they asked "
    "the council to waive the harbour fees for the coming year.",
]
MENU = ["Home", "News", "Sport", "Business", "Weather", "Travel", "Culture", "Contact"]
TEASERS = ["Island school gets a new roof", "Storm closes the coast road again", "Fishing quotas cut for 2025"]


def _page() -> list[str]:
    lines = [*MENU, "", "New ferry terminal to open in spring after two-year delay", "", "By Ana Lind", ""]
    for paragraph in STORY:
        lines += [paragraph, ""]
    lines += ["Related stories", *TEASERS, "", "12 Comments"]
    for name, hour, season in (("Tom", 9, "summer"), ("Eva", 10, "winter"), ("Sam", 11, "spring")):
        lines += [
            f"{name} | May 9, 2024 at {hour}:15 am | Reply",
            f"Every {season} I have waited for this terminal and I am glad that it will finally open, even if it "
            "is late and more expensive than the council told us it would be. My family has taken the "
            "ferry every year since the old hall closed, and standing in the rain with children and bags "
            "was never a good start to a holiday, so a covered hall is worth the wait for all of us here.",
        ]
    return lines


def test_article_block_is_found_between_menu_teasers_and_comments() -> None:
    main = find_main_content(_page(), "en")
    assert main.title == "New ferry terminal to open in spring after two-year delay"
    assert [line for line in main.lines if line in STORY] == STORY
    for junk in (*MENU, *TEASERS, "12 Comments", "Every "):
        assert not any(line.startswith(junk) for line in main.lines), junk


def test_headline_is_none_when_the_page_shows_none() -> None:
    main = find_main_content(["", *STORY], "en")
    assert main.title is None
    assert main.lines == STORY


def test_side_by_side_table_cells_become_lines() -> None:
    assert split_cells("Europe        Lawmakers voted on Saturday.\n\nMiddle East", 4) == [
        "Europe",
        "Lawmakers voted on Saturday.",
        "",
        "Middle East",
    ]


def test_comment_thread_without_a_marker_is_cut_at_its_repeated_dated_header() -> None:
    # No "12 Comments" line: the recurring "Name | date | Reply" header alone shows where the thread starts.
    page = [line for line in _page() if line not in ("12 Comments", "Related stories", *TEASERS)]
    main = find_main_content(page, "en")
    assert [line for line in main.lines if line in STORY] == STORY
    assert not any("| Reply" in line or line.startswith("Every ") for line in main.lines)


def test_saved_page_keeps_first_paragraph_without_headline_and_standfirst_in_text() -> None:
    data = "\n\n".join(STORY).encode()
    [article] = extract_articles("story.txt", data, ExtractionOptions())
    assert isinstance(article, ExtractedArticle)
    assert article.title == ""
    assert article.text.split("\n\n")[0] == STORY[0]


def test_saved_page_extracts_whole_story_with_author() -> None:
    [article] = extract_articles("ferry.txt", "\n".join(_page()).encode(), ExtractionOptions())
    assert isinstance(article, ExtractedArticle)
    assert article.title == "New ferry terminal to open in spring after two-year delay"
    assert article.author == "Ana Lind"
    assert article.text.split("\n\n") == STORY


def test_widget_line_next_to_the_story_is_not_the_headline() -> None:
    page = [*MENU, "", "Ferry terminal opening pushed back again", "", "Want to submit a story?", "", *STORY]
    assert find_main_content(page, "en").title == "Ferry terminal opening pushed back again"


def test_two_word_name_line_does_not_outscore_a_headline_sharing_fewer_of_its_words() -> None:
    # "Local traders" is two words the story uses; the headline shares only some of its words with it.
    page = [*MENU, "", "Terminal opening pushed back a year", "", "Local traders", "", *STORY]
    assert find_main_content(page, "en").title == "Terminal opening pushed back a year"


def test_headline_over_its_byline_and_date_beats_a_teaser_nearer_the_story() -> None:
    # A news page hangs its byline and date under the headline; a teaser of another story about the same
    # harbour sits closer to the story but has no header zone under it.
    page = [
        *MENU,
        "",
        "Ferry terminal opening delayed by old quay stones",
        "By Ana Lind",
        "May 9, 2024",
        "",
        "Cafés at the harbour",
        "Island ferries get a new hall",
        "",
        *STORY,
    ]
    assert find_main_content(page, "en").title == "Ferry terminal opening delayed by old quay stones"
