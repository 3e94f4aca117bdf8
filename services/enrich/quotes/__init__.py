"""Quotations and their speakers: ``find_quote_spans`` on a string (``spans``), ``extract_quotes`` on a
parsed ``Doc`` plus the article's ``EntityAnalysis``. Span finding, attribution and kinds live in their
own modules; word lists are package data (``words.json``, loaded by ``lexicon``).

One statement split by its attribution (“…,” she said, “…”) is one ``Quote`` with both pieces in
``parts``; a partial quote carries the sentence it sits in as ``clause``; a term carries no speaker.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from spacy.tokens import Doc

from services.contracts.events import Quote, QuoteKind, QuotePart, SpeakerMention
from services.enrich.entities import EntityAnalysis
from services.enrich.quotes.attribution import (
    NO_ATTRIBUTION,
    Attribution,
    DocIndex,
    QuoteContext,
    Speaker,
    attribute,
    mask_abbreviations,
    sentence_before,
)
from services.enrich.quotes.kinds import classify, is_title_or_nickname
from services.enrich.quotes.spans import QuoteSpan, find_quote_spans

__all__ = ["QuoteSpan", "extract_quotes", "find_quote_spans"]

_UNATTRIBUTED_CONFIDENCE = {QuoteKind.FULL: 0.2, QuoteKind.PARTIAL: 0.3, QuoteKind.TERM: 0.5}
# Between the two pieces of a split statement: the attribution and a comma, nothing that ends a sentence.
_NICKNAMED = re.compile(r"(?P<first>[A-Z][\w’'-]+) [“\"‘][^“”\"‘’\n]{1,40}[”\"’] (?P<last>[A-Z][\w’'-]+)")
_SPLIT_GAP = re.compile(r"^[^.!?\n“”\"«»„]{1,120}[,:]\s*$")


@dataclass
class _Found:
    span: QuoteSpan
    kind: QuoteKind
    attribution: Attribution
    parts: list[QuoteSpan]
    clause: str | None


def extract_quotes(doc: Doc, analysis: EntityAnalysis, *, text: str | None = None) -> list[Quote]:
    """``text``: the string ``doc`` was parsed from, when the caller has it (``Doc.text`` rebuilds it
    token by token, which costs more than the rest of quote extraction together)."""
    text = doc.text if text is None else text
    spans = find_quote_spans(text)
    if not spans:
        return []
    index = DocIndex(doc, text)
    found: list[_Found] = []
    previous: tuple[QuoteSpan, Attribution] | None = None
    # Names split by a nickname (Kwame “The Hammer” Mensah): surname -> the name without the nickname.
    split_names: dict[str, str] = {}
    for span in spans:
        ctx = QuoteContext(span, sentence_before(index, span))
        if is_title_or_nickname(span, ctx.before):
            named = _NICKNAMED.search(index.text, max(0, span.open_pos - 40), span.close_end + 40)
            if named is not None:
                split_names[named.group("last")] = f"{named.group('first')} {named.group('last')}"
            continue  # a title or nickname names something; it is no quotation at all
        attribution = attribute(index, analysis, ctx, previous)
        cue_adjacent = attribution.cue is not None and not attribution.verb_before
        kind = classify(span, ctx.before, attribution, cue_adjacent=cue_adjacent)
        if kind is QuoteKind.TERM:
            attribution = NO_ATTRIBUTION  # a term or scare quote is the writer's word, not speech
        else:
            previous = (span, attribution)
        last = found[-1] if found else None
        if last is not None and kind is QuoteKind.FULL and _continues(index.text, last, span, attribution):
            last.parts.append(span)
            continue
        clause = _clause(index, ctx) if kind is QuoteKind.PARTIAL else None
        found.append(_Found(span, kind, attribution, [span], clause))
    return [_to_quote(index.text, f, split_names) for f in found]


def _continues(text: str, last: _Found, span: QuoteSpan, attribution: Attribution) -> bool:
    """``span`` is the second half of the statement ``last`` opened (“…,” she said, “…”)."""
    if last.kind is not QuoteKind.FULL or last.attribution.speaker is None:
        return False
    gap = mask_abbreviations(text[last.parts[-1].close_end : span.open_pos])
    if not _SPLIT_GAP.match(gap) or last.parts[-1].text.endswith((".", "!", "?")):
        return False
    # The attribution between the pieces names the speaker of the first; the second agrees or has none.
    other = attribution.speaker
    return other is None or other.name == last.attribution.speaker.name


def _clause(index: DocIndex, ctx: QuoteContext) -> str:
    span = ctx.span
    sent = index.sent(index.sent_index(max(span.close_end - 1, span.open_pos)))
    end = min(max(sent.end_char, span.close_end), span.para_end)
    return " ".join(index.text[ctx.before_start : end].split())


def _to_quote(text: str, f: _Found, split_names: dict[str, str]) -> Quote:
    speaker = f.attribution.speaker
    if speaker is not None and speaker.is_person and speaker.name in split_names:
        # Same entity (its speaker_id stays), named in full.
        speaker = replace(speaker, name=split_names[speaker.name])
    if speaker is None:
        confidence = _UNATTRIBUTED_CONFIDENCE[f.kind]
    else:
        confidence = speaker.confidence if f.kind is QuoteKind.FULL else speaker.confidence * 0.9
    first, last = f.parts[0], f.parts[-1]
    return Quote(
        text=" ".join(p.text for p in f.parts),
        speaker=None if speaker is None else speaker.name,
        speaker_id=None if speaker is None else speaker.speaker_id,
        speaker_mention=_mention(text, speaker),
        kind=f.kind,
        confidence=round(confidence, 3),
        start=first.start,
        end=last.end,
        cue=f.attribution.cue,
        parts=[QuotePart(start=p.start, end=p.end) for p in f.parts] if len(f.parts) > 1 else [],
        clause=f.clause,
    )


def _mention(text: str, speaker: Speaker | None) -> SpeakerMention | None:
    if speaker is None or speaker.mention is None:
        return None
    start, end = speaker.mention.start, speaker.mention.end
    return SpeakerMention(text=text[start:end], start=start, end=end)
