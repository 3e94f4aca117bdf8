"""Direct quotations and their speakers.

Pure: ``find_quote_spans`` works on a string; ``extract_quotes`` reads a parsed ``Doc`` plus the
article's ``EntityAnalysis`` and returns contract ``Quote`` models.

Two stages:

1. Spans. Quotation marks are paired per paragraph (a line of the body). Supported styles:
   “…”, "…", «…», ‘…’ and „…“. A paragraph that ends inside an open quote and whose next paragraph
   opens with the same mark continues the quote (the newspaper convention for multi-paragraph quotes).
   ‘ and " only open at a word boundary, and ’ only closes before a non-letter, so apostrophes
   ("China’s") are never taken for quotation marks.
2. Attribution, most specific evidence first:
   a. a cue right after the closing mark: ``…,” Lavrov said`` / ``…,” said X`` / ``» – X said`` /
      ``…,” according to X``;
   b. a reporting verb before the quote in the same sentence (or a sentence ending in a colon): its
      ``nsubj`` from the dependency parse, walking up through ``by saying``-style clauses; the patterns
      ``quoted X as saying`` and ``according to X,`` are handled before the parse;
   c. a quote standing alone right after another attributed quote inherits its speaker;
   d. a standalone quote after a sentence whose subject is a person or a described source takes that
      subject, with low confidence.
   e. a quote after a colon ending a clause that is not a report ("X was more cautious: «…»") takes
      that clause's subject when it is a person (or a person in apposition to it).
   The speaker phrase is then resolved: a PERSON mention inside it gives the canonical name; he/she
   gives the person who is the subject of the sentence before the quote, else the most recent PERSON
   that was a grammatical subject before it; otherwise the phrase itself, cut before a participle or
   relative clause ("a statement released by …"), is kept as the description of an unnamed source
   ("a US State Department spokesman").
3. Filtering: a short title-cased span inside a sentence ("her novel “The Salt Road,”", Kwame “The
   Hammer” Mensah) is a title or nickname, not a quotation, and is dropped. A fragment keeps a speaker
   only when it resolves to a person: scare quotes in a sentence about a group ("Critics say the
   “consultation” …") are the writer's distance, not the group's words. A stand-alone quoted sentence
   is full however short.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from spacy.lang.en.stop_words import STOP_WORDS
from spacy.tokens import Doc, Token

from services.contracts.events import Quote, QuoteKind
from services.enrich.entities import TITLE_WORDS, EntityAnalysis, ResolvedMention, canonical_id_for, roles_in

REPORTING_LEMMAS = frozenset(
    {
        "say",
        "tell",
        "add",
        "emphasise",
        "emphasize",
        "note",
        "stress",
        "declare",
        "hail",
        "remark",
        "warn",
        "echo",
        "state",
        "claim",
        "insist",
        "argue",
        "explain",
        "announce",
        "write",
        "reply",
        "respond",
        "comment",
        "underline",
        "underscore",
        "assert",
        "acknowledge",
        "observe",
        "urge",
        "conclude",
        "recall",
        "predict",
        "vow",
        "caution",
        "reiterate",
        "tweet",
        "ask",
        "describe",
        "quote",
    }
)

_VERB_FORMS = (
    "said|says|say|told|tells|added|adds|emphasi[sz]ed|emphasi[sz]es|noted|notes|stressed|stresses|"
    "declared|declares|hailed|hails|remarked|remarks|warned|warns|echoed|echoes|stated|states|claimed|"
    "claims|insisted|insists|argued|argues|explained|explains|announced|announces|wrote|writes|replied|"
    "replies|responded|responds|commented|comments|underlined|underlines|underscored|underscores|"
    "asserted|asserts|acknowledged|acknowledges|observed|urged|urges|concluded|recalled|predicted|vowed|"
    "cautioned|reiterated|reiterates|tweeted|asked|asks|continued"
)
_SPK = r"(?P<spk>[^,.;:!?\n“”\"«»„]{1,90}?)"
_PRE = r"^\s*[,.!?;:]?\s*(?:[–—-]+\s*)?"
_AFTER_VERB_FIRST = re.compile(
    _PRE
    + rf"(?P<cue>{_VERB_FORMS})\s+"
    + _SPK
    + r"(?=\s*[,.;:!?\n]|\s+(?:in|during|at|on|after|before|while|when|to|as|of|from|with|who|and)\b|\s*$)",
)
_AFTER_SUBJ_FIRST = re.compile(
    _PRE + _SPK + rf"\s+(?:(?:has|had|have|also|then|later|once|had\s+earlier)\s+)*(?P<cue>{_VERB_FORMS})\b",
)
_AFTER_ACCORDING = re.compile(_PRE + r"(?P<cue>according to)\s+" + _SPK + r"(?=\s*[,.;:!?\n]|\s*$)", re.I)
_BEFORE_ACCORDING = re.compile(r"(?P<cue>according to)\s+" + _SPK + r"\s*,\s*$", re.I)
_BEFORE_QUOTED_AS = re.compile(r"(?P<cue>quoted)\s+" + _SPK + r"\s+as\s+saying\b[^“”\"«»„]*$", re.I)

_PRONOUNS = frozenset({"he", "she"})
_SUBJ_DEPS = ("nsubj", "nsubjpass")
# Clauses through which a reporting verb inherits the subject of its head ("he echoed X by saying").
_CLIMB_DEPS = frozenset({"xcomp", "advcl", "pcomp", "conj", "prep", "ccomp", "acl"})
_FRAGMENT_MAX_WORDS = 4
_EMBEDDED_FRAGMENT_MAX_WORDS = 8

_OPENERS = {"“": "”", "«": "»", "„": "“”", "‘": "’", '"': '"'}
_MARKS = re.compile(r"[“”\"«»‘’„]")
_LEFT_BOUNDARY = set(" \t([{—–-/:")
_WORD = re.compile(r"\w+")
_TITLE_MAX_WORDS = 6
# Lowercase words a title or nickname may contain ("Night Trains to Bari", "Winter in Naples").
_TITLE_FILLERS = frozenset({"a", "an", "the", "of", "to", "in", "on", "at", "for", "and", "or", "with", "from", "by"})
# A described source ends before a participle or relative clause ("a statement released by the council").
_DESCRIPTION_CUT = re.compile(
    r"\s+(?:who|which|that|released|issued|published|posted|obtained|seen|sent|made|quoted|cited)\b.*$",
    re.I,
)


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


def _paragraphs(text: str) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    pos = 0
    for line in text.split("\n"):
        end = pos + len(line)
        if line.strip():
            out.append((pos, end))
        pos = end + 1
    return out


def _can_open(text: str, i: int, mark: str) -> bool:
    if i + 1 >= len(text) or (text[i + 1].isspace() and mark in '‘"'):
        return False
    if mark in '‘"':
        return i == 0 or text[i - 1] in _LEFT_BOUNDARY or text[i - 1] == "\n"
    return True


def _can_close(text: str, i: int, mark: str, closers: str) -> bool:
    if mark not in closers:
        return False
    if mark == "’":
        # An apostrophe sits between letters ("China’s"); a closing mark is followed by a non-letter.
        nxt = text[i + 1] if i + 1 < len(text) else " "
        return not nxt.isalnum() and i > 0 and not text[i - 1].isspace()
    return True


def _strip_bounds(text: str, s: int, e: int) -> tuple[int, int]:
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    return s, e


def find_quote_spans(text: str) -> list[QuoteSpan]:
    """All quotations in ``text`` in order of appearance (see module docstring for the rules)."""
    paras = _paragraphs(text)
    spans: list[QuoteSpan] = []
    # An open quotation carried into the next paragraph: (opening mark, closers, open_pos, pieces).
    carry: tuple[str, str, int, list[tuple[int, int]], int] | None = None
    for pi, (ps, pe) in enumerate(paras):
        pos = ps
        if carry is not None:
            mark, closers, open_pos, pieces, first_ps = carry
            lead = ps
            while lead < pe and text[lead].isspace():
                lead += 1
            if lead < pe and text[lead] == mark:
                pos = lead + 1
                state: tuple[str, str, int, list[tuple[int, int]], int, int] | None = (
                    mark,
                    closers,
                    open_pos,
                    pieces,
                    first_ps,
                    pos,
                )
            else:
                # No continuation mark: the quote ended with the previous paragraph (closer missing).
                prev_ps, prev_pe = paras[pi - 1]
                spans.append(_make_span(text, open_pos, pieces, prev_pe, prev_ps, prev_pe, first_ps))
                state = None
            carry = None
        else:
            state = None
        for m in _MARKS.finditer(text, pos, pe):
            i = m.start()
            ch = text[i]
            if state is None:
                if ch in _OPENERS and _can_open(text, i, ch):
                    state = (ch, _OPENERS[ch], i, [], ps, i + 1)
                continue
            mark, closers, open_pos, pieces, first_ps, content_start = state
            if _can_close(text, i, ch, closers):
                pieces = [*pieces, (content_start, i)]
                spans.append(_make_span(text, open_pos, pieces, i + 1, ps, pe, first_ps))
                state = None
        if state is not None:
            mark, closers, open_pos, pieces, first_ps, content_start = state
            if mark in '‘"' and not pieces:
                # An unclosed single or straight quote is far more often an apostrophe or an inch mark.
                continue
            carry = (mark, closers, open_pos, [*pieces, (content_start, pe)], first_ps)
    if carry is not None:
        _mark, _closers, open_pos, pieces, first_ps = carry
        ps, pe = paras[-1]
        spans.append(_make_span(text, open_pos, pieces, pe, ps, pe, first_ps))
    return [s for s in spans if s.text]


def _make_span(
    text: str,
    open_pos: int,
    pieces: list[tuple[int, int]],
    close_end: int,
    ps: int,
    pe: int,
    first_ps: int,
) -> QuoteSpan:
    bounds = [_strip_bounds(text, s, e) for s, e in pieces]
    bounds = [(s, e) for s, e in bounds if e > s]
    if not bounds:
        return QuoteSpan(open_pos + 1, open_pos + 1, "", open_pos, close_end, ps, pe, first_ps)
    # A trailing comma inside the marks belongs to the attribution ("…history,” Lavrov said"), not to
    # the quoted words.
    last_s, last_e = bounds[-1]
    while last_e > last_s and text[last_e - 1] in ", ":
        last_e -= 1
    bounds[-1] = (last_s, last_e)
    words = " ".join(text[s:e] for s, e in bounds)
    return QuoteSpan(bounds[0][0], last_e, " ".join(words.split()), open_pos, close_end, ps, pe, first_ps)


@dataclass(frozen=True)
class _Attribution:
    speaker: str | None
    speaker_id: str | None
    confidence: float
    cue: str | None


class _DocIndex:
    """Char-offset lookups into a Doc, built once per document."""

    def __init__(self, doc: Doc) -> None:
        self.doc = doc
        self.text = doc.text  # Doc.text joins every token: read it once
        self.tok_starts = [t.idx for t in doc]
        self.sents = list(doc.sents) if doc.has_annotation("SENT_START") else [doc[:]]
        self.sent_starts = [s.start_char for s in self.sents]

    def token_at(self, offset: int) -> int:
        return max(0, bisect.bisect_right(self.tok_starts, offset) - 1)

    def sent_index(self, offset: int) -> int:
        return max(0, bisect.bisect_right(self.sent_starts, offset) - 1)


def extract_quotes(doc: Doc, analysis: EntityAnalysis) -> list[Quote]:
    index = _DocIndex(doc)
    text = index.text
    out: list[Quote] = []
    prev: tuple[QuoteSpan, _Attribution] | None = None
    for span in find_quote_spans(text):
        before = _sentence_before(text, index, span)
        if _is_title_or_nickname(span, before):
            continue
        attribution = _attribute(text, index, analysis, span, before, prev)
        kind = _kind(span, before, attribution)
        if kind is QuoteKind.FRAGMENT and not (attribution.speaker_id or "").startswith("person:"):
            attribution = _Attribution(None, None, 0.0, None)
        if attribution.speaker is None:
            confidence = 0.3 if kind is QuoteKind.FRAGMENT else 0.2
        else:
            confidence = attribution.confidence if kind is QuoteKind.FULL else attribution.confidence * 0.9
        out.append(
            Quote(
                text=span.text,
                speaker=attribution.speaker,
                speaker_id=attribution.speaker_id,
                kind=kind,
                confidence=round(confidence, 3),
                start=span.start,
                end=span.end,
                cue=attribution.cue,
            )
        )
        prev = (span, attribution)
    return out


def _sentence_before(text: str, index: _DocIndex, span: QuoteSpan) -> str:
    """Text between the start of the quote's sentence (within its paragraph) and the opening mark."""
    si = index.sent_index(span.open_pos)
    start = max(index.sent_starts[si], span.first_para_start)
    return text[start : span.open_pos]


