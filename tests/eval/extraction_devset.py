"""The real extraction dev set in ``../shared/eval/extraction``: loading, the sha1 split, newsflow's
predictions and scoring with the set's own ``score.py``. Read at run time, never copied into the repo.

Used by the eval gate (tests/eval/test_extraction_eval.py) and by bench/extraction_eval.py so both
measure the same thing the same way.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from services.ingest.formats import ExtractedArticle, ExtractionOptions, extract_articles
from services.runtime.errors import InvalidInput

__all__ = [
    "DevPage",
    "Prediction",
    "is_test_page",
    "load_pages",
    "load_scorer",
    "newsflow_html",
    "newsflow_text",
    "score_bodies",
    "title_accuracy",
    "title_matches",
]

# The README's split: a page is "test" (reported once, never tuned or gated on) when the first hex digit
# of sha1(id) is one of these.
_TEST_DIGITS = frozenset("cdef")
_TOKEN = re.compile(r"\w+")


@dataclass(frozen=True)
class DevPage:
    id: str
    source: str
    gold_body: str
    gold_title: str | None
    html_bytes: bytes
    text_bytes: bytes

    @property
    def is_test(self) -> bool:
        return is_test_page(self.id)


@dataclass(frozen=True)
class Prediction:
    body: str
    title: str | None
    rejected: str | None = None
    """The dead-letter detail when newsflow refused the page (body then empty)."""


def is_test_page(page_id: str) -> bool:
    return hashlib.sha1(page_id.encode("utf-8")).hexdigest()[0] in _TEST_DIGITS


def load_pages(eval_root: Path, *, include_test: bool) -> list[DevPage]:
    folder = eval_root / "extraction"
    pages = []
    with (folder / "gold.jsonl").open(encoding="utf-8") as gold_file:
        for line in gold_file:
            if not line.strip():
                continue
            record = json.loads(line)
            if is_test_page(record["id"]) and not include_test:
                continue
            pages.append(
                DevPage(
                    id=record["id"],
                    source=record["source"],
                    gold_body=record["body"],
                    gold_title=record.get("title"),
                    html_bytes=gzip.decompress((folder / "pages" / f"{record['id']}.html.gz").read_bytes()),
                    text_bytes=gzip.decompress((folder / "text" / f"{record['id']}.txt.gz").read_bytes()),
                )
            )
    return pages


def _predict(name: str, data: bytes) -> Prediction:
    try:
        [article] = extract_articles(name, data, ExtractionOptions())
    except InvalidInput as exc:
        return Prediction(body="", title=None, rejected=f"{exc.reason.value}: {exc.detail}")
    assert isinstance(article, ExtractedArticle)
    return Prediction(body=article.text, title=article.title or None)


def newsflow_text(page: DevPage) -> Prediction:
    return _predict(f"{page.id}.txt", page.text_bytes)


def newsflow_html(page: DevPage) -> Prediction:
    return _predict(f"{page.id}.html", page.html_bytes)


def load_scorer(eval_root: Path) -> ModuleType:
    """The set's own score.py, imported from the shared folder (it is not part of the repository)."""
    spec = importlib.util.spec_from_file_location("shared_eval_score", eval_root / "score.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def score_bodies(scorer: ModuleType, pages: Iterable[DevPage], bodies: dict[str, str]) -> dict[str, Any]:
    """score.py's extraction figures (micro and per-page mean P/R/F1) for ``pages``."""
    gold = {page.id: {"id": page.id, "body": page.gold_body} for page in pages}
    pred = {page_id: {"id": page_id, "body": body} for page_id, body in bodies.items() if page_id in gold}
    figures: dict[str, Any] = scorer.score_extraction(pred, gold, _ScoreArgs())
    return figures


@dataclass(frozen=True)
class _ScoreArgs:
    only_pred_ids: bool = False


def _title_tokens(title: str | None) -> list[str]:
    # The L3S annotated files turned non-ASCII punctuation into "?", which the \w+ tokens ignore.
    return _TOKEN.findall((title or "").casefold())


def title_matches(gold: str, predicted: str | None) -> bool:
    """The predicted title is the gold headline: the same word tokens in the same order.

    L3S labels sub-headlines as headline spans too (one line each, after the headline); the headline
    is the first line.
    """
    headline = _title_tokens(gold.strip().split("\n")[0])
    return bool(headline) and headline == _title_tokens(predicted)


def title_accuracy(pages: Iterable[DevPage], titles: Callable[[DevPage], str | None]) -> tuple[float, int]:
    """Share of pages with a gold headline whose predicted title matches it, and how many were scored."""
    scored = [page for page in pages if page.gold_title]
    if not scored:
        return 0.0, 0
    hits = sum(1 for page in scored if page.gold_title and title_matches(page.gold_title, titles(page)))
    return hits / len(scored), len(scored)
