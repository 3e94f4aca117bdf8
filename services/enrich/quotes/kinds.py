"""What a quotation is: a whole statement, quoted words inside indirect speech, or a term (pure).

Measured on PolNeAR's train split (where the quote sits in its sentence vs how annotators classed it):
a quote that starts its sentence, or follows a colon or comma, is a whole statement; a quote after
"that" or woven into the reporter's clause ("said the plan was “dead on arrival”") is partial; one to
three quoted words inside a sentence are a term or scare quote (the writer's distance, not speech)
unless a person is reported saying them ("Ruiz said the deal was “historic”": partial).
"""

from __future__ import annotations

import re

from services.contracts.events import QuoteKind
from services.enrich.quotes.attribution import Attribution
from services.enrich.quotes.lexicon import load_lexicon
from services.enrich.quotes.spans import QuoteSpan

_WORD = re.compile(r"\w+")
TERM_MAX_WORDS = 3
_TITLE_MAX_WORDS = 6
_LEADS_IN = (":", ",", "–", "—", "-", "(")


def is_title_or_nickname(span: QuoteSpan, before: str) -> bool:
    """A short span inside a sentence whose words are all capitalised (fillers aside) names something
    ("her novel “The Salt Road,”", Kwame “The Hammer” Mensah)."""
    if not before.strip() or before.rstrip().endswith(":"):
        return False
    words = span.text.rstrip(",").split()
    if not words or len(words) > _TITLE_MAX_WORDS or span.text.rstrip().endswith((".", "!", "?")):
        return False
    if not words[0][:1].isupper():
        return False
    fillers = load_lexicon().title_fillers
    return all(w[:1].isupper() or w.lower() in fillers for w in words)


def classify(span: QuoteSpan, before: str, attribution: Attribution, *, cue_adjacent: bool) -> QuoteKind:
    """``cue_adjacent``: a cue right after the closing mark, or a reporting verb ending ``before``."""
    n_words = len(_WORD.findall(span.text))
    tail = before.rstrip()
    if not tail:
        # A quoted sentence standing on its own is a full quote however short; a stray short
        # capitalised label ("“Related:”") is not.
        if n_words <= TERM_MAX_WORDS and attribution.speaker is None and not span.text.endswith((".", "!", "?")):
            return QuoteKind.TERM
        return QuoteKind.FULL
    if tail.endswith(_LEADS_IN):
        last_word = tail[:-1].rsplit(None, 1)[-1].lower() if tail[:-1].strip() else ""
        # "He said, “No way.”": the verb right before the mark attributes the short quote.
        verb_led = last_word in load_lexicon().cue_forms(after_quote=False)
        if n_words <= TERM_MAX_WORDS and not cue_adjacent and not verb_led:
            return QuoteKind.TERM
        return QuoteKind.FULL
    if n_words <= TERM_MAX_WORDS:
        # "Ruiz said the deal was “historic”" is Ruiz's word; "Critics say the “consultation” …" and
        # "the opposition called it a “cosmetic exercise”" keep the writer's distance from a group.
        speaker = attribution.speaker
        return QuoteKind.PARTIAL if speaker is not None and speaker.is_person else QuoteKind.TERM
    # After "that" or inside the reporter's clause the quote carries the speaker's words within
    # indirect speech (PolNeAR's annotators class these as mixed, not direct, 64 to 1 after "that").
    return QuoteKind.PARTIAL
