"""Pure boilerplate removal for article paragraphs.

Input is the list of paragraphs (or lines) of one page in reading order; output is the same list with
page furniture removed and order kept. Every rule matches a *whole short line*: a story paragraph that
happens to mention "comments" or "subscribe" inside a sentence is never touched, because precision
(never losing story text) matters more here than catching every last widget.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = [
    "STORY_MIN_WORDS",
    "clean_paragraphs",
    "is_boilerplate_line",
    "is_comment_marker",
    "is_image_credit",
    "is_story_like",
    "normalise_line",
    "sanitise_text",
    "word_count",
]

# Code points no article text may carry: lone surrogates (a JSON "\udfff" escape; not encodable as
# UTF-8, so every hash, Kafka message and Postgres row of the text would fail) and C0 controls other than
# tab, line feed, carriage return and form feed (NUL: Postgres text and jsonb refuse it).
_UNENCODABLE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f]")

_WORD = re.compile(r"\w+(?:[’'\-.]\w+)*")

# A paragraph with at least this many words reads as running story text rather than a heading, a caption
# or a widget label. Captions and standfirsts in the saved pages we see run 15-25 words, leads 30+.
STORY_MIN_WORDS = 30

# Lines that start the comment widget. Everything from here to the end of the page is reader
# comments (names, "hash"/"hashed" avatars, comment bodies), so the whole tail goes.
_COMMENT_MARKERS = re.compile(
    r"^(?:"
    r"notify of|view all comments|(?:oldest )?newest most voted|inline feedbacks|"
    r"\d+ comments?|no comments:?|one comment|post a comment|leave a (?:comment|reply)|"
    r"comments? \(\d+\)|comments are closed\.?|join the (?:discussion|conversation)|"
    r"show comments|load comments|add a comment|"
    # Bare section headers of comment threads: "Comments", "Reader comments (12)", "Discussion".
    r"(?:reader |user |readers' |your )comments:?|(?:\d+ )?(?:reader )?comments? \(\d+\):?|"
    r"(?:\d+|one) comments? (?:to|on) .{1,120}|add your comment:?|have your say:?|"
    # WordPress-style thread headers always carry a count: "2 thoughts on “Title”", "3 Responses to X".
    r"(?:\d+|one) (?:responses?|thoughts?|replies) (?:to|on) .{1,120}|"
    r"you must be logged in to post a comment\.?"
    r")$"
)

# Lines that start a "related content" block. Such blocks sit at the end of the story; a marker in the
# first part of a page is more likely a sidebar label, so it is dropped on its own without cutting.
_RELATED_MARKERS = re.compile(
    r"^(?:"
    r"more on (?:the|this) topic:?|related articles?:?|related posts?:?|related stories:?|"
    r"related news:?|related:|show more|read more:?|more stories:?|"
    r"you may also like:?|you might also like:?|recommended(?: for you)?:?|also read:?|"
    r"most read:?|most popular:?|latest news:?|trending now:?|related topics:?|more on this story:?|"
    r"top stories:?|editor'?s picks:?"
    r")$"
)

# Whole-line widget labels: share bars, subscribe boxes, navigation remnants, blog-engine footers.
_WIDGET_LINES = frozenset(
    {
        "subscribe",
        "subscribe now",
        "subscribe to our newsletter",
        "sign up",
        "sign in",
        "log in",
        "login",
        "register",
        "share",
        "share:",
        "share this:",
        "share this",
        "share this article",
        "share this story",
        "share on facebook",
        "share on twitter",
        "tweet",
        "facebook",
        "twitter",
        "whatsapp",
        "telegram",
        "linkedin",
        "reddit",
        "pinterest",
        "email",
        "e-mail",
        "print",
        "copy link",
        "follow us",
        "follow us:",
        "like this:",
        "like loading...",
        "loading...",
        "guest",
        "oldest",
        "newest",
        "reply",
        "advertisement",
        "advertising",
        "sponsored",
        "continue reading",
        "back to top",
        "back to top button",
        "breaking news",
        "%d bloggers like this:",
        "click to see full-size image",
        "click to see full size image",
        "click to enlarge",
        "click to enlarge image",
        "skip to content",
        "skip to main content",
        "menu",
        "search",
        "close",
        "home",
    }
)

_WIDGET_PATTERNS = re.compile(
    r"^(?:"
    # Analytics snippets pasted in as text when a page is saved ("<!-- Google tag (gtag.js) -->").
    r"<!--.*|!--.*|.*-->|.*google tag \(gtag\.js\).*|.*googletagmanager.*|"
    r"\d+ (?:shares?|views?|reads?)|share (?:on|via) \w+|"
    r"follow us on .{1,40}|sign up for .{1,80}newsletter.{0,40}|"
    r"all rights reserved\.?.*|©.{0,80}|copyright\s*(?:©|\(c\)|\d{4}).{0,80}|"
    r"(?:photo|image|picture)s?: ?\d+ of \d+|"
    # Breadcrumbs: "Home › World › Europe", "News » Regions » Islands".
    r"(?:home|start|startseite|accueil|inicio)\s*[›»\"'>/|].{0,120}|"
    # Inline link boxes: "Read more: <headline>" (a headline, so no closing full stop).
    r"(?:read more|read also|also read|see also|related|watch|listen)\s*:\s*[^.]{1,120}|"
    # Tag and category footers: "Topics: Ferries, Islands", "Posted in Culture | Tagged music".
    r"(?:topics?|tags?|keywords|categories|category|filed under)\s*:\s*.{1,150}|"
    r"posted in .{1,60}\|.{0,150}|tagged\s*:?\s+[^.]{1,100}|our standards:.{0,80}"
    r")$"
)

# Breadcrumb trails without a "Home" link: "News » Culture » Music". Split on the raw line (normalisation
# turns "»" into a quote) rather than matched with one regex, whose nested repetition backtracks
# exponentially on long lines full of separators.
_BREADCRUMB_SEPARATOR = re.compile(r"\s[›»>]\s")
_SENTENCE_PUNCTUATION = re.compile(r"[.!?]")


def _is_breadcrumb(line: str) -> bool:
    parts = _BREADCRUMB_SEPARATOR.split(" ".join(line.split()))
    return len(parts) >= 3 and all(
        0 < len(part.strip()) <= 40 and not _SENTENCE_PUNCTUATION.search(part) for part in parts
    )


# Image credit and caption lines: "IMAGE SOURCE: X", "Photo: X", "(Photo by X)", "Image credit: X".
_IMAGE_CREDIT = re.compile(
    r"^(?:"
    r"\(?(?:image|photo|picture|pic|video|graphic)s? ?(?:source|credits?|courtesy)\b.{0,100}|"
    r"\(?(?:photo|image|picture|pic)s?(?:graph)? ?:.{0,100}|"
    # "Photo by X" is a credit only as a short line; "Pictures by local children hung in ..." is a story.
    r"\(?(?:photo|image|picture|pic)s?(?:graph)? by [^.]{1,50}|"
    r"\(?(?:file photo|representational image|representative image)\b.{0,100}|"
    r"credits?: .{1,80}|source of image: .{1,80}|"
    r".{0,200}\((?:photo|image|picture|pic)s?(?:graph)? (?:by|credit|courtesy|:)[^)]{1,80}\)|"
    # A caption ending in its agency credit: "Rescue workers at the scene on Monday. (Reuters)".
    r".{0,200}[.!?]\s*\((?:[^)]{0,40}/\s*)?(?:reuters|afp|ap|epa|getty images|ap photo|afp photo|reuters photo)\)"
    r")$"
)

# Caption wording that marks a line as describing a photo, e.g. "Minister X (R) meets Y".
_CAPTION_HINT = re.compile(r"\((?:l|r|c|left|right|centre|center|front|top|bottom)\)|\bpictured\b|\bseen here\b")

# Agency credits that some sites print as the last line: "International Agencies", "(Reuters)".
_AGENCY_CREDIT = re.compile(
    r"^(?:"
    r"(?:international |news |wire )?agencies|with (?:inputs?|agency inputs?) from .{1,40}|"
    r"with agency inputs|\(?(?:reuters|afp|ap|ani|pti|ians|xinhua|tass|dpa|efe|ansa|bernama)\)?|"
    r"(?:source|sources)\s*:\s*(?:agencies|wires|.{1,40} ?/ ?.{1,40})|"
    r"[-–—]\s*(?:reuters|afp|ap|ani|pti|ians|xinhua|tass|dpa|efe|agencies)"
    r")\.?$"
)

_QUOTE_MAP = str.maketrans(
    {
        "“": '"',
        "”": '"',
        "„": '"',
        "«": '"',
        "»": '"',
        "‘": "'",
        "’": "'",
        "‚": "'",
        "–": "-",
        "—": "-",
        "‒": "-",
        "−": "-",
    }
)


def sanitise_text(text: str) -> str:
    """``text`` fit for every later step: lone surrogates replaced by U+FFFD, control characters
    (NUL included) removed. The one place ingest cleans code points; JSON values and every extracted
    field pass through it."""
    if _UNENCODABLE.search(text):
        text = _UNENCODABLE.sub("\ufffd", text)
    return _CONTROL.sub("", text)


def word_count(text: str) -> int:
    """Number of words: runs of letters/digits, with inner apostrophes, hyphens and dots kept together."""
    return len(_WORD.findall(text))


def normalise_line(line: str) -> str:
    """Comparison key for a short line: NFKC, casefolded, quotes and dashes unified, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", line).translate(_QUOTE_MAP).casefold()
    return " ".join(text.split())


