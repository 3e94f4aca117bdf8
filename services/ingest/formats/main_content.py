"""Main-content detection in saved page text: find the article among menus, captions, lists and comments.

A page saved as text ("select all, copy, paste") still shows, per line, the evidence that boilerplate
detectors such as jusText use on HTML blocks: length, stop-word density, sentence punctuation,
repetition (menu and comment-header templates recur), known widget vocabulary and code fragments. Each
line gets a class (prose, short, furniture) and a weight; the article is the stretch of lines with the
largest total weight (prose words count for it, furniture and runs of short lines against it), which is
how a body sits in a page: one dense run of prose with navigation before it and lists or comments after.

Pure logic; the tunables and the language -> stop-list table live in main_content.json.
"""

from __future__ import annotations

import functools
import json
import re
from collections import Counter
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import justext

from services.ingest.clean import is_boilerplate_line, is_comment_marker, normalise_line, word_count
from services.ingest.dates import parse_standalone_date
from services.ingest.formats.headline_rules import WIDGET_HEADING

__all__ = [
    "HeaderLine",
    "LineClass",
    "MainContent",
    "MainContentTuning",
    "find_main_content",
    "language_stoplist",
    "split_cells",
    "tuning",
]

_TUNING_FILE = Path(__file__).with_name("main_content.json")
_TOKEN = re.compile(r"\w+")
_DIGITS = re.compile(r"\d+")
_SENTENCE_PUNCTUATION = re.compile(r"[.!?;:,]")
_SENTENCE_END = re.compile(r"[.!?…:;][\"'”’»)\]]*\s*$")
# Code and markup pasted in as text: scripts, style rules, tags and bare URLs are never article text.
_CODE = re.compile(
    r"(?:^\s*[<{}\[\]@#.]?[\w\-]*\s*[{}]|[{};]\s*$|^\s*</?[a-z][^>]*>|function\s*\(|\bvar\s+\w+\s*=|"
    r"document\.\w+|window\.\w+|=\s*[\"'][^\"']*[\"']\s*[;>]|^\s*(?:https?://|www\.)\S+\s*$|\w+\(\);)",
    re.IGNORECASE,
)
# A date with a month name or in digits, or a clock time: what comment headers carry and headlines do not.
_DATED = re.compile(
    r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.? \d{1,2}\b|\b\d{1,2}(?:st|nd|rd|th)? "
    r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)|\b\d{1,4}[/.-]\d{1,2}[/.-]\d{2,4}\b|\b\d{1,2}:\d\d\b",
    re.IGNORECASE,
)
# Dated lines, menu bars ("News | Sport"), list items ("3. Other story", "* Video: ...") are never the
# article's headline.
_NOT_A_HEADLINE = re.compile(r"\s[|»/]\s|^\s*(?:\d{1,2}\.|[*•])\s")
_BYLINE = re.compile(r"^(?:by|posted by|written by|from)\s+\S", re.IGNORECASE)
_HEADLINE_END = re.compile(r"[.:;,]$")
_HEADER_LINE_MAX_WORDS = 12  # "Shaun Nichols in California, vnunet.com 15 Jan 2008"; longer dated lines are prose


@dataclass(frozen=True)
class MainContentTuning:
    cell_gap_spaces: int
    """A run of this many spaces inside a line separates table cells laid side by side."""
    prose_min_chars: int
    prose_min_stopword_ratio: float
    prose_min_words_without_stoplist: int
    long_prose_chars: int
    long_prose_min_stopword_ratio: float
    short_line_cost: float
    short_line_word_cost: float
    bad_line_cost: float
    bad_line_word_cost: float
    repeated_line_min_count: int
    template_line_cost: float
    comment_cut_min_prose_words: int
    edge_sentence_min_words: int
    edge_sentence_max_lines: int
    extra_block_min_share: float
    extra_block_max_gap_words: int
    title_window_lines: int
    title_max_words: int
    title_max_chars: int
    title_overlap_weight: float
    title_full_length_words: int
    title_distance_cost: float
    title_min_score: float
    title_isolated_bonus: float
    title_overlap_prior_words: float
    title_header_window_lines: int
    title_header_below_bonus: float
    stoplists: dict[str, str]


