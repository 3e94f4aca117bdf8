"""Entities: newsflow (span/label rules, gazetteer, ids) beside plain spaCy ``doc.ents`` on the same inputs.

Run: .venv/bin/python bench/entity_quality.py  -> bench/results/entities.md

1. The invented annotated set (tests/eval/entity_corpus): span, id and place-label accuracy, value leaks.
   Plain spaCy: the model's spans and labels as they are, ids from the same normal form.
2. Real news, PolNeAR (../shared/eval/quotes, read at run time, never copied): ``dev`` gates, ``test`` is
   reported once. PolNeAR has no entity gold, so the proxy is its annotated quote sources: a source span
   that is a name (capitalised, not a pronoun or a description) should be one entity mention with exactly
   its bounds (a leading title such as "Mr." excluded) and a PERSON/ORG/NORP/GPE label. Also counted: entity
   records that are dates or numbers, and ids with an empty slug.
3. Throughput on PolNeAR ``train`` texts: bare ``nlp.pipe`` vs ``Enricher.enrich_batch``, alternating; with
   ``--before FILE`` (the pre-issue entities module, e.g. ``git show 180ee3b:services/enrich/entities.py``)
   also the Enricher with that module, and the entity step alone on pre-parsed docs, old vs new.

``--report-test`` adds the PolNeAR ``test`` rows to bench/results/entities_test.md: run it once, when done.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import importlib.util
import json
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from spacy.language import Language
from spacy.tokens import Doc

from services.contracts.events import CleanedArticle, SourceRef
from services.enrich import pipeline
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
OUT_TEST = ROOT / "bench" / "results" / "entities_test.md"
THROUGHPUT_DOCS = 80
REPEATS = 5
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


def _before_side(before: ModuleType) -> Predict:
    def predict(doc: Doc, title: str) -> list[PredictedMention]:
        return [
            PredictedMention(m.start, m.end, m.label, m.canonical_id)
            for m in before.analyse_entities(doc, title=title).mentions
        ]

    return predict


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


def _load_before(path: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location("before_entities", path)
    if spec is None or spec.loader is None:
        sys.exit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def throughput(nlp: Language, before: ModuleType | None) -> list[str]:
    articles = _articles(_polnear("train")[:THROUGHPUT_DOCS])
    enricher = Enricher(nlp=nlp, taxonomy=load_taxonomy(None), stories=InMemoryStoryStore())
    enricher.enrich_batch(articles[:8])  # loads the gazetteer and rules
    # The Enricher calls the name bound in its module: swapping it there times the whole pipeline with either.
    namespace = vars(pipeline)
    new_analyse = namespace["analyse_entities"]

    def before_analyse(doc: Doc, title: str = "") -> Any:
        assert before is not None
        analysis = before.analyse_entities(doc, title=title)
        analysis.values = []  # the pre-issue analysis has no values; the pipeline reads them
        return analysis

    sides = ["bare", "enrich"] + (["enrich (before)"] if before else [])
    best = dict.fromkeys(sides, float("inf"))
    runs: dict[str, list[float]] = {side: [] for side in sides}
    tokens = 0
    for rep in range(REPEATS):
        for side in sides if rep % 2 == 0 else sides[::-1]:
            t = time.perf_counter()
            if side == "bare":
                tokens = sum(len(doc) for doc in nlp.pipe((a.text for a in articles), batch_size=32))
            else:
                namespace["analyse_entities"] = before_analyse if side == "enrich (before)" else new_analyse
                enricher.stories = InMemoryStoryStore()
                for i in range(0, len(articles), 32):
                    enricher.enrich_batch(articles[i : i + 32])
            runs[side].append(time.perf_counter() - t)
            best[side] = min(best[side], runs[side][-1])
    namespace["analyse_entities"] = new_analyse
    n = len(articles)
    lines = ["| side | docs/s | tok/s | of bare |", "|---|---|---|---|"]
    for side in sides:
        lines.append(f"| {side} | {n / best[side]:.2f} | {tokens / best[side]:.0f} | {best['bare'] / best[side]:.2f} |")
    paired = statistics.median(b / e for b, e in zip(runs["bare"], runs["enrich"], strict=True))
    summary = f"Median over the {REPEATS} alternating repetitions of the paired ratio: enrich/bare {paired:.2f}"
    if before is not None:
        now_vs_before = statistics.median(o / n for o, n in zip(runs["enrich (before)"], runs["enrich"], strict=True))
        summary += f", enrich before / enrich now {now_vs_before:.2f} (above 1: faster now)"
    lines += [
        "",
        summary + ".",
        "The host is shared (load 5-9 on 2 cores), so single runs vary more than post-processing costs:",
        "a ratio above 1 against bare spaCy is that noise, not a gain.",
    ]
    if before is not None:
        docs = list(nlp.pipe((a.text for a in articles), batch_size=32))
        step: dict[str, list[float]] = {"before": [], "now": []}
        for rep in range(2 * REPEATS):
            for side in ("before", "now") if rep % 2 == 0 else ("now", "before"):
                analyse = before.analyse_entities if side == "before" else analyse_entities
                t = time.perf_counter()
                for doc, article in zip(docs, articles, strict=True):
                    analyse(doc, title=article.title)
                step[side].append(1000 * (time.perf_counter() - t) / n)
        lines += [
            "",
            "Entity step alone on the same pre-parsed docs, alternating, ms/doc (min / median):",
            f"before {min(step['before']):.1f} / {statistics.median(step['before']):.1f},"
            f" now {min(step['now']):.1f} / {statistics.median(step['now']):.1f}.",
        ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", help="pre-issue services/enrich/entities.py, to time the Enricher with it")
    parser.add_argument("--report-test", action="store_true", help="also score the PolNeAR test split (once)")
    args = parser.parse_args()
    if not POLNEAR.exists():
        sys.exit(f"{POLNEAR} not found: the real-news part needs ../shared/eval")
    before = _load_before(args.before) if args.before else None
    nlp = load_pipeline("en_core_web_sm")
    lines = [
        "# Entities: spans, labels, ids",
        "",
        "Command: `.venv/bin/python bench/entity_quality.py --before <pre-issue entities.py>`; en_core_web_sm 3.8.0.",
        "Both sides read the same parsed docs; plain spaCy keeps the model's spans and labels and takes ids",
        "from the same normal form.",
        "",
        "## Invented annotated set (tests/eval/entity_corpus, 22 articles, six scripts)",
        "",
        "| side | span accuracy | id accuracy | place-label accuracy | mentions | places | value leaks |",
        "|---|---|---|---|---|---|---|",
    ]
    sides: list[tuple[str, Predict, Predict | None]] = [("plain spaCy", plain_spacy, plain_spacy_all)]
    if before is not None:
        sides.append(("newsflow before this issue", _before_side(before), None))
    sides.append(("newsflow", newsflow, None))
    for side, predict, keep in sides:
        s = invented_set(nlp, predict)
        leaks = invented_set(nlp, keep).value_leaks if keep else s.value_leaks
        lines.append(
            f"| {side} | {s.span_accuracy:.3f} | {s.id_accuracy:.3f} | {s.place_label_accuracy:.3f} | {s.expected} |"
            f" {s.places} | {leaks}/{s.negatives} |"
        )
        print(lines[-1], flush=True)
    header = [
        "| split | side | names | exact span | labelled PERSON/ORG/NORP/GPE | entity records | of which dates/numbers |"
        " empty-slug ids |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += ["", "## Real news: PolNeAR dev, quote sources that are names (proxy, no entity gold)", "", *header]
    for side, predict, keep in sides:
        lines.append(polnear_proxy(nlp, "dev", predict, keep).row(side, "dev"))
        print(lines[-1], flush=True)
    if args.report_test:
        test = ["# Entities: PolNeAR test split, reported once", "", *header]
        for side, predict, keep in (("plain spaCy", plain_spacy, plain_spacy_all), ("newsflow", newsflow, None)):
            test.append(polnear_proxy(nlp, "test", predict, keep).row(side, "test"))
        OUT_TEST.write_text("\n".join(test) + "\n")
    lines += ["", f"## Throughput ({THROUGHPUT_DOCS} PolNeAR train texts, best of {REPEATS} alternating runs)", ""]
    lines += throughput(nlp, before)
    print("\n".join(lines[-8:]), flush=True)
    OUT.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
