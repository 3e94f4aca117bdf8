"""Canonical entity ids: one documented normal form, the same for every article.

An id is ``<family>:<slug>``:

* ``family`` is ``place`` for GPE/LOC/FAC and the lower-cased spaCy label otherwise (``person``, ``org``,
  ``norp``, ``event``, ``product``, ``work_of_art``, ``law``). Dates, times and numbers (``VALUE_LABELS``)
  get no id at all: they are values, not entities.
* ``slug`` is the name without a leading "the" or a trailing possessive, transliterated to ASCII with
  anyascii (any script: Лавров -> lavrov, 李强 -> li-qiang, 习近平 -> xi-jinping: a run of Han or Hangul
  syllables is a one-syllable surname and a given name), lower-cased
  and split on anything that is not a letter or a digit, the words joined by ``-``. Digits and initials
  are kept: G7 -> ``org:g7``, Boeing 737 -> ``product:boeing-737``, George H. W. Bush ->
  ``person:george-h-w-bush``.
* PERSON words are also folded so that transliteration variants meet: ``ks`` -> ``x``, a final
  ``ey/ei/ej/ij/iy/yy/y`` -> ``i`` and a ``y`` between consonants -> ``i`` (words of three letters or more),
  doubled letters collapsed; Sergey, Sergei and Сергей all become ``sergi``, Volodymyr and Володимир
  ``volodimir``. A Russian patronymic in the middle (-ovich, -evna, ...) is dropped.
* Places take the gazetteer key (see ``gazetteer.py``): US, USA, United States of America -> ``place:united-states``.
  Other families take the short-form table in ``entity_aliases.json`` (UN -> ``org:united-nations``).

Two names share an id exactly when their slugs are equal after these steps; the store then keeps one
canonical name per id for every article (see the README, "Entities across articles").
"""

from __future__ import annotations

import json
import re
import unicodedata
from functools import lru_cache
from importlib import resources

from anyascii import anyascii

from services.enrich.gazetteer import Gazetteer, load_gazetteer

PLACE_LABELS = frozenset({"GPE", "LOC", "FAC"})
NAMED_LABELS = frozenset({"PERSON", "ORG", "GPE", "LOC", "FAC", "NORP", "EVENT", "PRODUCT", "WORK_OF_ART", "LAW"})
# spaCy labels that are values (when, how much), kept on the article as values and never given an id.
VALUE_LABELS = frozenset({"DATE", "TIME", "PERCENT", "MONEY", "QUANTITY", "ORDINAL", "CARDINAL"})

_FINAL_VOWEL_Y = re.compile(r"(?:ey|ei|ej|iy|yy|ij|y)$")
_DOUBLED_LETTER = re.compile(r"([a-z])\1+")
# A y between consonants is the vowel i in most romanisations: Volodymyr/Володимир, Denys/Денис.
_CONSONANT_Y = re.compile(r"(?<=[b-df-hj-np-tv-z])y(?=[b-df-hj-np-tv-z])")
_WORD = re.compile(r"[a-z0-9]+")
# Apostrophes inside a word (O'Brien, the soft sign of Зеленський -> Zelens'kyi) do not split it.
_INNER_APOSTROPHE = re.compile(r"(?<=[a-z])['’ʹʼ](?=[a-z])")
_PATRONYMIC = re.compile(r"(?:ovich|evich|ovna|evna|ichna)$")
_POSSESSIVE = re.compile(r"(?:['’]s|['’])$")


def _syllabic(ch: str) -> bool:
    """Han ideographs and Hangul syllables: one is a whole syllable, written without spaces."""
    name = unicodedata.name(ch, "")
    return name.startswith(("CJK UNIFIED IDEOGRAPH", "CJK COMPATIBILITY IDEOGRAPH", "HANGUL SYLLABLE"))


def _syllable_run(syllables: list[str]) -> str:
    # A Chinese or Korean name is a one-syllable surname and a given name written as one word:
    # 习近平 -> "Xi Jinping", 李强 -> "Li Qiang", as news romanises them.
    return f" {syllables[0]} {''.join(syllables[1:]).capitalize()} " if len(syllables) > 1 else f" {syllables[0]} "


def transliterate(name: str) -> str:
    """``name`` in ASCII: anyascii per character; a run of Han/Hangul syllables reads as surname + given
    name ("Li Qiang", "Xi Jinping") rather than "LiQiang"."""
    if name.isascii():
        return name
    parts: list[str] = []
    run: list[str] = []
    for ch in name:
        if _syllabic(ch):
            run.append(anyascii(ch))
            continue
        if run:
            parts.append(_syllable_run(run))
            run = []
        parts.append(ch if ch.isascii() else anyascii(ch))
    if run:
        parts.append(_syllable_run(run))
    return "".join(parts)


# Names repeat across and within articles: the pure steps below are memoised (bounded) per process.
_CACHE = 1 << 16


@lru_cache(maxsize=_CACHE)
def words_of(name: str) -> tuple[str, ...]:
    """The lower-case ASCII words (letters and digits) of ``name``."""
    return tuple(_WORD.findall(_INNER_APOSTROPHE.sub("", transliterate(name).lower())))


@lru_cache(maxsize=_CACHE)
def fold_token(token: str) -> str:
    """Fold one name word so transliteration variants compare equal (see module docstring)."""
    s = "".join(words_of(token))
    if len(s) > 2 and not s.isdigit():
        s = s.replace("ks", "x")
        s = _FINAL_VOWEL_Y.sub("i", s)
        s = _CONSONANT_Y.sub("i", s)
    return _DOUBLED_LETTER.sub(r"\1", s)


def label_family(label: str) -> str:
    if label in PLACE_LABELS:
        return "place"
    return label.lower()


@lru_cache(maxsize=1)
def _short_forms() -> dict[str, dict[str, str]]:
    raw = (resources.files("services.enrich") / "entity_aliases.json").read_text(encoding="utf-8")
    data: dict[str, dict[str, str]] = json.loads(raw)["by_family"]
    return data


def _strip_name(name: str) -> str:
    name = _POSSESSIVE.sub("", name.strip())
    if name[:4].lower() == "the ":
        name = name[4:]
    return name


def slug_of(name: str, label: str, gazetteer: Gazetteer | None = None) -> str:
    """The slug part of the id of ``name`` (see module docstring)."""
    name = _strip_name(name)
    if label == "PERSON":
        folded = [fold_token(w) for w in words_of(name)]
        words = [w for i, w in enumerate(folded) if w and not (0 < i < len(folded) - 1 and _PATRONYMIC.search(w))]
        return "-".join(words)
    key = "-".join(words_of(name))
    family = label_family(label)
    if family == "place":
        return (gazetteer or load_gazetteer()).place_key(key)
    return _short_forms().get(family, {}).get(key, key)


@lru_cache(maxsize=_CACHE)
def canonical_id_for(name: str, label: str) -> str:
    """Id shared by spelling variants of ``name`` across articles; ``label`` must be a named label."""
    return f"{label_family(label)}:{slug_of(name, label)}"