@functools.cache
def tuning() -> MainContentTuning:
    data = json.loads(_TUNING_FILE.read_text("utf-8"))
    data.pop("_comment", None)
    return MainContentTuning(**data)


@functools.cache
def language_stoplist(language: str | None) -> frozenset[str]:
    """The stop words of ``language`` (ISO 639-1), empty for a language without a list."""
    name = tuning().stoplists.get(language or "")
    return frozenset(justext.get_stoplist(name)) if name else frozenset()


class LineClass(Enum):
    PROSE = "prose"
    SHORT = "short"
    FURNITURE = "furniture"
    TEMPLATE = "template"
    """A line the page repeats (menu entries, comment headers, "Reply | Share"): it separates items."""
    CODE = "code"


@dataclass(frozen=True)
class HeaderLine:
    text: str
    is_prose: bool


@dataclass(frozen=True)
class MainContent:
    lines: list[str]
    """The article's lines in page order, headline excluded; known widget lines are still in (the line
    cleaner drops them and uses them, e.g. a photo credit under its caption)."""
    header: list[HeaderLine]
    """Lines between the headline and the article (standfirst, bylines, dates, captions, share bars)."""
    title: str | None
    """The headline found next to the article, or None when the page shows none."""


def split_cells(text: str, gap_spaces: int) -> list[str]:
    """Lines of saved text with side-by-side table cells split apart; blank lines kept as ''."""
    gap = re.compile(rf"\s{{{gap_spaces},}}")
    cells: list[str] = []
    for raw in text.splitlines():
        parts = [" ".join(part.split()) for part in gap.split(raw)]
        parts = [part for part in parts if part]
        cells.extend(parts or [""])
    return cells


_CAPITALISED_RUN = re.compile(r"(?:\b[A-Z][\w.'’\-]*\s*)+")


def _template_key(line: str) -> str:
    """Lines with the same key are one template repeated: digits never matter, and in short lines that
    carry numbers (comment headers "Ana Lind | May 9, 2012 1:16 AM | Reply") names do not either."""
    if _DIGITS.search(line) and word_count(line) <= 15:
        line = _CAPITALISED_RUN.sub("A ", line)
    return _DIGITS.sub("0", normalise_line(line))


def _thread_start(
    lines: list[str], kinds: list[LineClass], keys: list[str], start: int, end: int, config: MainContentTuning
) -> int:
    """Where a reader thread begins inside lines[start:end], else ``end``.

    A thread is a dated header template ("Ana Lind | May 9, 2012 at 1:16 am", "Posted by: X on <date>")
    that recurs after the story has begun; the article is what comes before its first occurrence.
    """
    prose_words = 0
    later: Counter[str] = Counter(keys[start:end])
    for index in range(start, end):
        later[keys[index]] -= 1
        if (
            kinds[index] is LineClass.TEMPLATE
            and prose_words >= config.comment_cut_min_prose_words
            and later[keys[index]] >= config.repeated_line_min_count - 1
            and _DATED.search(lines[index])
        ):
            return index
        if kinds[index] is LineClass.PROSE:
            prose_words += word_count(lines[index])
    return end


def _is_short_sentence(line: str, kind: LineClass, config: MainContentTuning) -> bool:
    long_enough = word_count(line) >= config.edge_sentence_min_words
    return kind is LineClass.SHORT and long_enough and _SENTENCE_END.search(line) is not None


def _extend_over_short_sentences(
    lines: list[str], kinds: list[LineClass], start: int, end: int, config: MainContentTuning
) -> tuple[int, int]:
    """Take in a one-line lead or closing sentence next to the block: a whole sentence, however short, is
    story text, which the weights alone would leave outside because it is shorter than a paragraph."""
    for _ in range(config.edge_sentence_max_lines):
        if start > 0 and _is_short_sentence(lines[start - 1], kinds[start - 1], config):
            start -= 1
        if end < len(lines) and _is_short_sentence(lines[end], kinds[end], config):
            end += 1
    return start, end


