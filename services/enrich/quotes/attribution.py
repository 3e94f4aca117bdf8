"""Who said a quotation, from a parsed ``Doc`` and the article's ``EntityAnalysis`` (pure).

Evidence, most specific first:

a. a cue right after the closing mark: ``…,” Lavrov said`` / ``…,” said X`` / ``» – X said`` /
   ``…,” according to X``;
b. before the quote in its sentence: ``quoted X as saying``, ``according to X,``, then the closest
   reporting verb (or a sentence ending in a colon) and its ``nsubj`` from the dependency parse,
   walking up through ``by saying``-style clauses;
c. a quote standing alone right after another attributed quote inherits its speaker;
d. a standalone quote after a sentence whose subject is a person or a described source takes that
   subject, with low confidence;
e. a quote after a colon ending a clause that is not a report ("X was more cautious: «…»") takes that
   clause's subject when it is a person (or a person in apposition to it).

The speaker phrase is then resolved (``resolve_speaker``): a PERSON mention inside it gives the
canonical name; a name in apposition to a description ("the goalkeeper, Ana Ruiz") gives that name;
he/she gives the person who is the subject of the sentence before the quote, else the speaker of the
previous quote, else the most recent PERSON that was a grammatical subject; a surname alone or after a
title ("Mr. Okafor") gives the full name from the article; a role description ("the minister") gives
the person last named with that role. Otherwise the phrase itself, cut before a participle or relative
clause, is kept as the description of an unnamed source, with lower confidence. A bare title word
("Dr", "Sen.") is never a speaker.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, replace
from functools import cache

from spacy.attrs import IDX, SENT_START
from spacy.lang.en.stop_words import STOP_WORDS
from spacy.tokens import Doc, Span, Token

from services.enrich.entities import TITLE_WORDS, EntityAnalysis, ResolvedMention, canonical_id_for, roles_in
from services.enrich.quotes.lexicon import QuoteLexicon, load_lexicon
from services.enrich.quotes.spans import QuoteSpan

_SUBJ_DEPS = ("nsubj", "nsubjpass")
# Clauses through which a reporting verb inherits the subject of its head ("he echoed X by saying").
_CLIMB_DEPS = frozenset({"xcomp", "advcl", "pcomp", "conj", "prep", "ccomp", "acl"})
_SPEAKER_LABELS_ORG = ("ORG", "NORP", "GPE")
_SENTENCE_END = re.compile(r"[.!?…](?:[”\"’)]|'')*\s+")
# Abbreviations that end in a full stop inside a sentence (lower-cased, without the stop).
_ABBREVIATIONS = frozenset(
    {"mr", "mrs", "ms", "dr", "gov", "sen", "rep", "gen", "lt", "col", "sgt", "st", "jr", "sr", "rev", "prof"}
    | {"u.s", "u.k", "u.n", "d.c", "no", "vs", "inc", "co", "corp", "jan", "feb", "aug", "sept", "oct", "nov"}
    | {"dec", "capt", "adm", "cmdr", "supt", "ft", "mt", "atty", "pres", "e.g", "i.e", "a.m", "p.m", "r", "d"}
)
_SIGN_OFF = re.compile(r"\n+[ \t]*[-–—]+[ \t]*(?P<spk>[A-Z][\w.’'-]*(?:[ \t]+[A-Z][\w.’'-]*){0,3})\.?[ \t]*(?:\n|$)")
_POSSESSIVE = re.compile(r"[’']s?$")
_TITLE_KEYS = frozenset(w.lower().rstrip(".") for w in TITLE_WORDS)
_MENTION_EDGES = " ,–—-\n"  # punctuation and space around a speaker phrase that are not part of it


@dataclass(frozen=True)
class MentionSpan:
    """Where the attribution names its speaker, as written (character offsets into the text)."""

    start: int
    end: int


@dataclass(frozen=True)
class Speaker:
    name: str
    speaker_id: str | None
    confidence: float
    is_person: bool
    mention: MentionSpan | None = None


@dataclass(frozen=True)
class Attribution:
    speaker: Speaker | None
    cue: str | None
    # The reporting verb sits in the quote's own sentence before it ("Smith said the plan was “…”").
    verb_before: bool = False


NO_ATTRIBUTION = Attribution(None, None)


@dataclass(frozen=True)
class _CuePatterns:
    after_verb_first: re.Pattern[str]
    after_subject_first: re.Pattern[str]
    after_subject_first_longest: re.Pattern[str]
    after_according: re.Pattern[str]
    before_according: re.Pattern[str]
    before_quoted_as: re.Pattern[str]
    before_name_colon: re.Pattern[str]


# A full stop after a title or an initial ("Mr. Okafor", "Ana B. Ruiz") does not end a speaker phrase:
# cue patterns run on a copy of the text where such stops are masked (same length, so offsets hold).
_ABBREVIATION_STOP = re.compile(
    r"\b(?:Mr|Mrs|Ms|Dr|Gov|Sen|Rep|Reps|Gen|Lt|Col|Sgt|St|Jr|Sr|Rev|Prof|Capt|Adm|Cmdr|Atty|Ft|Mt|[A-Z])\.(?=[\s,A-Z)])"
)
_MASKED_STOP = "\u2024"


def mask_abbreviations(text: str) -> str:
    return _ABBREVIATION_STOP.sub(lambda m: m.group()[:-1] + _MASKED_STOP, text)


@cache
def _patterns() -> _CuePatterns:
    lex = load_lexicon()
    verbs_after = lex.cue_regex(after_quote=True)
    spk = r"(?P<spk>[^,.;:!?\n“”\"«»„]{1,90}?)"
    pre = r"^\s*[,.!?;:]?\s*(?:[–—-]+\s*)?"
    followers = "|".join(re.escape(w) for w in lex.speaker_followers)
    auxiliaries = "|".join(re.escape(w) for w in sorted(lex.cue_auxiliaries))
    return _CuePatterns(
        after_verb_first=re.compile(
            pre + rf"(?P<cue>{verbs_after})\s+" + spk + rf"(?=\s*[,.;:!?\n]|\s+(?:{followers})\b|\s*$)"
        ),
        # "…,” Lena Voss, a veteran party strategist, said": an apposition between name and verb.
        after_subject_first=re.compile(
            pre + spk + r"(?:,[^“”\"«»„\n]{1,140}?,)?" + rf"\s+(?:(?:{auxiliaries})\s+)*(?P<cue>{verbs_after})\b"
        ),
        # The same with the longest speaker: "…,” the audit report stated" where "report" could be the cue.
        after_subject_first_longest=re.compile(
            pre + spk.replace("{1,90}?", "{1,90}") + rf"\s+(?:(?:{auxiliaries})\s+)*(?P<cue>{verbs_after})\b"
        ),
        after_according=re.compile(pre + r"(?P<cue>according to)\s+" + spk + r"(?=\s*[,.;:!?\n]|\s*$)", re.I),
        before_according=re.compile(r"(?P<cue>according to)\s+" + spk + r"\s*,\s*$", re.I),
        before_quoted_as=re.compile(r"(?P<cue>quoted)\s+" + spk + r"\s+as\s+saying\b[^“”\"«»„]*$", re.I),
        # A transcript or interview line: "Okafor: “We will rebuild …”".
        before_name_colon=re.compile(r"^\s*(?P<spk>(?:[A-Z][\w’'\u2024-]*\s+){0,3}[A-Z][\w’'\u2024-]*)(?P<cue>:)\s*$"),
    )


class DocIndex:
    """Char-offset lookups into a Doc, built once per document that has a quotation.

    Token offsets and sentence starts are read as whole arrays (``Doc.to_array``): iterating
    ``Doc.sents`` or the tokens creates a Python object per token and cost most of quote extraction.
    """

    def __init__(self, doc: Doc, text: str | None = None) -> None:
        self.doc = doc
        self.text = doc.text if text is None else text  # Doc.text joins every token: read it once
        self.tok_starts: list[int] = doc.to_array([IDX]).tolist() if len(doc) else [0]
        if len(doc) and doc.has_annotation("SENT_START"):
            flags = doc.to_array([SENT_START]).tolist()
            starts = [0] + [i for i in range(1, len(flags)) if flags[i] == 1]
        else:
            starts = [0]
        self._sent_tokens = [*starts, len(doc)]
        self.sent_starts = [self.tok_starts[i] if i < len(doc) else len(self.text) for i in starts]
        self.genders: dict[str, str] | None = None  # filled on the first he/she (see _honorific_genders)

    def sent(self, si: int) -> Span:
        return self.doc[self._sent_tokens[si] : self._sent_tokens[si + 1]]

    def token_at(self, offset: int) -> int:
        return max(0, bisect.bisect_right(self.tok_starts, offset) - 1)

    def sent_index(self, offset: int) -> int:
        return max(0, bisect.bisect_right(self.sent_starts, offset) - 1)


@dataclass(frozen=True)
class QuoteContext:
    """Where a quotation sits: its span and the text of its sentence before the opening mark."""

    span: QuoteSpan
    before: str

    @property
    def before_start(self) -> int:
        return self.span.open_pos - len(self.before)

    @property
    def standalone(self) -> bool:
        return not self.before.strip()


def sentence_before(index: DocIndex, span: QuoteSpan) -> str:
    """Text between the start of the quote's sentence (within its paragraph) and the opening mark."""
    si = index.sent_index(span.open_pos)
    start = max(index.sent_starts[si], span.first_para_start)
    before = index.text[start : span.open_pos]
    # The parser often runs a sentence on into the quote that follows it ("… Mr. Okafor said. ''And then
    # …''"): the last sentence end before the mark is the real start.
    cut = 0
    for m in _SENTENCE_END.finditer(before):
        word = before[: m.start()].rsplit(None, 1)[-1] if before[: m.start()].strip() else ""
        if word.lower().strip("(\"“'") in _ABBREVIATIONS or (len(word) == 1 and word.isupper()):
            continue  # "Mr. Okafor", "Ana B. Ruiz": not a sentence end
        if m.end() == len(before) or before[m.end()].isupper() or before[m.end()] in "“\"'‘":
            cut = m.end()
    return before[cut:]


