"""Language of an article whose page does not declare one: py3langid (langid.py's Naive Bayes
model over byte n-grams, 97 languages, shipped inside the package), answering None rather than
guessing when the text is short or the model is not confident.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from py3langid.langid import MODEL_FILE, LanguageIdentifier

__all__ = ["detect_language", "normalise_language_tag"]

_WORD = re.compile(r"[^\W\d_]+")
_MIN_WORDS = 20  # shorter snippets (captions, titles) are too easily confused
_MIN_CONFIDENCE = 0.9  # normalised probability of the winning language


@functools.cache
def _identifier() -> Any:
    # Loaded once per process (about half a second); classification itself takes about a millisecond.
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def detect_language(text: str) -> str | None:
    """ISO 639-1 code of the dominant language of ``text``, or None if not confident."""
    sample = text[:20000]
    if len(_WORD.findall(sample)) < _MIN_WORDS:
        return None
    language, confidence = _identifier().classify(sample)
    if confidence < _MIN_CONFIDENCE or not re.fullmatch(r"[a-z]{2}", str(language)):
        return None
    return str(language)


def normalise_language_tag(tag: str | None) -> str | None:
    """ISO 639-1 code from a declared tag such as "en-GB", "de_DE" or "EN"; None if it is not one."""
    if not tag:
        return None
    primary = re.split(r"[-_]", tag.strip().casefold(), maxsplit=1)[0]
    return primary if re.fullmatch(r"[a-z]{2}", primary) else None