def _until_comments(lines: list[str], stoplist: frozenset[str], config: MainContentTuning) -> list[str]:
    """The page up to its comment section: a comment marker after enough prose ends the article.

    Comments are prose too and often outweigh the story, so they are cut by position, not by weight. A
    marker above the story ("3 Comments" under the headline) is only a counter and cuts nothing.
    """
    prose_words = 0
    for index, line in enumerate(lines):
        if is_comment_marker(line) and prose_words >= config.comment_cut_min_prose_words:
            return lines[:index]
        if _classify(line, False, stoplist, config) is LineClass.PROSE:
            prose_words += word_count(line)
    return lines


def _stopword_ratio(line: str, stoplist: frozenset[str]) -> float:
    tokens = _TOKEN.findall(line.casefold())
    return sum(1 for token in tokens if token in stoplist) / len(tokens) if tokens else 0.0


def _classify(line: str, repeated: bool, stoplist: frozenset[str], config: MainContentTuning) -> LineClass:
    if _CODE.search(line):
        return LineClass.CODE
    if is_boilerplate_line(line):
        return LineClass.FURNITURE
    if repeated:
        return LineClass.TEMPLATE
    chars = len(line)
    # A paragraph ends its last sentence; teasers, headings and link texts of other stories do not.
    if chars < config.long_prose_chars and not _SENTENCE_END.search(line):
        return LineClass.SHORT
    if stoplist:
        ratio = _stopword_ratio(line, stoplist)
        if (chars >= config.prose_min_chars and ratio >= config.prose_min_stopword_ratio) or (
            chars >= config.long_prose_chars and ratio >= config.long_prose_min_stopword_ratio
        ):
            return LineClass.PROSE
        return LineClass.SHORT
    if word_count(line) >= config.prose_min_words_without_stoplist and _SENTENCE_PUNCTUATION.search(line):
        return LineClass.PROSE
    return LineClass.SHORT


def _weight(line: str, kind: LineClass, config: MainContentTuning) -> float:
    words = word_count(line)
    if kind is LineClass.PROSE:
        return float(words)
    if kind is LineClass.SHORT:
        return -(config.short_line_cost + config.short_line_word_cost * words)
    if kind in (LineClass.TEMPLATE, LineClass.CODE):
        return -config.template_line_cost
    return -(config.bad_line_cost + config.bad_line_word_cost * words)


def _best_segment(weights: list[float]) -> tuple[int, int, float]:
    """Start, end (exclusive) and total of the contiguous run with the largest sum (Kadane)."""
    best = (0, 0, 0.0)
    start, total = 0, 0.0
    for index, weight in enumerate(weights):
        if total <= 0:
            start, total = index, 0.0
        total += weight
        if total > best[2]:
            best = (start, index + 1, total)
    return best


def _is_headline_candidate(line: str, config: MainContentTuning) -> bool:
    words = word_count(line)
    if words < 2 or words > config.title_max_words or len(line) > config.title_max_chars:
        return False
    ending = line.rstrip().rstrip("\"'”’»)")
    if _HEADLINE_END.search(ending) and not ending.endswith("..."):
        return False
    if is_boilerplate_line(line) or _CODE.search(line) or _BYLINE.match(line) or _NOT_A_HEADLINE.search(line):
        return False
    if WIDGET_HEADING.search(line):
        return False
    return parse_standalone_date(line) is None and not _DATED.search(line)


def _content_tokens(text: str, stoplist: frozenset[str]) -> set[str]:
    return {token for token in _TOKEN.findall(text.casefold()) if token not in stoplist and not token.isdigit()}


def _is_header_evidence(line: str) -> bool:
    """A byline or a date line: what a news page prints right under its headline."""
    return (
        _BYLINE.match(line) is not None
        or parse_standalone_date(line) is not None
        or (word_count(line) <= _HEADER_LINE_MAX_WORDS and _DATED.search(line) is not None)
    )


def _header_follows(lines: list[str], index: int, first_prose: int, config: MainContentTuning) -> bool:
    """A byline or date sits within a few lines below ``index``, before the story starts: the headline is
    the line that such a header zone hangs from (a deck or a kicker may sit between them)."""
    stop = min(first_prose, index + 1 + config.title_header_window_lines)
    return any(_is_header_evidence(lines[j]) for j in range(index + 1, stop))


