"""Scoring helpers shared by the eval gate (tests/eval) and the quality benchmark (bench/).

Pure: expected and predicted quotes as plain tuples; no spaCy, no I/O.

A predicted quote matches an expected one when their normalised texts (lowercase words) overlap by at
least ``MATCH_OVERLAP`` of the longer one, so a stray trailing comma or a dropped mark does not count as a
miss. Each expected quote matches at most one prediction.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

MATCH_OVERLAP = 0.8
_WORDS = re.compile(r"\w+")


def words(text: str) -> list[str]:
    return _WORDS.findall(text.lower())


def text_overlap(a: str, b: str) -> float:
    wa, wb = words(a), words(b)
    if not wa or not wb:
        return 0.0
    # Longest common run of words, relative to the longer text: robust to boundary punctuation.
    best = 0
    prev = [0] * (len(wb) + 1)
    for i in range(1, len(wa) + 1):
        cur = [0] * (len(wb) + 1)
        for j in range(1, len(wb) + 1):
            if wa[i - 1] == wb[j - 1]:
                cur[j] = prev[j - 1] + 1
                best = max(best, cur[j])
        prev = cur
    return best / max(len(wa), len(wb))


@dataclass(frozen=True)
class Expected:
    text: str
    speaker: str | None
    kind: str


@dataclass(frozen=True)
class Predicted:
    text: str
    speaker: str | None
    kind: str | None


@dataclass
class QuoteScores:
    expected: int = 0
    predicted: int = 0
    matched: int = 0
    speaker_expected: int = 0  # matched expected quotes with a non-null speaker
    speaker_correct: int = 0  # ...whose predicted speaker is right
    speaker_predicted: int = 0  # predictions with a speaker (any match status)
    speaker_tp: int = 0  # predictions whose speaker is right for a matched expected quote
    kind_correct: int = 0

    def add(self, other: QuoteScores) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def precision(self) -> float:
        return self.matched / self.predicted if self.predicted else 0.0

    @property
    def recall(self) -> float:
        return self.matched / self.expected if self.expected else 0.0

    @property
    def speaker_accuracy(self) -> float:
        return self.speaker_correct / self.speaker_expected if self.speaker_expected else 0.0

    @property
    def speaker_precision(self) -> float:
        return self.speaker_tp / self.speaker_predicted if self.speaker_predicted else 0.0

    @property
    def speaker_recall(self) -> float:
        return self.speaker_tp / self.speaker_expected if self.speaker_expected else 0.0

    @property
    def kind_accuracy(self) -> float:
        return self.kind_correct / self.matched if self.matched else 0.0


def exact_speaker(expected: str, predicted: str | None) -> bool:
    return predicted is not None and predicted.strip().lower() == expected.strip().lower()


def score_quotes(
    expected: Sequence[Expected],
    predicted: Sequence[Predicted],
    speaker_match: Callable[[str, str | None], bool] = exact_speaker,
) -> QuoteScores:
    s = QuoteScores(expected=len(expected), predicted=len(predicted))
    s.speaker_predicted = sum(1 for p in predicted if p.speaker)
    used: set[int] = set()
    for e in expected:
        best_i, best = -1, 0.0
        for i, p in enumerate(predicted):
            if i in used:
                continue
            ov = text_overlap(e.text, p.text)
            if ov > best:
                best_i, best = i, ov
        if best_i < 0 or best < MATCH_OVERLAP:
            if e.speaker is not None:
                s.speaker_expected += 1
            continue
        used.add(best_i)
        p = predicted[best_i]
        s.matched += 1
        if p.kind is not None and p.kind == e.kind:
            s.kind_correct += 1
        if e.speaker is not None:
            s.speaker_expected += 1
            if speaker_match(e.speaker, p.speaker):
                s.speaker_correct += 1
                s.speaker_tp += 1
    return s
