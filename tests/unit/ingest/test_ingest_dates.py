"""Publication dates: precision first."""

from __future__ import annotations

import datetime as dt

import pytest

from services.ingest.dates import header_date, parse_date_value, parse_standalone_date

STORY = (
    "On March 30 and 31, the trade ministers of both countries met in Kessel to discuss tariffs on steel and "
    "dairy, and on March 31, 2022 they agreed to meet again in the autumn after officials exchange drafts."
)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("March 31, 2022", dt.date(2022, 3, 31)),
        ("Thursday, March 31, 2022", dt.date(2022, 3, 31)),
        ("31 March 2022", dt.date(2022, 3, 31)),
        ("Mar. 31, 2022 10:45 AM", dt.date(2022, 3, 31)),
        ("2022-03-31", dt.date(2022, 3, 31)),
        ("12 March 2024 | 08:15 GMT", dt.date(2024, 3, 12)),
    ],
)
def test_standalone_date_lines_parse(line: str, expected: dt.date) -> None:
    assert parse_standalone_date(line) == expected


@pytest.mark.parametrize(
    "line",
    [
        "On March 30 and 31, Lavrov came",
        "of February 4, 2022",
        "March 31",
        "February 30, 2022",
        "03/04/2022",
        "",
    ],
)
def test_non_date_lines_do_not_parse(line: str) -> None:
    assert parse_standalone_date(line) is None


def test_header_date_line_is_the_publication_date() -> None:
    lines = [
        "Title of the story",
        "A one-line summary of the story.",
        "March 31, 2022",
        "Title of the story",
        STORY,
    ]
    assert header_date(lines) == dt.date(2022, 3, 31)


def test_dates_inside_the_story_are_not_publication_dates() -> None:
    later = "The agreement of February 4, 2022 was cited. March 31, 2022 is when the text was due."
    assert header_date(["Title of the story", STORY, later, "March 31, 2022"]) is None


def test_date_line_after_the_story_starts_is_ignored() -> None:
    assert header_date(["Title", STORY, "June 1, 2023"]) is None


def test_published_label_counts_and_beats_updated() -> None:
    assert header_date(["Title", "Updated: 14 June 2023", "Published: 12 June 2023", STORY]) == dt.date(2023, 6, 12)
    assert header_date(["Title", "Last updated on June 14, 2023", STORY]) == dt.date(2023, 6, 14)


def test_parse_date_value_handles_structured_fields() -> None:
    assert parse_date_value("2024-02-05T09:00:00Z") == dt.date(2024, 2, 5)
    assert parse_date_value("November 9, 2023") == dt.date(2023, 11, 9)
    assert parse_date_value("yesterday") is None
    assert parse_date_value(20240205) is None


def test_byline_with_date_in_header_gives_the_date() -> None:
    assert header_date(["Title", "By Ana Lind | March 5, 2024", STORY]) == dt.date(2024, 3, 5)
    assert header_date(["Title", "March 5, 2024 · By Ana Lind", STORY]) == dt.date(2024, 3, 5)


def test_line_with_date_but_no_byline_is_not_a_header_date() -> None:
    assert header_date(["Title", "Kessel | March 5, 2024 | Weather", STORY]) is None


def test_updated_line_with_time_first_is_used_when_nothing_else() -> None:
    assert parse_standalone_date("10:32 GMT, 4 June 2024") == dt.date(2024, 6, 4)
    assert header_date(["Title", "UPDATED: 10:32 GMT, 4 June 2024", STORY]) == dt.date(2024, 6, 4)
