"""Word lists for quotes (package data, ``words.json``) and the verb forms derived from their lemmas.

Only lemmas are listed by hand; every inflected form a cue pattern needs ("said", "says", "tweeted")
comes from lemminflect, so the lemma list and the surface patterns cannot drift apart.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from lemminflect import getAllInflections, getAllInflectionsOOV

# Finite and bare forms a cue takes next to a quote ("said", "says", "say"); participles and -ing
# forms are left to the parse ("has said" is matched as auxiliary + past form).
_CUE_TAGS = ("VBD", "VBZ", "VBP", "VB", "VBN")


@dataclass(frozen=True)
class QuoteLexicon:
    reporting_lemmas: frozenset[str]
    # Lemmas that attribute only when they follow the quote ("…,” he continued; the statement read).
    after_only_lemmas: frozenset[str]
    cue_auxiliaries: frozenset[str]
    speaker_pronouns: frozenset[str]
    non_speaker_words: frozenset[str]
    source_nouns: frozenset[str]
    title_fillers: frozenset[str]
    description_cut_words: tuple[str, ...]
    speaker_followers: tuple[str, ...]
    # Titles before a name ("Sen.", "Director"): alone they name nobody.
    speaker_titles: frozenset[str]
    determiners: frozenset[str]

    def cue_forms(self, *, after_quote: bool) -> tuple[str, ...]:
        lemmas = self.reporting_lemmas | (self.after_only_lemmas if after_quote else frozenset())
        return verb_forms(tuple(sorted(lemmas)))

    def cue_regex(self, *, after_quote: bool) -> str:
        """Alternation of every cue form, longest first so "says" is not read as "say"."""
        forms = sorted(self.cue_forms(after_quote=after_quote), key=lambda f: (-len(f), f))
        return "|".join(re.escape(f) for f in forms)


@cache
def verb_forms(lemmas: tuple[str, ...]) -> tuple[str, ...]:
    forms: set[str] = set()
    for lemma in lemmas:
        inflections = getAllInflections(lemma, upos="VERB") or getAllInflectionsOOV(lemma, upos="VERB")
        for tag in _CUE_TAGS:
            forms.update(inflections.get(tag, ()))
        forms.add(lemma)
    return tuple(sorted(forms))


@cache
def load_lexicon() -> QuoteLexicon:
    raw = json.loads(resources.files("services.enrich.quotes").joinpath("words.json").read_text(encoding="utf-8"))
    return QuoteLexicon(
        reporting_lemmas=frozenset(raw["reporting_lemmas"]),
        after_only_lemmas=frozenset(raw["cue_after_verbs_only"]),
        cue_auxiliaries=frozenset(raw["cue_auxiliaries"]),
        speaker_pronouns=frozenset(raw["speaker_pronouns"]),
        non_speaker_words=frozenset(raw["non_speaker_words"]),
        source_nouns=frozenset(raw["source_nouns"]),
        title_fillers=frozenset(raw["title_fillers"]),
        description_cut_words=tuple(raw["description_cut_words"]),
        speaker_followers=tuple(raw["speaker_followers"]),
        speaker_titles=frozenset(raw["speaker_titles"]),
        determiners=frozenset(raw["determiners"]),
    )
