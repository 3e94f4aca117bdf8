"""One test per boilerplate kind the cleaner removes, plus the precision guarantees."""

from __future__ import annotations

import time

import pytest

from services.ingest.clean import clean_paragraphs, is_boilerplate_line, word_count

LEAD = (
    "The harbour authority in Kessel said on Monday that cargo volumes rose by a tenth last year, helped by "
    "new cranes at the container terminal and a longer season for grain shipments to the coastal states."
)
SECOND = (
    "Officials expect further growth once the dredging of the outer channel is finished next spring, which "
    "will let larger vessels call at the port without waiting for high tide."
)


def test_word_count_counts_words_not_punctuation() -> None:
    assert word_count("Don’t stop – it’s 2.5 km, e-mail me!") == 7
    assert word_count("  ") == 0


def test_comment_thread_tail_is_cut_from_marker_to_end() -> None:
    page = [
        LEAD,
        SECOND,
        "Subscribe",
        "Notify of",
        "guest",
        "3 Comments",
        "Oldest",
        "Newest Most Voted",
        "Inline Feedbacks",
        "View all comments",
        "Rolf K",
        "Great article, thanks.",
        "hash",
        "hashed",
    ]
    assert clean_paragraphs(page) == [LEAD, SECOND]


@pytest.mark.parametrize(
    "marker",
    [
        "View all comments",
        "Newest Most Voted",
        "12 Comments",
        "No comments:",
        "Post a Comment",
        "Notify of",
        "Leave a Reply",
    ],
)
def test_each_comment_marker_alone_starts_the_tail(marker: str) -> None:
    assert clean_paragraphs([LEAD, marker, "A reader's long opinion about the port and its cranes.", SECOND]) == [LEAD]


def test_more_on_the_topic_section_is_cut() -> None:
    assert clean_paragraphs([LEAD, SECOND, "MORE ON THE TOPIC:", "Port strike ends after ten days"]) == [
        LEAD,
        SECOND,
    ]


def test_related_articles_and_show_more_are_cut() -> None:
    page = [
        LEAD,
        SECOND,
        "Show More",
        "Related Articles",
        "Back to top button",
        "Breaking News",
        "%d bloggers like this:",
    ]
    assert clean_paragraphs(page) == [LEAD, SECOND]


def test_related_label_early_in_page_is_dropped_without_cutting_the_story() -> None:
    page = ["Related Articles", LEAD, SECOND, LEAD + " Again.", SECOND + " Again."]
    assert clean_paragraphs(page) == [LEAD, SECOND, LEAD + " Again.", SECOND + " Again."]


def test_comment_counter_before_the_story_is_dropped_but_story_kept() -> None:
    assert clean_paragraphs(["3 Comments", LEAD, SECOND]) == [LEAD, SECOND]


def test_tracking_snippets_are_dropped() -> None:
    page = ["!-- Google tag (gtag.js) -->", "<!-- Global site tag -->", "-->", LEAD]
    assert clean_paragraphs(page) == [LEAD]


def test_share_and_subscribe_widgets_are_dropped() -> None:
    page = ["Share this:", "Twitter", "Facebook", "Subscribe", LEAD, "Like this:", "Like Loading...", SECOND]
    assert clean_paragraphs(page) == [LEAD, SECOND]


def test_full_size_image_link_is_dropped() -> None:
    assert clean_paragraphs(["Click to see full-size image", LEAD]) == [LEAD]


@pytest.mark.parametrize(
    "credit",
    [
        "IMAGE SOURCE: Harbour Daily",
        "Photo: City of Lorn",
        "(Photo by Anna Berg)",
        "Image credit: Lorn Transport Office",
        "Picture courtesy of the port",
    ],
)
def test_image_credits_are_dropped(credit: str) -> None:
    assert clean_paragraphs([LEAD, credit, SECOND]) == [LEAD, SECOND]


def test_caption_above_a_credit_in_the_header_is_dropped() -> None:
    page = [
        "Port director Emil Sarto (R) signs the agreement with union leaders on Tuesday.",
        "IMAGE SOURCE: Harbour Daily",
        LEAD,
    ]
    assert clean_paragraphs(page) == [LEAD]


def test_story_paragraph_above_a_credit_is_kept() -> None:
    assert clean_paragraphs([LEAD, "Photo: Harbour Daily", SECOND]) == [LEAD, SECOND]


def test_blog_footer_lines_are_dropped() -> None:
    assert clean_paragraphs([LEAD, "Back to top button", "Breaking News", "%d bloggers like this:"]) == [LEAD]


def test_trailing_agency_credit_is_dropped() -> None:
    assert clean_paragraphs([LEAD, SECOND, "International Agencies", "No comments:", "Post a Comment"]) == [
        LEAD,
        SECOND,
    ]


def test_agency_word_inside_the_story_is_kept() -> None:
    text = "International agencies said the port had met every safety rule."
    assert clean_paragraphs([LEAD, text, SECOND]) == [LEAD, text, SECOND]