def _find_title(
    lines: list[str],
    kinds: list[LineClass],
    start: int,
    body_tokens: set[str],
    isolated: list[bool],
    stoplist: frozenset[str],
    config: MainContentTuning,
) -> int | None:
    """Index of the headline: a short, unpunctuated line above (or opening) the article whose words the
    article itself uses. Navigation, section names and bylines share few words with the story, and a
    heading stands alone between blank lines where menu entries come in runs."""
    # A headline long enough to read as prose still has no sentence end; the story's first sentence has.
    first_prose = next(
        (
            i
            for i in range(start, len(lines))
            if kinds[i] is LineClass.PROSE and not _is_headline_candidate(lines[i], config)
        ),
        start,
    )
    best: tuple[float, int] | None = None
    seen: set[str] = set()
    low = max(0, start - config.title_window_lines)
    for index in range(low, first_prose):
        line = lines[index]
        if not _is_text(kinds[index]) or kinds[index] is LineClass.FURNITURE:
            continue
        if not _is_headline_candidate(line, config) or normalise_line(line) in seen:
            # A repeated headline (another dash, the site name added) counts at its first place.
            continue
        seen.add(normalise_line(line))
        tokens = _content_tokens(line, stoplist)
        if not tokens:
            continue
        # Headlines paraphrase the story, so any shared word counts; length separates them from names
        # and section labels, and the nearest line wins among equals.
        # A one- or two-word line (a name, a section) matches the story by chance; a prior of unmatched
        # words keeps it from outscoring a headline that shares most of its words.
        overlap = len(tokens & body_tokens) / (len(tokens) + config.title_overlap_prior_words)
        distance = first_prose - index
        score = (
            config.title_overlap_weight * overlap
            + min(word_count(line), config.title_full_length_words) / config.title_full_length_words
            - config.title_distance_cost * distance
            + (config.title_isolated_bonus if isolated[index] else 0.0)
            + (config.title_header_below_bonus if _header_follows(lines, index, first_prose, config) else 0.0)
        )
        if score >= config.title_min_score and (best is None or score > best[0]):
            best = (score, index)
    return best[1] if best else None


def find_main_content(page_lines: list[str], language: str | None) -> MainContent:
    """The article's lines and headline among the ``page_lines`` of one saved page (blank lines as '')."""
    config = tuning()
    stoplist = language_stoplist(language)
    lines: list[str] = []
    isolated: list[bool] = []
    for index, line in enumerate(page_lines):
        if line:
            lines.append(line)
            before = page_lines[index - 1] if index > 0 else ""
            after = page_lines[index + 1] if index + 1 < len(page_lines) else ""
            isolated.append(not before and not after)
    lines = _until_comments(lines, stoplist, config)
    keys = [_template_key(line) for line in lines]
    counts = Counter(keys)
    kinds = [
        _classify(line, counts[key] >= config.repeated_line_min_count, stoplist, config)
        for line, key in zip(lines, keys, strict=True)
    ]
    weights = [_weight(line, kind, config) for line, kind in zip(lines, kinds, strict=True)]
    start, end, _ = _best_segment(weights)
    end = _thread_start(lines, kinds, keys, start, end, config)
    start, end = _extend_over_short_sentences(lines, kinds, start, end, config)
    if start == end:
        return MainContent(lines=[], header=[], title=None)
    body_tokens = _content_tokens(" ".join(lines[start:end]), stoplist)
    title_index = _find_title(lines, kinds, start, body_tokens, isolated, stoplist, config)
    title = lines[title_index] if title_index is not None else None
    kept = [
        line for index, line in enumerate(lines[start:end], start) if index != title_index and _is_text(kinds[index])
    ]
    header = (
        [HeaderLine(lines[i], kinds[i] is LineClass.PROSE) for i in range(title_index + 1, start) if _is_text(kinds[i])]
        if title_index is not None
        else []
    )
    return MainContent(lines=kept, header=header, title=title)


def _is_text(kind: LineClass) -> bool:
    return kind not in (LineClass.TEMPLATE, LineClass.CODE)