def attribute(
    index: DocIndex,
    analysis: EntityAnalysis,
    ctx: QuoteContext,
    previous: tuple[QuoteSpan, Attribution] | None,
) -> Attribution:
    found = _cue_after(index, analysis, ctx)
    if found is not None:
        return found
    found = _cue_before(index, analysis, ctx)
    if found is not None:
        return found
    if ctx.standalone:
        return _standalone(index, analysis, ctx, previous)
    return NO_ATTRIBUTION


def _cue_after(index: DocIndex, analysis: EntityAnalysis, ctx: QuoteContext) -> Attribution | None:
    span = ctx.span
    text = index.text
    after = mask_abbreviations(text[span.close_end : min(span.para_end, span.close_end + 220)])
    # A quote closed by a full stop ends its sentence, so words after it start a new sentence
    # ("… cooperation.” He emphasised that …") unless a dash or comma ties them to the quote.
    if span.text.endswith(".") and not re.match(r"\s*[,–—-]", after):
        return None
    pats = _patterns()
    rules = (
        (pats.after_verb_first, 0.9),
        (pats.after_subject_first, 0.9),
        (pats.after_subject_first_longest, 0.9),
        (pats.after_according, 0.8),
    )
    for rx, conf in rules:
        m = rx.match(after)
        if m and rx is not pats.after_according and not _is_verb(index, span.close_end + m.start("cue")):
            continue  # "report", "post", "tweet" as nouns
        if m and _plausible_speaker(m.group("spk")):
            start, end = span.close_end + m.start("spk"), span.close_end + m.end("spk")
            speaker = resolve_speaker(index, analysis, start, end, span.open_pos, conf)
            if speaker is not None:
                return Attribution(speaker, m.group("cue").lower())
    return None