def _is_title_or_nickname(span: QuoteSpan, before: str) -> bool:
    """A short span inside a sentence whose words are all capitalised (fillers aside) names something."""
    if not before.strip() or before.rstrip().endswith(":"):
        return False
    words = span.text.rstrip(",").split()
    if not words or len(words) > _TITLE_MAX_WORDS or span.text.rstrip().endswith((".", "!", "?")):
        return False
    if not words[0][:1].isupper():
        return False
    return all(w[:1].isupper() or w.lower() in _TITLE_FILLERS for w in words)


def _kind(span: QuoteSpan, before: str, attribution: _Attribution) -> QuoteKind:
    n_words = len(_WORD.findall(span.text))
    if not before.strip() and span.text[:1].isupper() and span.text.endswith((".", "!", "?")):
        # A quoted sentence standing on its own ("“They chose not to.”") is a full quote however short.
        return QuoteKind.FULL
    if n_words <= _FRAGMENT_MAX_WORDS:
        return QuoteKind.FRAGMENT
    tail = before.rstrip()
    embedded = bool(tail) and not tail.endswith((":", ",", "–", "—", "-"))
    if embedded and attribution.cue is None:
        return QuoteKind.FRAGMENT
    # A short phrase woven into the reporter's own sentence ("the meeting was “a first step”") is a
    # fragment even with a reporting verb; after "that"/":" the quote carries a whole clause.
    if embedded and n_words <= _EMBEDDED_FRAGMENT_MAX_WORDS and not tail.lower().endswith(" that"):
        return QuoteKind.FRAGMENT
    return QuoteKind.FULL


