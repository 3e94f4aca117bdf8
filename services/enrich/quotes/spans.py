"""Quotation spans in plain text (pure, no parse).

Quotation marks are paired per paragraph (a line of the body). Styles: “…”, "…", «…», ‘…’, „…“ and the
typewriter/wire style ''…'' (and ``…'') that some archives of US papers use.
A curly opening mark may be closed by a straight one and the other way round: pasted and edited copy
mixes them, and requiring the matching mark runs the quote past its end to the next curly closer.
A paragraph that ends inside an open quote and whose next paragraph opens with the same mark
continues the quote (the newspaper convention for multi-paragraph quotes). ‘ and " only open at a
word boundary, and ’ only closes before a non-letter, so apostrophes ("China’s") are never taken for
quotation marks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Opening mark -> the marks that may close it.
_CLOSERS: dict[str, tuple[str, ...]] = {
    "“": ("”", '"'),
    "«": ("»",),
    "„": ("“", "”"),
    "‘": ("’",),
    '"': ('"', "”"),
    "''": ("''",),
    "``": ("''",),
}
_MARKS = re.compile(r"''|``|[“”\"«»‘’„]")
_LEFT_BOUNDARY = set(" \t([{—–-/:")
# Marks that count as the same continuation mark at the start of the next paragraph.
_CONTINUATION: dict[str, tuple[str, ...]] = {
    "“": ("“", '"'),
    '"': ('"', "“"),
    "«": ("«",),
    "„": ("„",),
    "‘": ("‘",),
    "''": ("''", "``"),
    "``": ("``", "''"),
}
# Marks that are also apostrophes or inch marks: they open only at a word boundary.
_AMBIGUOUS_OPENERS = ("‘", '"', "''")


@dataclass(frozen=True)
class QuoteSpan:
    """A quotation: ``start``/``end`` bound the quoted words (marks excluded) in the text."""

    start: int
    end: int
    text: str
    open_pos: int  # offset of the opening mark
    close_end: int  # offset just after the closing mark (paragraph end when unclosed)
    para_start: int  # start of the paragraph holding the closing mark (or the last piece)
    para_end: int
    first_para_start: int


@dataclass(frozen=True)
class Paragraph:
    start: int
    end: int


@dataclass
class _OpenQuote:
    """A quotation being read: its opening mark and the pieces of text read so far."""

    mark: str
    open_pos: int
    first_para_start: int
    content_start: int
    pieces: list[tuple[int, int]] = field(default_factory=list)

    @property
    def closers(self) -> tuple[str, ...]:
        return _CLOSERS[self.mark]


def paragraphs(text: str) -> list[Paragraph]:
    out: list[Paragraph] = []
    pos = 0
    for line in text.split("\n"):
        end = pos + len(line)
        if line.strip():
            out.append(Paragraph(pos, end))
        pos = end + 1
    return out


def _can_open(text: str, i: int, mark: str) -> bool:
    after = i + len(mark)
    if after >= len(text) or (text[after].isspace() and mark in _AMBIGUOUS_OPENERS):
        return False
    if mark in _AMBIGUOUS_OPENERS:
        return i == 0 or text[i - 1] in _LEFT_BOUNDARY or text[i - 1] == "\n"
    return True


def _can_close(text: str, i: int, mark: str, closers: tuple[str, ...]) -> bool:
    if mark not in closers:
        return False
    if mark == "''":
        nxt = text[i + 2] if i + 2 < len(text) else " "
        # "…coalitions, '' said Mr. Ruiz": wire copy sometimes leaves a space before the closer.
        closes_word = i > 0 and (not text[i - 1].isspace() or (i > 1 and text[i - 2] in ",.?!"))
        return not nxt.isalnum() and closes_word
    if mark == "’":
        # An apostrophe sits between letters ("China’s"); a closing mark is followed by a non-letter.
        nxt = text[i + 1] if i + 1 < len(text) else " "
        return not nxt.isalnum() and i > 0 and not text[i - 1].isspace()
    # A straight mark between a space and a letter opens the next quote; it does not close this one.
    return not (mark == '"' and i > 0 and text[i - 1].isspace() and i + 1 < len(text) and text[i + 1].isalnum())


def _strip_bounds(text: str, s: int, e: int) -> tuple[int, int]:
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    return s, e


def find_quote_spans(text: str) -> list[QuoteSpan]:
    """All quotations in ``text`` in order of appearance (see module docstring for the rules)."""
    paras = paragraphs(text)
    spans: list[QuoteSpan] = []
    carry: _OpenQuote | None = None  # an open quotation carried into the next paragraph
    for pi, para in enumerate(paras):
        pos = para.start
        state: _OpenQuote | None = None
        if carry is not None:
            lead = para.start
            while lead < para.end and text[lead].isspace():
                lead += 1
            cont = next((c for c in _CONTINUATION[carry.mark] if text.startswith(c, lead, para.end)), None)
            if cont is not None:
                pos = lead + len(cont)
                state = carry
                state.content_start = pos
            else:
                # No continuation mark: the quote ended with the previous paragraph (closer missing).
                prev = paras[pi - 1]
                spans.append(_make_span(text, carry, prev.end, prev))
            carry = None
        for m in _MARKS.finditer(text, pos, para.end):
            i = m.start()
            ch = m.group()
            if state is None:
                if ch in _CLOSERS and _can_open(text, i, ch):
                    state = _OpenQuote(ch, i, para.start, m.end())
                continue
            if _can_close(text, i, ch, state.closers):
                state.pieces.append((state.content_start, i))
                spans.append(_make_span(text, state, m.end(), para))
                state = None
        if state is not None:
            if state.mark in _AMBIGUOUS_OPENERS and not state.pieces:
                # An unclosed single or straight quote is far more often an apostrophe or an inch mark.
                continue
            state.pieces.append((state.content_start, para.end))
            carry = state
    if carry is not None:
        spans.append(_make_span(text, carry, paras[-1].end, paras[-1]))
    return [s for s in spans if s.text]


def _make_span(text: str, quote: _OpenQuote, close_end: int, para: Paragraph) -> QuoteSpan:
    bounds = [_strip_bounds(text, s, e) for s, e in quote.pieces]
    bounds = [(s, e) for s, e in bounds if e > s]
    if not bounds:
        return QuoteSpan(
            quote.content_start, quote.content_start, "", quote.open_pos, close_end, para.start, para.end, para.start
        )
    # A trailing comma inside the marks belongs to the attribution ("…history,” Lavrov said"), not to
    # the quoted words.
    last_s, last_e = bounds[-1]
    while last_e > last_s and text[last_e - 1] in ", ":
        last_e -= 1
    bounds[-1] = (last_s, last_e)
    words = " ".join(text[s:e] for s, e in bounds)
    return QuoteSpan(
        bounds[0][0],
        last_e,
        " ".join(words.split()),
        quote.open_pos,
        close_end,
        para.start,
        para.end,
        quote.first_para_start,
    )