def _cue_before(index: DocIndex, analysis: EntityAnalysis, ctx: QuoteContext) -> Attribution | None:
    pats = _patterns()
    before = mask_abbreviations(ctx.before)
    for rx in (pats.before_quoted_as, pats.before_according, pats.before_name_colon):
        m = rx.search(before)
        if m and _plausible_speaker(m.group("spk")):
            speaker = resolve_speaker(
                index,
                analysis,
                ctx.before_start + m.start("spk"),
                ctx.before_start + m.end("spk"),
                ctx.span.open_pos,
                0.85,
            )
            if speaker is not None:
                cue = m.group("cue").lower()
                return Attribution(speaker, None if cue == ":" else cue)
    return _dependency_attribution(index, analysis, ctx)


def _standalone(
    index: DocIndex,
    analysis: EntityAnalysis,
    ctx: QuoteContext,
    previous: tuple[QuoteSpan, Attribution] | None,
) -> Attribution:
    span = ctx.span
    # A sign-off line under a quoted paragraph ("“…”" / "- Ana Ruiz.").
    nxt = _SIGN_OFF.match(index.text, span.para_end)
    if nxt is not None and not index.text[span.close_end : span.para_end].strip():
        speaker = resolve_speaker(index, analysis, nxt.start("spk"), nxt.end("spk"), span.open_pos, 0.8)
        if speaker is not None and speaker.is_person:
            return Attribution(speaker, None)
    # c. Continuation of the previous quote's speaker (same or directly preceding paragraph).
    if previous is not None and previous[1].speaker is not None:
        gap = mask_abbreviations(index.text[previous[0].close_end : span.open_pos])
        if gap.count("\n") <= 2 and len(gap) < 200 and not re.search(r"[.!?]\s+\w+[^.]*[.!?]", gap):
            prev = previous[1].speaker
            inherited = replace(prev, confidence=min(prev.confidence * 0.75, 0.65))
            return Attribution(inherited, previous[1].cue)
    # d. Subject of the previous sentence.
    si = index.sent_index(span.open_pos)
    if si > 0:
        subj = _sentence_subject(index.sent(si - 1))
        if subj is not None:
            speaker = resolve_speaker(index, analysis, subj[0], subj[1], span.open_pos, 0.5)
            if speaker is not None:
                return Attribution(speaker, None)
    return NO_ATTRIBUTION


