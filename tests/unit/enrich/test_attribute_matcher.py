"""The attribute ruler's indexed matching gives spaCy's own matches, so the same annotations."""

from __future__ import annotations

import spacy
from spacy.language import Language

from services.enrich.attribute_matcher import IndexedAttributeMatcher
from services.enrich.nlp import load_pipeline

# Invented sentences that reach the ruler's special cases: contractions, "gonna", "let's", expletive
# "there", objects "it"/"you", auxiliaries, determiners as pronouns, whitespace tokens between lines.
TEXTS = [
    "Ain't nobody gonna stop us, she said, and let's be clear: y'all got ta see it.\n\nIt is done.",
    "There are three ports, and there's one that is closed. I gave it to you; you gave me nothing.",
    "They don't know whether the talks will resume, though that is what each side wants.",
    "C'mon, the minister said. Those were the days.\n  \nHe has had enough, and does he care? He did.",
    "Gets, got, gotten: the union gets what it wants when the port authority has no choice.",
]


def _annotations(nlp: Language, texts: list[str]) -> list[tuple[str, str, str, str, str]]:
    return [
        (token.text, token.tag_, token.pos_, str(token.morph), token.lemma_) for doc in nlp.pipe(texts) for token in doc
    ]


def test_indexed_matching_annotates_like_spacys_matcher() -> None:
    indexed = load_pipeline("en_core_web_sm")
    stock = load_pipeline("en_core_web_sm", indexed_attribute_ruler=False)
    assert _annotations(indexed, TEXTS) == _annotations(stock, TEXTS)


def test_indexed_matching_returns_the_rulers_own_matches() -> None:
    nlp = load_pipeline("en_core_web_sm", indexed_attribute_ruler=False)
    ruler = nlp.get_pipe("attribute_ruler")
    indexed = IndexedAttributeMatcher(ruler)
    with nlp.select_pipes(disable=["attribute_ruler", "lemmatizer"]):
        docs = list(nlp.pipe(TEXTS))
    for doc in docs:
        assert indexed(doc) == ruler.match(doc)
    # Nearly every pattern of the small English model is indexed: the Matcher keeps only the few
    # with several tokens or a REGEX (9 of 179 in en_core_web_sm 3.8).
    assert indexed.residual_patterns <= 12


def test_a_ruler_with_only_general_patterns_still_matches() -> None:
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("attribute_ruler")
    ruler.add([[{"LOWER": {"REGEX": "^port"}}], [{"LOWER": "the"}, {"LOWER": "union"}]], {"LEMMA": "x"})
    ruler.add([[{"LOWER": "union"}]], {"LEMMA": "union-rule"})
    doc = nlp.make_doc("The union and the ports")
    indexed = IndexedAttributeMatcher(ruler)
    assert indexed.residual_patterns == 1
    assert indexed(doc) == ruler.match(doc)
