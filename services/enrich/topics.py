"""Topic assignment (trained classifier for level 1, keywords below it), keyword scoring, and keyphrases.

Pure: plain strings (and a Doc for keyphrases) in, contract ``Topic`` models / strings out.

``assign_topics`` is what enrich publishes: the classifier (``topic_model.py``) picks the level-1 IPTC topic
of every article, with its calibrated probability as the score, and may add a second level-1 topic when it
is nearly as likely. The keyword scorer below then contributes only level-2+ topics, and only under a level-1
topic the classifier chose: keywords refine the classifier, they never override it (the "Labour" party or a
rugby "defence" cannot move a story to labour or politics). A subtopic's score is capped at its level-1
topic's probability, so a child never outranks its parent.

Keyword score (``score_topics``, also the fallback when no classifier is configured):
every keyword hit adds a weight (title 3, lead paragraph 1.5, elsewhere 1); repeated hits of
the same phrase saturate (1st full weight, later hits half) so one word repeated cannot carry a topic.
The raw sum is mapped into 0..1 with ``1 - exp(-raw / SCALE)`` and a topic's score is propagated to its
ancestors at ``PARENT_DECAY`` per level, so a diplomacy story also carries "international relations" and
"politics", each a bit lower than the specific topic.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict

from spacy.tokens import Doc

from services.contracts.events import Topic
from services.enrich.entities import EntityAnalysis
from services.enrich.taxonomy import Taxonomy
from services.enrich.topic_model import TopicModel

# A second level-1 topic is listed when the classifier gives it at least this probability (stories that
# span two areas, e.g. a strike that is also an economy story); the first is always listed.
SECOND_TOPIC_PROBABILITY = 0.25
MAX_LEVEL1_TOPICS = 2
SCALE = 4.0
PARENT_DECAY = 0.85
TITLE_WEIGHT = 3.0
LEAD_WEIGHT = 1.5
LEAD_CHARS = 600


def score_topics(
    title: str,
    text: str,
    taxonomy: Taxonomy,
    *,
    threshold: float = 0.35,
    top_n: int = 6,
) -> list[Topic]:
    if taxonomy.matcher is None:
        return []
    raw: dict[str, float] = defaultdict(float)
    seen: Counter[tuple[str, str]] = Counter()
    for source, weight_of in ((title, lambda _pos: TITLE_WEIGHT), (text, _body_weight)):
        for m in taxonomy.matcher.finditer(source):
            phrase = m.group(0).lower()
            w = weight_of(m.start())
            for code in taxonomy.phrase_topics.get(phrase, ()):
                seen[(code, phrase)] += 1
                raw[code] += w if seen[(code, phrase)] == 1 else w * 0.5
    scores: dict[str, float] = {}
    for code, value in raw.items():
        scores[code] = max(scores.get(code, 0.0), 1.0 - math.exp(-value / SCALE))
    for code, value in list(scores.items()):
        decayed = value
        for parent in taxonomy.ancestors(code):
            decayed *= PARENT_DECAY
            if decayed > scores.get(parent, 0.0):
                scores[parent] = decayed
    ranked = sorted(
        (c for c, s in scores.items() if s >= threshold),
        key=lambda c: (-scores[c], -taxonomy.topics[c].level, c),
    )
    return [Topic(code=c, label=taxonomy.topics[c].label, score=round(scores[c], 4)) for c in ranked[:top_n]]


def assign_topics(
    title: str,
    text: str,
    taxonomy: Taxonomy,
    model: TopicModel,
    *,
    top_n: int = 6,
) -> list[Topic]:
    """Level-1 topics from the classifier (always at least one), each followed by its keyword subtopics."""
    ranked = model.rank(f"{title}\n{text}")
    level1 = [ranked[0]] + [s for s in ranked[1:MAX_LEVEL1_TOPICS] if s.probability >= SECOND_TOPIC_PROBABILITY]
    subtopics: dict[str, list[Topic]] = defaultdict(list)
    for t in score_topics(title, text, taxonomy, top_n=len(taxonomy.topics)):
        ancestors = taxonomy.ancestors(t.code)
        if ancestors:  # level 2+: file it under its level-1 ancestor
            subtopics[ancestors[-1]].append(t)
    out: list[Topic] = []
    for choice in level1:
        probability = round(choice.probability, 4)
        out.append(Topic(code=choice.code, label=model.labels[choice.code], score=probability))
        out += [
            Topic(code=t.code, label=t.label, score=min(t.score, probability)) for t in subtopics.get(choice.code, ())
        ]
    return out[:top_n]


def _body_weight(pos: int) -> float:
    return LEAD_WEIGHT if pos < LEAD_CHARS else 1.0


_SKIP_POS = frozenset({"DET", "PRON", "PUNCT", "SPACE", "NUM", "PART", "CCONJ", "ADP", "SYM"})
_SKIP_ENT = frozenset({"DATE", "TIME", "CARDINAL", "ORDINAL", "PERCENT", "MONEY", "QUANTITY"})
_KEY_ENT = frozenset({"PERSON", "ORG", "GPE", "LOC", "FAC", "EVENT", "NORP", "LAW", "WORK_OF_ART"})


def keyphrases(doc: Doc, analysis: EntityAnalysis, *, limit: int = 8) -> list[str]:
    """The most frequent multi-word noun chunks and the most salient named entities.

    Noun chunks are keyed by lowercase lemmas without determiners/pronouns, so "the sanctions" and
    "sanctions" count together; single common nouns are skipped (too generic to describe a story) unless
    repeated at least three times. Ties go to earlier first mention, so output is deterministic.
    """
    counts: Counter[str] = Counter()
    first: dict[str, int] = {}
    surface: dict[str, Counter[str]] = defaultdict(Counter)
    for chunk in doc.noun_chunks:
        if chunk.root.ent_type_ in _SKIP_ENT or chunk.root.ent_type_ in _KEY_ENT:
            continue
        toks = [t for t in chunk if t.pos_ not in _SKIP_POS and not t.is_stop]
        if not toks:
            continue
        key = " ".join(t.lemma_.lower() for t in toks)
        counts[key] += 1
        first.setdefault(key, chunk.start_char)
        surface[key][" ".join(t.text for t in toks)] += 1
    chosen: list[tuple[float, int, str]] = []
    for key, n in counts.items():
        if " " not in key and n < 3:
            continue
        if n < 2:
            continue
        form = max(surface[key], key=lambda s: (surface[key][s], s))
        chosen.append((n + 0.5 * key.count(" "), first[key], form))
    for ent in analysis.entities:
        if ent.label in _KEY_ENT and ent.count >= 2:
            chosen.append((ent.count + ent.salience, ent.mentions[0].start if ent.mentions else 0, ent.canonical))
    chosen.sort(key=lambda x: (-x[0], x[1], x[2]))
    out: list[str] = []
    seen: set[str] = set()
    for _score, _pos, form in chosen:
        low = form.lower()
        if low in seen:
            continue
        seen.add(low)
        out.append(form)
        if len(out) >= limit:
            break
    return out