def _attribute(
    text: str,
    index: _DocIndex,
    analysis: EntityAnalysis,
    span: QuoteSpan,
    before: str,
    prev: tuple[QuoteSpan, _Attribution] | None,
) -> _Attribution:
    after_end = span.para_end
    after = text[span.close_end : min(after_end, span.close_end + 160)]
    # a. Cue right after the closing mark. A quote closed by a full stop ends its sentence, so words
    # after it start a new sentence ("… cooperation.” He emphasised that …") unless a dash or comma
    # ties them to the quote.
    ends_sentence = span.text.endswith(".") and not re.match(r"\s*[,–—-]", after)
    after_rules = () if ends_sentence else ((_AFTER_VERB_FIRST, 0.9), (_AFTER_SUBJ_FIRST, 0.9), (_AFTER_ACCORDING, 0.8))
    for rx, conf in after_rules:
        m = rx.match(after)
        if m and _plausible_speaker(m.group("spk")):
            ps = span.close_end + m.start("spk")
            found = _resolve_phrase(index, analysis, ps, span.close_end + m.end("spk"), span.open_pos, conf)
            if found is not None:
                return _Attribution(found[0], found[1], found[2], m.group("cue").lower())
    # b. Evidence before the quote in its sentence.
    before_start = span.open_pos - len(before)
    for rx in (_BEFORE_QUOTED_AS, _BEFORE_ACCORDING):
        m = rx.search(before)
        if m and _plausible_speaker(m.group("spk")):
            found = _resolve_phrase(
                index,
                analysis,
                before_start + m.start("spk"),
                before_start + m.end("spk"),
                span.open_pos,
                0.85,
            )
            if found is not None:
                return _Attribution(found[0], found[1], found[2], m.group("cue").lower())
    dep = _dependency_attribution(text, index, analysis, span, before_start)
    if dep is not None:
        return dep
    standalone = not before.strip()
    if standalone:
        # c. Continuation of the previous quote's speaker (same or directly preceding paragraph).
        if prev is not None and prev[1].speaker is not None:
            gap = text[prev[0].close_end : span.open_pos]
            if gap.count("\n") <= 1 and len(gap) < 200 and not re.search(r"[.!?]\s+\w+[^.]*[.!?]", gap):
                a = prev[1]
                return _Attribution(a.speaker, a.speaker_id, min(a.confidence * 0.75, 0.65), a.cue)
        # d. Subject of the previous sentence in the same paragraph.
        si = index.sent_index(span.open_pos)
        if si > 0:
            subj = _sentence_subject(index.sents[si - 1])
            if subj is not None:
                found = _resolve_phrase(index, analysis, subj[0], subj[1], span.open_pos, 0.5)
                if found is not None:
                    return _Attribution(found[0], found[1], found[2], None)
    return _Attribution(None, None, 0.0, None)