def is_story_like(paragraph: str) -> bool:
    """True for running story text: long enough that it cannot be a label, caption or heading."""
    return word_count(paragraph) >= STORY_MIN_WORDS


def is_image_credit(line: str) -> bool:
    key = normalise_line(line)
    return len(key) <= 250 and _IMAGE_CREDIT.match(key) is not None


def _is_comment_marker(key: str) -> bool:
    return _COMMENT_MARKERS.match(key) is not None


def is_comment_marker(line: str) -> bool:
    """A whole line that opens a reader-comment section ("12 Comments", "Leave a Reply")."""
    return _is_comment_marker(normalise_line(line))


def _is_related_marker(key: str) -> bool:
    return _RELATED_MARKERS.match(key) is not None


def is_boilerplate_line(line: str) -> bool:
    """A whole line that is page furniture wherever it appears (widgets, trackers, image credits)."""
    key = normalise_line(line)
    if not key:
        return True
    # Long lines are story text even if they start like a widget label.
    if len(key) > 250:
        return False
    return (
        key in _WIDGET_LINES
        or _WIDGET_PATTERNS.match(key) is not None
        or _IMAGE_CREDIT.match(key) is not None
        or _is_comment_marker(key)
        or _is_related_marker(key)
        or _is_breadcrumb(line)
    )