def _is_verb(index: DocIndex, offset: int) -> bool:
    return index.doc[index.token_at(offset)].pos_ in ("VERB", "AUX")


def _plausible_speaker(phrase: str) -> bool:
    lex = load_lexicon()
    words = phrase.split()
    if not words or len(words) > 9:
        return False
    first = words[0]
    if first[0].isupper() or first.lower() in {"he", "she", "a", "an", "the", "one", "his", "her"}:
        return True
    # "said ministry spokeswoman Irina Belova": a lowercase title/source noun leading a speaker phrase.
    lowered = {w.lower() for w in words}
    return bool(lowered & (TITLE_WORDS | lex.source_nouns)) or any(w[:1].isupper() for w in words[1:])


def _dependency_attribution(index: DocIndex, analysis: EntityAnalysis, ctx: QuoteContext) -> Attribution | None:
    """Closest reporting verb before the quote in its sentence (or a colon-ended previous sentence)."""
    doc = index.doc
    span = ctx.span
    lex = load_lexicon()
    ranges: list[tuple[int, int, bool]] = []
    if span.open_pos > ctx.before_start:
        ranges.append((index.token_at(ctx.before_start), index.token_at(span.open_pos), True))
    si = index.sent_index(span.open_pos)
    if si > 0 and index.sent_starts[si - 1] >= span.first_para_start:
        prev_sent = index.sent(si - 1)
        if prev_sent.text.rstrip().endswith(":") or (ctx.standalone and prev_sent.text.rstrip().endswith(",")):
            ranges.append((prev_sent.start, prev_sent.end, False))
    for lo, hi, same_sentence in ranges:
        for ti in range(hi - 1, lo - 1, -1):
            tok = doc[ti]
            if tok.idx >= span.open_pos or tok.pos_ not in ("VERB", "AUX"):
                continue
            if tok.lemma_.lower() not in lex.reporting_lemmas:
                continue
            subj = _subject_of(tok)
            if subj is None:
                continue
            speaker = _resolve_subject(index, analysis, subj, span.open_pos, 0.85)
            if speaker is not None:
                return Attribution(speaker, tok.text.lower(), verb_before=same_sentence)
    if ranges and index.text[ctx.before_start : span.open_pos].rstrip().endswith(":"):
        # e. "The chief engineer, Aigerim Bekova, was more cautious: «…»": the clause's subject speaks.
        lo, hi, _same = ranges[0]
        root = doc[max(lo, hi - 1)].sent.root
        subj = next((c for c in root.children if c.dep_ in _SUBJ_DEPS), None)
        if subj is not None and subj.idx < span.open_pos:
            speaker = _resolve_subject(index, analysis, subj, span.open_pos, 0.6)
            if speaker is not None and speaker.is_person:
                return Attribution(speaker, None)
    return None