def test_whitespace_only_lines_including_nbsp_are_dropped() -> None:
    assert clean_paragraphs([LEAD, "\u00a0 ", "   ", "\t", SECOND]) == [LEAD, SECOND]


def test_story_sentences_mentioning_widget_words_are_kept() -> None:
    mentions = [
        "Readers who left comments on the council's website asked about parking near the new terminal.",
        "More than two thousand people subscribe to the port's newsletter, which lists every ship arrival.",
        "Share prices of the operator rose after the announcement.",
        "View all the comments the minister made in full on the ministry's website.",
    ]
    assert clean_paragraphs([LEAD, *mentions, SECOND]) == [LEAD, *mentions, SECOND]


def test_subheadings_and_order_are_kept() -> None:
    page = [LEAD, "A new stage by the water", SECOND, "‘No job losses’"]
    assert clean_paragraphs(page) == page


@pytest.mark.parametrize("line", ["Subscribe", "Back to top button", "IMAGE SOURCE: CGTN", "Notify of"])
def test_is_boilerplate_line_recognises_markers(line: str) -> None:
    assert is_boilerplate_line(line)


def test_is_boilerplate_line_rejects_long_story_text() -> None:
    assert not is_boilerplate_line("Subscribe " + LEAD)


def test_subheadings_that_look_like_widget_words_do_not_cut_the_story() -> None:
    page = [LEAD, "Response to the floods", SECOND, "Copyright reform stalls", LEAD + " More."]
    assert clean_paragraphs(page) == page


def test_wordpress_thread_header_with_count_starts_the_tail() -> None:
    page = [LEAD, SECOND, "2 thoughts on “Port traffic rises”", "Nice to see the harbour busy again."]
    assert clean_paragraphs(page) == [LEAD, SECOND]


def test_story_paragraph_starting_like_a_photo_credit_is_kept() -> None:
    story = "Pictures by local children, painted during the strike, now hang in the terminal's waiting hall."
    assert clean_paragraphs([LEAD, story, SECOND]) == [LEAD, story, SECOND]


def test_related_label_followed_by_more_story_only_drops_the_label() -> None:
    page = [LEAD, SECOND, "Read more:", LEAD + " Later that day the minister visited the cranes."]
    assert clean_paragraphs(page) == [LEAD, SECOND, page[3]]


@pytest.mark.parametrize(
    "line",
    [
        "Home › Regions › Islands",
        "News » Culture » Music",
        "Read more: Islanders demand second ferry berth",
        "Topics: Ferries, Islands, Transport",
        "Tags: zoo, animals",
        "Posted in Culture | Tagged music, orchestra | Leave a comment",
    ],
)
def test_breadcrumbs_link_boxes_and_tag_lines_are_dropped(line: str) -> None:
    assert clean_paragraphs([LEAD, line, SECOND]) == [LEAD, SECOND]


def test_sentences_starting_with_tag_words_are_kept() -> None:
    kept = [
        "Topics discussed included the new cranes and the dredging schedule.",
        "Read more about the port's history in the museum by the quay, which opened last year.",
    ]
    assert clean_paragraphs([LEAD, *kept, SECOND]) == [LEAD, *kept, SECOND]


def test_caption_ending_in_agency_credit_is_dropped() -> None:
    caption = "Rescue workers inspect the blocked road near Edda on Monday. (Reuters)"
    assert clean_paragraphs([LEAD, caption, SECOND]) == [LEAD, SECOND]


def test_wire_reporting_credits_at_the_end_are_dropped() -> None:
    page = [LEAD, SECOND, "Reporting by Jon Berg; Editing by Lise Moe", "Our Standards: The Trust Principles."]
    assert clean_paragraphs(page) == [LEAD, SECOND]


def test_reporting_credit_inside_the_story_is_kept() -> None:
    line = "Reporting by the local paper first revealed the cracks in the harbour wall."
    assert clean_paragraphs([LEAD, line, SECOND]) == [LEAD, line, SECOND]


def test_related_topics_and_most_read_tail_is_cut() -> None:
    assert clean_paragraphs([LEAD, SECOND, "Related Topics", "Most Read", "Port strike ends"]) == [LEAD, SECOND]


def test_last_story_sentence_starting_like_a_credit_is_kept() -> None:
    last = "Reporting by the local paper first revealed the cracks in the harbour wall."
    assert clean_paragraphs([LEAD, SECOND, last]) == [LEAD, SECOND, last]


def test_long_lines_full_of_separators_are_handled_in_linear_time() -> None:
    # Regression: a nested-repetition breadcrumb regex took seconds (exponential) on lines like these.
    start = time.perf_counter()
    for line in ["a > " * 60 + "!", "News » " * 60, "photo by " * 25, "by x | " * 35]:
        is_boilerplate_line(line)
        clean_paragraphs([LEAD, line])
    assert time.perf_counter() - start < 0.5
