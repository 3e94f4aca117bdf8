"""The keyword scorer's trie pattern finds exactly what the flat longest-first alternation finds."""

from __future__ import annotations

import random
import re

from services.enrich.taxonomy import keyword_alternation, keyword_trie, load_taxonomy

BOUNDED = r"(?<![\w-])(?:{})(?![\w-])"


def _both(phrases: list[str]) -> tuple[re.Pattern[str], re.Pattern[str]]:
    flat = re.compile(BOUNDED.format(keyword_alternation(phrases)), re.IGNORECASE)
    trie = re.compile(BOUNDED.format(keyword_trie(phrases)), re.IGNORECASE)
    return flat, trie


def _spans(pattern: re.Pattern[str], text: str) -> list[tuple[int, int]]:
    return [m.span() for m in pattern.finditer(text)]


def test_longest_phrase_wins_and_a_shorter_one_is_found_when_the_longer_does_not_fit() -> None:
    flat, trie = _both(["tax", "tax cut", "tax cuts", "trade"])
    for text in ["Tax cuts passed", "a tax cutter", "tax-cut plan", "TAX CUT. trade", "taxation and trade-offs"]:
        assert _spans(trie, text) == _spans(flat, text), text
    assert [m.group(0) for m in trie.finditer("Tax cuts and a tax cutter")] == ["Tax cuts", "tax"]


def test_the_packaged_keywords_match_alike_in_generated_text() -> None:
    phrases = sorted(load_taxonomy(None).phrase_topics)
    flat, trie = _both(phrases)
    rng = random.Random(7)
    fillers = ["the", "said", "on", "Monday", "-", ",", "(", ")", "s", "ing", "pre", "\n"]
    for _ in range(300):
        words = []
        for _ in range(40):
            word = rng.choice(phrases) if rng.random() < 0.4 else rng.choice(fillers)
            if rng.random() < 0.2:
                word = word.upper() if rng.random() < 0.5 else word.title()
            words.append(word)
        text = "".join(w + rng.choice([" ", "", "-", ". "]) for w in words)
        assert _spans(trie, text) == _spans(flat, text), text