def _resolve_subject(
    index: DocIndex, analysis: EntityAnalysis, subj: Token, quote_pos: int, confidence: float
) -> Speaker | None:
    """A subject token's phrase as a speaker, preferring a name in apposition ("the goalkeeper, Ana Ruiz")."""
    for appos in (c for c in subj.children if c.dep_ == "appos"):
        lo, hi = subject_phrase(appos)
        speaker = resolve_speaker(index, analysis, lo, hi, quote_pos, confidence)
        if speaker is not None and speaker.is_person:
            return speaker
    lo, hi = subject_phrase(subj)
    return resolve_speaker(index, analysis, lo, hi, quote_pos, confidence)


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


def subject_phrase(subj: Token) -> tuple[int, int]:
    """Char bounds of the subject noun phrase without relative clauses or appositions after the head."""
    start = subj.left_edge.idx
    end = subj.idx + len(subj.text)
    # Keep a flat name continuing to the right ("Wang Yi" where the parser made "Wang" the head).
    nxt = subj.i + 1
    doc = subj.doc
    while nxt < len(doc) and doc[nxt].dep_ in ("compound", "flat", "appos") and doc[nxt].pos_ == "PROPN":
        end = doc[nxt].idx + len(doc[nxt].text)
        nxt += 1
    return start, end


def _sentence_subject(sent: Span) -> tuple[int, int] | None:
    for child in sent.root.children:
        if child.dep_ in _SUBJ_DEPS:
            return subject_phrase(child)
    return None


def _person(m: ResolvedMention, confidence: float) -> Speaker:
    return Speaker(m.canonical, m.canonical_id, confidence, True)


def resolve_speaker(
    index: DocIndex,
    analysis: EntityAnalysis,
    start: int,
    end: int,
    quote_pos: int,
    confidence: float,
) -> Speaker | None:
    """Map a speaker phrase to a Speaker (with where the phrase stands); None when it is not a speaker."""
    raw = index.text[start:end]
    phrase = raw.strip(_MENTION_EDGES)
    if not phrase:
        return None
    speaker = _speaker_for_phrase(index, analysis, phrase, start, end, quote_pos, confidence)
    if speaker is None:
        return None
    mention_start = start + len(raw) - len(raw.lstrip(_MENTION_EDGES))
    return replace(speaker, mention=MentionSpan(mention_start, mention_start + len(phrase)))


def _speaker_for_phrase(
    index: DocIndex,
    analysis: EntityAnalysis,
    phrase: str,
    start: int,
    end: int,
    quote_pos: int,
    confidence: float,
) -> Speaker | None:
    lex = load_lexicon()
    lowered = phrase.lower()
    if lowered in lex.speaker_pronouns:
        m = _pronoun_referent(index, analysis, lowered, start, quote_pos)
        return None if m is None else _person(m, confidence * 0.85)
    if lowered in lex.non_speaker_words:
        return None
    words = phrase.split()
    if all(w.lower().rstrip(".\u2024") in _TITLE_KEYS | lex.speaker_titles for w in words):
        return None  # a bare title ("Dr", "Sen.") names nobody
    mentions = analysis.mentions_in(start, end)
    people = [m for m in mentions if m.label == "PERSON"]
    # "a former Ruiz aide", "Okafor’s office": a name modifying a described source is not the speaker.
    described = words[-1].isalpha() and words[-1].islower() and len(words) > 1
    if people and not described:
        m = people[-1] if phrase.rstrip().endswith(people[-1].text) else people[0]
        return _person(m, confidence)
    # A surname the tagger missed ("said Hass", "Mr. Okafor") maps to a person already named in the article.
    names = [w for w in words if w.lower().rstrip(".\u2024") not in _TITLE_KEYS | lex.speaker_titles]
    if len(names) == 1 and names[0][:1].isupper():
        m2 = analysis.person_by_surname(_POSSESSIVE.sub("", names[0]))
        if m2 is not None:
            return _person(m2, confidence * 0.9)
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
        return Speaker(name, canonical_id_for(name, "PERSON"), confidence * 0.8, True)
    # "the minister said": a role description resolves to the person last named with that role.
    if lowered.startswith("the ") and len(words) <= 4:
        roles = roles_in(phrase)
        if roles:
            m3 = analysis.person_with_role(roles, quote_pos)
            if m3 is not None:
                return _person(m3, confidence * 0.8)
    description = _cut_description(" ".join(words), lex)
    orgs = [m for m in mentions if m.label in _SPEAKER_LABELS_ORG]
    if orgs:
        return Speaker(description, orgs[-1].canonical_id, confidence * 0.8, False)
    if any(w[:1].islower() for w in words) or lowered.startswith(("a ", "an ", "the ")):
        return Speaker(description, None, confidence * 0.7, False)
    return Speaker(description, None, confidence * 0.6, False)