def _story_follows(rest: list[str]) -> bool:
    """Whether story-length text comes after a related-content label, before any comment widget."""
    for paragraph in rest:
        if _is_comment_marker(normalise_line(paragraph)):
            return False
        if is_story_like(paragraph):
            return True
    return False


def _cut_tail(paragraphs: list[str]) -> list[str]:
    """Drop the comment thread and a trailing related-content block together with everything after."""
    total_chars = sum(len(p) for p in paragraphs) or 1
    seen_story = False
    offset = 0
    for index, paragraph in enumerate(paragraphs):
        key = normalise_line(paragraph)
        # A comment marker before any story text is a header counter ("3 Comments" under the title):
        # it is dropped as a line later, but cutting there would throw the whole story away.
        if seen_story and _is_comment_marker(key):
            return paragraphs[:index]
        # Related blocks close the page; the same label high up is a sidebar, not the end of the story,
        # and a label followed by more story text is a mid-article link box: only the label goes.
        if (
            seen_story
            and _is_related_marker(key)
            and offset / total_chars >= 0.4
            and not _story_follows(paragraphs[index + 1 :])
        ):
            return paragraphs[:index]
        if is_story_like(paragraph):
            seen_story = True
        offset += len(paragraph)
    return paragraphs


_CREDIT_SEGMENT = re.compile(r"^(?:additional )?(?:reporting|writing|editing|compiled|produced) by (?P<names>.+)$")


def _is_reporting_credit(key: str) -> bool:
    """Wire credits like "Reporting by Jon Berg; Editing by Lise Moe": every segment a role and a few names.

    The word limit keeps a last story sentence such as "Reporting by the local paper first revealed ..."
    """
    segments = [segment.strip() for segment in key.rstrip(".").split(";")]
    for segment in segments:
        match = _CREDIT_SEGMENT.match(segment)
        if match is None or word_count(match.group("names")) > 6:
            return False
    return True


def _drop_trailing_credits(paragraphs: list[str]) -> list[str]:
    end = len(paragraphs)
    while end > 0:
        key = normalise_line(paragraphs[end - 1])
        if key and len(key) <= 120 and (_AGENCY_CREDIT.match(key) or _is_reporting_credit(key) or key in _WIDGET_LINES):
            end -= 1
            continue
        break
    return paragraphs[:end]


def _reads_like_caption(key: str) -> bool:
    # A header line above a credit that is a full sentence is the photo caption; a short unpunctuated
    # line there is the title or a date, which must stay.
    return word_count(key) >= 8 and key.rstrip().endswith((".", '"', "'", ")"))


def clean_paragraphs(paragraphs: list[str]) -> list[str]:
    """Remove boilerplate from a page's paragraphs, keeping the order of what stays.

    Paragraphs are stripped; empty and whitespace-only ones (including non-breaking spaces) go.
    """
    stripped = [" ".join(p.split()) for p in paragraphs]
    stripped = [p for p in stripped if p]
    kept_tail = _cut_tail(stripped)

    result: list[str] = []
    seen_story = False
    for paragraph in kept_tail:
        if is_image_credit(paragraph):
            # The caption sits right above its credit. Drop it only when it is clearly a caption: still in
            # the header (no story text yet) or worded like one; otherwise it may be a story paragraph.
            if result and not is_story_like(result[-1]):
                previous = normalise_line(result[-1])
                if _CAPTION_HINT.search(previous) or (not seen_story and _reads_like_caption(previous)):
                    result.pop()
            continue
        if is_boilerplate_line(paragraph):
            continue
        if is_story_like(paragraph):
            seen_story = True
        result.append(paragraph)
    return _drop_trailing_credits(result)
