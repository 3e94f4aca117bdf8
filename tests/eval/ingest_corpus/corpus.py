"""The annotated ingest corpus and its scoring, shared by the quality gate and the benchmark.

Each document is a raw input (``cNN_name.txt`` saved page text or ``cNN_name.html``) next to a
hand-marked ``cNN_name.expected.json``: ``title``, ``standfirst`` (or null), ``paragraphs`` (the story
body in order) and ``date`` (ISO date or null when the page states no publication date). All articles
are invented; none is copied from a real page.

Scoring is paragraph-level: the kept paragraphs of an extraction are its standfirst (if any) and its
body paragraphs; the expected ones are the annotated standfirst and paragraphs. Paragraphs match when
equal after whitespace, case, quote and dash normalisation. Precision and recall are micro-averaged
over the corpus; date accuracy counts a document as right when the date (or its absence) is exact.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from services.ingest.clean import normalise_line

CORPUS_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class CorpusDoc:
    name: str
    path: Path
    raw: bytes
    title: str
    paragraphs: tuple[str, ...]
    """Expected kept paragraphs: the standfirst first when there is one, then the body."""
    date: dt.date | None


@dataclass(frozen=True)
class Extraction:
    """What an extractor produced for one document, reduced to what is scored."""

    title: str | None
    paragraphs: tuple[str, ...]
    date: dt.date | None


@dataclass(frozen=True)
class Scores:
    precision: float
    recall: float
    date_accuracy: float
    title_accuracy: float
    documents: int

    def as_dict(self) -> dict[str, float]:
        return {
            "precision": self.precision,
            "recall": self.recall,
            "date_accuracy": self.date_accuracy,
            "title_accuracy": self.title_accuracy,
        }


def load_corpus() -> list[CorpusDoc]:
    docs: list[CorpusDoc] = []
    for expected_path in sorted(CORPUS_DIR.glob("*.expected.json")):
        stem = expected_path.name.removesuffix(".expected.json")
        [raw_path] = [p for p in CORPUS_DIR.glob(f"{stem}.*") if p.suffix in (".txt", ".html")]
        expected = json.loads(expected_path.read_text("utf-8"))
        paragraphs = ([expected["standfirst"]] if expected["standfirst"] else []) + expected["paragraphs"]
        docs.append(
            CorpusDoc(
                name=raw_path.name,
                path=raw_path,
                raw=raw_path.read_bytes(),
                title=expected["title"],
                paragraphs=tuple(paragraphs),
                date=dt.date.fromisoformat(expected["date"]) if expected["date"] else None,
            )
        )
    return docs


def score(docs: Iterable[CorpusDoc], extract: Callable[[CorpusDoc], Extraction]) -> Scores:
    kept_total = kept_right = expected_total = expected_found = dates_right = titles_right = count = 0
    for doc in docs:
        result = extract(doc)
        expected_keys = [normalise_line(p) for p in doc.paragraphs]
        kept_keys = [normalise_line(p) for p in result.paragraphs if p.strip()]
        expected_set, kept_set = set(expected_keys), set(kept_keys)
        kept_total += len(kept_keys)
        kept_right += sum(1 for key in kept_keys if key in expected_set)
        expected_total += len(expected_keys)
        expected_found += sum(1 for key in expected_keys if key in kept_set)
        dates_right += result.date == doc.date
        titles_right += result.title is not None and normalise_line(result.title) == normalise_line(doc.title)
        count += 1
    return Scores(
        precision=kept_right / kept_total if kept_total else 0.0,
        recall=expected_found / expected_total if expected_total else 0.0,
        date_accuracy=dates_right / count if count else 0.0,
        title_accuracy=titles_right / count if count else 0.0,
        documents=count,
    )
