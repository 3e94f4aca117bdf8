"""Precision-first publication dates.

A wrong date is worse than none: downstream stories are grouped and ranked by it. So for saved text
only a date that stands alone on its own line in the page header, or an explicit "Published: ..."
line, counts; dates mentioned inside story sentences ("On March 30 and 31 ...") never do. For HTML the
date comes from page metadata (meta tags, structured data) and not from guessing over the body text.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import Any

from services.ingest.clean import is_story_like

__all__ = ["byline_date", "date_from_html", "header_date", "parse_date_value", "parse_standalone_date"]

_MONTHS = {
    "january": 1,
    "february": 2,
    "march": 3,
    "april": 4,
    "may": 5,
    "june": 6,
    "july": 7,
    "august": 8,
    "september": 9,
    "october": 10,
    "november": 11,
    "december": 12,
}
_MONTH_ABBREVIATIONS = {name[:3]: number for name, number in _MONTHS.items()} | {"sept": 9}

_MONTH = r"(?P<month>[a-z]{3,9})\.?"
_DAY = r"(?P<day>\d{1,2})(?:st|nd|rd|th)?"
_YEAR = r"(?P<year>(?:19|20)\d\d)"
_WEEKDAY = r"(?:(?:mon|tues|wednes|thurs|fri|satur|sun)day|mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)\.?,?\s+"
# Optional time after the date: "10:45", "10:45 AM", "10:45 GMT", "| 10:45 am IST", "- 08:00".
_TIME = (
    r"(?:\s*(?:[,|\-–—@]|at)?\s*\d{1,2}[:.]\d\d(?::\d\d)?\s*(?:[ap]\.?m\.?)?"
    r"\s*(?:[a-z]{2,5}|[+-]\d\d:?\d\d)?)?"
)

_LEADING_TIME = re.compile(r"^\d{1,2}[:.]\d\d(?:\s*[ap]\.?m\.?)?(?:\s+[a-z]{2,5})?\s*[,|·–—-]\s*")

_DATE_FORMS = [
    re.compile(rf"^(?:{_WEEKDAY})?{_MONTH}\s+{_DAY},?\s+{_YEAR}{_TIME}$"),  # March 31, 2022
    re.compile(rf"^(?:{_WEEKDAY})?{_DAY}\s+(?:of\s+)?{_MONTH},?\s+{_YEAR}{_TIME}$"),  # 31 March 2022
    re.compile(rf"^{_YEAR}-(?P<month_num>\d\d)-(?P<day>\d\d)(?:[t ]\d\d:\d\d(?::\d\d)?\S*)?$"),  # ISO 8601
]

# Explicit publication labels. "Updated" is accepted only when no "Published" line exists.
_PUBLISHED_LABEL = re.compile(
    r"^(?:published|posted|first published|date published|publication date|date)"
    r"\s*(?:on|:|-|–)?\s*(?P<rest>.+)$"
)
_UPDATED_LABEL = re.compile(r"^(?:last\s+)?(?:updated|modified)\s*(?:on|:|-|–)?\s*(?P<rest>.+)$")


def _make_date(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def parse_standalone_date(line: str) -> dt.date | None:
    """The date if the whole line is a date (optionally with weekday and time), else None."""
    key = " ".join(line.casefold().split()).strip(" .")
    if not key or len(key) > 60:
        return None
    # A time may come first: "10:32 GMT, 4 June 2024".
    key = _LEADING_TIME.sub("", key, count=1)
    for form in _DATE_FORMS:
        match = form.match(key)
        if match is None:
            continue
        parts = match.groupdict()
        if parts.get("month_num"):
            month: int | None = int(parts["month_num"])
        else:
            name = parts["month"]
            month = _MONTHS.get(name) or _MONTH_ABBREVIATIONS.get(name)
        if month is None:
            continue
        return _make_date(int(parts["year"]), month, int(parts["day"]))
    return None


def _labelled_date(line: str, label: re.Pattern[str]) -> dt.date | None:
    key = " ".join(line.casefold().split())
    if len(key) > 80:
        return None
    match = label.match(key)
    if match is None:
        return None
    return parse_standalone_date(match.group("rest"))


# A byline sharing its line with the date: "By Ana Lind | March 5, 2024", "March 5, 2024 · By Ana Lind".
_BYLINE_SEPARATORS = re.compile(r"\s+[|·•–—-]\s+|\s*[|·•]\s*")


def byline_date(line: str) -> dt.date | None:
    """The date of a short header line that is a byline plus a date, else None."""
    if len(line) > 100:
        return None
    parts = [part.strip() for part in _BYLINE_SEPARATORS.split(line.strip()) if part.strip()]
    if len(parts) < 2 or not any(re.match(r"(?i)^by\s+\S", part) for part in parts):
        return None
    dates = [found for part in parts if (found := parse_standalone_date(part)) is not None]
    return dates[0] if len(dates) == 1 else None


def header_date(lines: Sequence[str]) -> dt.date | None:
    """Publication date from the header of a saved text page.

    Looks only at lines before the first story-length paragraph; a standalone date line or a
    "Published: ..." line counts. Falls back to an "Updated ..." line, and otherwise gives None.
    """
    updated: dt.date | None = None
    for line in lines:
        if is_story_like(line):
            break
        found = parse_standalone_date(line) or _labelled_date(line, _PUBLISHED_LABEL) or byline_date(line)
        if found is not None:
            return found
        if updated is None:
            updated = _labelled_date(line, _UPDATED_LABEL)
    return updated


def parse_date_value(value: Any) -> dt.date | None:
    """A date from a structured field (JSON record): ISO 8601 date or datetime, or a written date."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str):
        return None
    text = value.strip()
    iso = re.match(r"^((?:19|20)\d\d)-(\d\d)-(\d\d)(?:$|[T ])", text)
    if iso:
        return _make_date(int(iso.group(1)), int(iso.group(2)), int(iso.group(3)))
    return parse_standalone_date(text)


def date_from_html(metadata_date: str | None) -> dt.date | None:
    """Parse the YYYY-MM-DD string that trafilatura's metadata (htmldate) produced, if any."""
    if not metadata_date:
        return None
    return parse_date_value(metadata_date)
