"""A small stopword-ratio language guesser, used when the page does not declare its language.

No language-identification library is installed, and news text is long enough that counting
function words is reliable for the handful of languages the pipeline sees. It answers None rather
than guessing when the text is short or no language clearly wins.
"""

from __future__ import annotations

import re

__all__ = ["detect_language", "normalise_language_tag"]


def _words(spaced: str) -> frozenset[str]:
    return frozenset(spaced.split())


# Frequent function words per language. Words shared by several languages (e.g. "a", "de", "la")
# are left out of all but one list or out entirely, so that a hit is evidence for one language.
_STOPWORDS: dict[str, frozenset[str]] = {
    "en": _words(
        "the and of to in is that for it with as was on by at from are be this have has had not but "
        "which were their they an its been would will said who after over also than more about"
    ),
    "de": _words(
        "der die und das ist nicht mit den von zu sich auf für dem ein eine einer auch es im nach "
        "wird wurde bei aus sind oder noch wie über hat haben dass sie"
    ),
    "fr": _words(
        "le les et des du une est pour qui dans sur au pas par avec sont ce cette il elle ont été "
        "aux mais ou leur comme plus nous selon"
    ),
    "es": _words(
        "el los las del que y en por con una para es su al lo como pero sus fue ha han este esta "
        "más entre sobre también según"
    ),
    "it": _words(
        "il di che della delle dei gli per una sono nel nella alla con anche come questo stato "
        "è ha non più tra dalla degli"
    ),
    "pt": _words("o os da do das dos que em um uma para com não é mais pelo pela foi são ao seu sua também como entre"),
    "nl": _words(
        "de het een van en in is dat op te zijn met voor niet aan er ook als bij door maar naar worden wordt heeft"
    ),
    "ru": _words(
        "и в не на что с по как к из за от о это его для же но был была были так также при уже или только он она они"
    ),
}
# "de" and "in" are frequent in several languages; count them nowhere.
_AMBIGUOUS = frozenset({"de", "in", "en", "a", "e", "la", "un", "het"})

_TOKEN = re.compile(r"[^\W\d_]+")
_MIN_TOKENS = 20
_MIN_SHARE = 0.12  # share of tokens that must be stopwords of the winner
_MIN_MARGIN = 1.5  # the winner must beat the runner-up by this factor


def detect_language(text: str) -> str | None:
    """ISO 639-1 code of the dominant language of ``text``, or None if not confident."""
    tokens = [t.casefold() for t in _TOKEN.findall(text[:20000])]
    if len(tokens) < _MIN_TOKENS:
        return None
    scores = {lang: sum(1 for t in tokens if t in words and t not in _AMBIGUOUS) for lang, words in _STOPWORDS.items()}
    ranked = sorted(scores.items(), key=lambda item: item[1], reverse=True)
    (best, best_score), (_, second_score) = ranked[0], ranked[1]
    if best_score / len(tokens) < _MIN_SHARE:
        return None
    if second_score and best_score / second_score < _MIN_MARGIN:
        return None
    return best


def normalise_language_tag(tag: str | None) -> str | None:
    """ISO 639-1 code from a declared tag such as "en-GB", "de_DE" or "EN"; None if it is not one."""
    if not tag:
        return None
    primary = re.split(r"[-_]", tag.strip().casefold(), maxsplit=1)[0]
    return primary if re.fullmatch(r"[a-z]{2}", primary) else None