_SOURCE_NOUNS = frozenset({"official", "officials", "statement", "source", "sources", "ministry", "spokesperson"})


def _plausible_speaker(phrase: str) -> bool:
    words = phrase.split()
    if not words or len(words) > 9:
        return False
    first = words[0]
    if first[0].isupper() or first.lower() in {"he", "she", "a", "an", "the", "one", "his", "her"}:
        return True
    # "said ministry spokeswoman Irina Belova": a lowercase title/source noun leading a speaker phrase.
    lowered = {w.lower() for w in words}
    return bool(lowered & (TITLE_WORDS | _SOURCE_NOUNS)) or any(w[:1].isupper() for w in words[1:])


def _dependency_attribution(
    text: str, index: _DocIndex, analysis: EntityAnalysis, span: QuoteSpan, before_start: int
) -> _Attribution | None:
    """Closest reporting verb before the quote in its sentence (or a colon-ended previous sentence)."""
    doc = index.doc
    ranges: list[tuple[int, int]] = []
    if span.open_pos > before_start:
        ranges.append((index.token_at(before_start), index.token_at(span.open_pos)))
    si = index.sent_index(span.open_pos)
    if si > 0 and index.sent_starts[si - 1] >= span.first_para_start:
        prev_sent = index.sents[si - 1]
        if prev_sent.text.rstrip().endswith(":"):
            ranges.append((prev_sent.start, prev_sent.end))
    for lo, hi in ranges:
        for ti in range(hi - 1, lo - 1, -1):
            tok = doc[ti]
            if (
                tok.idx >= span.open_pos
                or tok.lemma_.lower() not in REPORTING_LEMMAS
                or tok.pos_
                not in (
                    "VERB",
                    "AUX",
                )
            ):
                continue
            subj = _subject_of(tok)
            if subj is None:
                continue
            bounds = _subject_phrase(subj)
            found = _resolve_phrase(index, analysis, bounds[0], bounds[1], span.open_pos, 0.85)
            if found is not None:
                return _Attribution(found[0], found[1], found[2], tok.text.lower())
    if ranges and text[before_start : span.open_pos].rstrip().endswith(":"):
        # e. "The chief engineer, Aigerim Bekova, was more cautious: «…»": the clause's subject speaks.
        lo, hi = ranges[0]
        root = doc[max(lo, hi - 1)].sent.root
        subj = next((c for c in root.children if c.dep_ in _SUBJ_DEPS), None)
        if subj is not None and subj.idx < span.open_pos:
            for cand in (subj, *(c for c in subj.children if c.dep_ == "appos")):
                b = _subject_phrase(cand)
                found = _resolve_phrase(index, analysis, b[0], b[1], span.open_pos, 0.6)
                if found is not None and (found[1] or "").startswith("person:"):
                    return _Attribution(found[0], found[1], found[2], None)
    return None


