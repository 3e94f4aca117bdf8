"""Entities: newsflow (span/label rules, gazetteer, ids) beside plain spaCy ``doc.ents`` on the same inputs.

Run: .venv/bin/python bench/entity_quality.py  -> bench/results/entities.md

1. The invented annotated set (tests/eval/entity_corpus): span, id and place-label accuracy, value leaks.
   Plain spaCy: the model's spans and labels as they are, ids from the same normal form.
2. Real news, PolNeAR (../shared/eval/quotes, read at run time, never copied): ``dev`` gates, ``test`` is
   reported once. PolNeAR has no entity gold, so the proxy is its annotated quote sources: a source span
   that is a name (capitalised, not a pronoun or a description) should be one entity mention with exactly
   its bounds (a leading title such as "Mr." excluded) and a PERSON/ORG/NORP/GPE label. Also counted: entity
   records that are dates or numbers, and ids with an empty slug.
3. Throughput on PolNeAR ``train`` texts: ``Enricher.enrich_batch`` vs bare ``nlp.pipe``, alternating.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spacy.language import Language
from spacy.tokens import Doc

from services.contracts.events import CleanedArticle, SourceRef
from services.enrich.entities import analyse_entities
from services.enrich.entity_evaluation import EntityScores, ExpectedEntity, PredictedMention, score_entities
from services.enrich.entity_ids import VALUE_LABELS, canonical_id_for
from services.enrich.nlp import load_pipeline
from services.enrich.pipeline import Enricher
from services.enrich.stories import InMemoryStoryStore
from services.enrich.taxonomy import load_taxonomy

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "eval" / "entity_corpus" / "articles.json"
POLNEAR = ROOT.parent / "shared" / "eval" / "quotes" / "articles.jsonl.gz"
OUT = ROOT / "bench" / "results" / "entities.md"
THROUGHPUT_DOCS = 120
REPEATS = 3
_PRONOUNS = frozenset({"he", "she", "they", "it", "we", "i", "you", "who", "his", "her", "their"})
_TITLE = re.compile(r"^(?:(?:Mr|Mrs|Ms|Dr|Sen|Gov|Rep|Gen|Sec|Lt|Col|Prof)\.?|President|Senator|Governor|Secretary) ")

Predict = Callable[[Doc, str], list[PredictedMention]]


def newsflow(doc: Doc, title: str) -> list[PredictedMention]:
    return [PredictedMention(m.start, m.end, m.label, m.canonical_id) for m in analyse_entities(doc, title).mentions]


def plain_spacy(doc: Doc, title: str) -> list[PredictedMention]:
    return [
        PredictedMention(e.start_char, e.end_char, e.label_, canonical_id_for(e.text, e.label_))
        for e in doc.ents
        if e.label_ not in VALUE_LABELS
    ]


def plain_spacy_all(doc: Doc, title: str) -> list[PredictedMention]:
    """Every span the model tags, dates and numbers too (what an entity list held before values)."""
    return [PredictedMention(e.start_char, e.end_char, e.label_, "") for e in doc.ents]


def invented_set(nlp: Language, predict: Predict) -> EntityScores:
    total = EntityScores()
    for d in json.loads(CORPUS.read_text())["docs"]:
        total.add(
            score_entities(
                d["text"],
                [ExpectedEntity(e["text"], e["label"], e["id"]) for e in d["entities"]],
                predict(nlp(d["text"]), d["title"]),
                d["not_entities"],
                doc_id=d["id"],
            )
        )
    return total


@dataclass
class SourceProxy:
    names: int = 0
    exact: int = 0
    labelled: int = 0
    entities: int = 0
    values: int = 0
    empty_ids: int = 0

    def row(self, side: str, split: str) -> str:
        return (
            f"| {split} | {side} | {self.names} | {self.exact / self.names:.3f} | {self.labelled / self.names:.3f} |"
            f" {self.entities} | {self.values} | {self.empty_ids} |"
        )


def _polnear(split: str) -> list[dict[str, Any]]:
    with gzip.open(POLNEAR, "rt", encoding="utf-8") as fh:
        return [r for r in map(json.loads, fh) if r["split"] == split]


def _name_sources(record: dict[str, Any]) -> list[tuple[int, int]]:
    out: set[tuple[int, int]] = set()
    for q in record["quotes"]:
        speaker, start = q.get("speaker"), q.get("speaker_start")
        if not speaker or start is None or not speaker[:1].isupper() or speaker.lower() in _PRONOUNS:
            continue
        title = _TITLE.match(speaker)
        name = speaker[title.end() :] if title else speaker
        words = name.split()
        # A name: one to four capitalised words (descriptions such as "The campaign" or "Clinton's aides" are not).
        if not 1 <= len(words) <= 4 or not all(w[:1].isupper() for w in words) or words[0] in ("The", "A", "An"):
            continue
        offset = start + (title.end() if title else 0)
        out.add((offset, offset + len(name)))
    return sorted(out)


def polnear_proxy(nlp: Language, split: str, predict: Predict, keep_values: Predict | None = None) -> SourceProxy:
    proxy = SourceProxy()
    for record in _polnear(split):
        doc = nlp(record["text"])
        predicted = predict(doc, record["title"] or "")
        by_bounds = {(p.start, p.end): p for p in predicted}
        for bounds in _name_sources(record):
            proxy.names += 1
            got = by_bounds.get(bounds)
            if got is not None:
                proxy.exact += 1
                proxy.labelled += got.label in ("PERSON", "ORG", "NORP", "GPE")
        records = keep_values(doc, "") if keep_values else predicted
        proxy.entities += len(records)
        proxy.values += sum(p.label in VALUE_LABELS for p in records)
        proxy.empty_ids += sum(p.canonical_id.endswith(":") for p in predicted)
    return proxy


def _articles(records: Sequence[dict[str, Any]]) -> list[CleanedArticle]:
    return [
        CleanedArticle(
            article_id=r["id"],
            source=SourceRef(uri=f"polnear://{r['id']}", version="1", format="text", size=len(r["text"]), sha256="0"),
            title=r["title"] or "",
            text=r["text"],
            word_count=len(r["text"].split()),
            ingested_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        )
        for r in records
    ]


def throughput(nlp: Language) -> list[str]:
    articles = _articles(_polnear("train")[:THROUGHPUT_DOCS])
    enricher = Enricher(nlp=nlp, taxonomy=load_taxonomy(None), stories=InMemoryStoryStore())
    enricher.enrich_batch(articles[:8])
    bare_best = enrich_best = float("inf")
    for _ in range(REPEATS):
        t = time.perf_counter()
        tokens = sum(len(doc) for doc in nlp.pipe((a.text for a in articles), batch_size=32))
        bare_best = min(bare_best, time.perf_counter() - t)
        enricher.stories = InMemoryStoryStore()
        t = time.perf_counter()
        for i in range(0, len(articles), 32):
            enricher.enrich_batch(articles[i : i + 32])
        enrich_best = min(enrich_best, time.perf_counter() - t)
    n = len(articles)
    return [
        "| side | docs/s | tok/s |",
        "|---|---|---|",
        f"| bare `nlp.pipe` (batch 32) | {n / bare_best:.1f} | {tokens / bare_best:.0f} |",
        f"| `Enricher.enrich_batch` (batch 32) | {n / enrich_best:.1f} | {tokens / enrich_best:.0f} |",
        f"| enrich/bare | {bare_best / enrich_best:.2f} | |",
    ]


def main() -> None:
    nlp = load_pipeline("en_core_web_sm")
    lines = [
        "# Entities: spans, labels, ids",
        "",
        "Command: `.venv/bin/python bench/entity_quality.py`; en_core_web_sm 3.8.0. Both sides read the same parsed",
        "docs; plain spaCy keeps the model's spans and labels and takes ids from the same normal form.",
        "",
        "## Invented annotated set (tests/eval/entity_corpus, 22 articles, six scripts)",
        "",
        "| side | span accuracy | id accuracy | place-label accuracy | mentions | places | value leaks |",
        "|---|---|---|---|---|---|---|",
    ]
    for side, predict in (("plain spaCy", plain_spacy), ("newsflow", newsflow)):
        s = invented_set(nlp, predict)
        leaks = invented_set(nlp, plain_spacy_all).value_leaks if side == "plain spaCy" else s.value_leaks
        lines.append(
            f"| {side} | {s.span_accuracy:.3f} | {s.id_accuracy:.3f} | {s.place_label_accuracy:.3f} | {s.expected} |"
            f" {s.places} | {leaks}/{s.negatives} |"
        )
        print(lines[-1], flush=True)
    lines += [
        "",
        "## Real news: PolNeAR quote sources that are names (proxy, no entity gold)",
        "",
        "| split | side | names | exact span | labelled PERSON/ORG/NORP/GPE | entity records | of which dates/numbers |"
        " empty-slug ids |",
        "|---|---|---|---|---|---|---|---|",
    ]
    if not POLNEAR.exists():
        sys.exit(f"{POLNEAR} not found: the real-news part needs ../shared/eval")
    for split in ("dev", "test"):
        for side, predict, keep in (("plain spaCy", plain_spacy, plain_spacy_all), ("newsflow", newsflow, None)):
            lines.append(polnear_proxy(nlp, split, predict, keep).row(side, split))
            print(lines[-1], flush=True)
    lines += ["", f"## Throughput ({THROUGHPUT_DOCS} PolNeAR train texts, best of {REPEATS} alternating runs)", ""]
    lines += throughput(nlp)
    print("\n".join(lines[-5:]), flush=True)
    OUT.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