def _cut_description(phrase: str, lex: QuoteLexicon) -> str:
    """A described source ends before a participle or relative clause ("a statement released by …")."""
    words = phrase.split()
    for i, w in enumerate(words):
        if i > 0 and w.lower() in lex.description_cut_words:
            return " ".join(words[:i])
    return phrase


def _trailing_name(words: list[str]) -> str | None:
    for i, w in enumerate(words):
        # A title ("spokesman") or any lowercase content word ("councillor") before a capitalised name.
        title = w.lower() in TITLE_WORDS or (w.isalpha() and w.islower() and w not in STOP_WORDS)
        if title and i + 1 < len(words):
            tail = words[i + 1 :]
            if 2 <= len(tail) <= 3 and all(t[:1].isupper() and t.isalpha() for t in tail):
                return " ".join(tail)
    return None


def _pronoun_referent(
    index: DocIndex, analysis: EntityAnalysis, pronoun: str, start: int, quote_pos: int
) -> ResolvedMention | None:
    """he/she: the subject of the sentence before the quote, else the most recent person who was a
    subject, else the most recent person; a person the article calls Mr. is never "she" (nor Mrs./Ms.
    "he")."""
    if index.genders is None:
        index.genders = _honorific_genders(index, analysis)
    genders = index.genders

    def agrees(m: ResolvedMention) -> bool:
        g = genders.get(m.canonical_id)
        return g is None or g == ("f" if pronoun == "she" else "m")

    m = _previous_subject_person(index, analysis, quote_pos)
    if m is not None and agrees(m):
        return m
    for subject_only in (True, False):
        for cand in reversed(analysis.mentions):
            if cand.end > start or cand.label != "PERSON" or (subject_only and not cand.is_subject):
                continue
            if agrees(cand):
                return cand
    return None


_HONORIFIC = re.compile(r"\b(?P<h>Mr|Mrs|Ms|Miss)\.?\s+$")


def _honorific_genders(index: DocIndex, analysis: EntityAnalysis) -> dict[str, str]:
    """canonical_id -> "m"/"f" for people the article names with Mr. or Mrs./Ms./Miss (never guessed
    from first names); a person seen with both gets none."""
    out: dict[str, str] = {}
    conflicting: set[str] = set()
    for m in analysis.mentions:
        if m.label != "PERSON":
            continue
        h = _HONORIFIC.search(index.text, max(0, m.start - 6), m.start)
        if h is None:
            continue
        g = "m" if h.group("h") == "Mr" else "f"
        if out.get(m.canonical_id, g) != g:
            conflicting.add(m.canonical_id)
        out[m.canonical_id] = g
    return {k: v for k, v in out.items() if k not in conflicting}


def _previous_subject_person(index: DocIndex, analysis: EntityAnalysis, quote_pos: int) -> ResolvedMention | None:
    """The person who is the subject of the sentence just before the quote ("Okafor shook his head.
    “…,” he replied."), found through the parse even when NER missed the bare surname."""
    si = index.sent_index(quote_pos)
    if si <= 0:
        return None
    prev_sent = index.sent(si - 1)
    subj = next((c for c in prev_sent.root.children if c.dep_ in _SUBJ_DEPS), None)
    if subj is None or subj.pos_ != "PROPN":
        return None
    lo, hi = subject_phrase(subj)
    people = [m for m in analysis.mentions_in(lo, hi) if m.label == "PERSON"]
    if people:
        return people[-1]
    return analysis.person_by_surname(subj.text)