def _subject_of(verb: Token) -> Token | None:
    tok = verb
    for _ in range(4):
        for child in tok.children:
            if child.dep_ in _SUBJ_DEPS:
                return child
        if tok.dep_ not in _CLIMB_DEPS or tok.head is tok:
            return None
        tok = tok.head
    return None


def _subject_phrase(subj: Token) -> tuple[int, int]:
    """Char bounds of the subject noun phrase without relative clauses or appositions after the head."""
    left = subj.left_edge
    start = left.idx
    end = subj.idx + len(subj.text)
    # Keep a flat name continuing to the right ("Wang Yi" where the parser made "Wang" the head).
    nxt = subj.i + 1
    doc = subj.doc
    while nxt < len(doc) and doc[nxt].dep_ in ("compound", "flat", "appos") and doc[nxt].pos_ == "PROPN":
        end = doc[nxt].idx + len(doc[nxt].text)
        nxt += 1
    return start, end


def _sentence_subject(sent: object) -> tuple[int, int] | None:
    root = getattr(sent, "root", None)
    if root is None:
        return None
    for child in root.children:
        if child.dep_ in _SUBJ_DEPS:
            return _subject_phrase(child)
    return None


def _resolve_phrase(
    index: _DocIndex,
    analysis: EntityAnalysis,
    start: int,
    end: int,
    quote_pos: int,
    confidence: float,
) -> tuple[str, str | None, float] | None:
    """Map a speaker phrase to (speaker, speaker_id, confidence); None when it is not a speaker."""
    phrase = index.text[start:end].strip(" ,–—-\n")
    if not phrase:
        return None
    lowered = phrase.lower()
    if lowered in _PRONOUNS:
        m = _previous_subject_person(index, analysis, quote_pos) or (
            analysis.last_person_before(start, subject_only=True)
            or analysis.last_person_before(start, subject_only=False)
        )
        if m is None:
            return None
        return m.canonical, m.canonical_id, confidence * 0.85
    if lowered in {"it", "they", "we", "i", "you", "this", "that", "which", "there"}:
        return None
    mentions = analysis.mentions_in(start, end)
    people = [m for m in mentions if m.label == "PERSON"]
    if people:
        m = people[-1] if _last_is_head(phrase, people[-1]) else people[0]
        return m.canonical, m.canonical_id, confidence
    words = phrase.split()
    # A surname the tagger missed ("said Hass") maps to a person already named in the article.
    if len(words) == 1 and words[0][:1].isupper():
        m2 = analysis.person_by_surname(words[0])
        if m2 is not None:
            return m2.canonical, m2.canonical_id, confidence * 0.9
    # A name the tagger missed after a title ("spokesman Zhao Lijian"): trailing capitalised words.
    name = _trailing_name(words)
    if (
        name is None
        and 2 <= len(words) <= 3
        and words[0].lower() not in ("the", "a", "an")
        and all(w[:1].isupper() and w.isalpha() for w in words)
        and not any(m.label != "PERSON" for m in mentions)
    ):
        # A capitalised two/three-word subject of a reporting verb that NER missed is a person's name.
        name = " ".join(words)
    if name is not None:
        return name, canonical_id_for(name, "PERSON"), confidence * 0.8
    # "the minister said": a role description resolves to the person last named with that role.
    if lowered.startswith("the ") and len(words) <= 4:
        roles = roles_in(phrase)
        if roles:
            m3 = analysis.person_with_role(roles, quote_pos)
            if m3 is not None:
                return m3.canonical, m3.canonical_id, confidence * 0.8
    orgs: list[ResolvedMention] = [m for m in mentions if m.label in ("ORG", "NORP", "GPE")]
    description = _DESCRIPTION_CUT.sub("", " ".join(words)) or " ".join(words)
    if orgs:
        org = orgs[-1]
        return description, org.canonical_id, confidence * 0.8
    if any(w[:1].islower() for w in words) or lowered.startswith(("a ", "an ", "the ")):
        return description, None, confidence * 0.7
    return description, None, confidence * 0.6


def _last_is_head(phrase: str, m: ResolvedMention) -> bool:
    return phrase.rstrip().endswith(m.text)


def _trailing_name(words: list[str]) -> str | None:
    for i, w in enumerate(words):
        # A title ("spokesman") or any lowercase content word ("councillor") before a capitalised name.
        title = w.lower() in TITLE_WORDS or (w.isalpha() and w.islower() and w not in STOP_WORDS)
        if title and i + 1 < len(words):
            tail = words[i + 1 :]
            if 2 <= len(tail) <= 3 and all(t[:1].isupper() and t.isalpha() for t in tail):
                return " ".join(tail)
    return None


def _previous_subject_person(index: _DocIndex, analysis: EntityAnalysis, quote_pos: int) -> ResolvedMention | None:
    """The person who is the subject of the sentence just before the quote ("Okafor shook his head.
    “…,” he replied."), found through the parse even when NER missed the bare surname."""
    si = index.sent_index(quote_pos)
    if si <= 0:
        return None
    prev_sent = index.sents[si - 1]
    subj = next((c for c in prev_sent.root.children if c.dep_ in _SUBJ_DEPS), None)
    if subj is None or subj.pos_ != "PROPN":
        return None
    lo, hi = _subject_phrase(subj)
    people = [m for m in analysis.mentions_in(lo, hi) if m.label == "PERSON"]
    if people:
        return people[-1]
    return analysis.person_by_surname(subj.text)
