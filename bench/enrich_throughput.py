"""Enrichment throughput: Enricher.enrich_batch vs bare nlp.pipe on the same real articles and model.

Run: .venv/bin/python bench/enrich_throughput.py  -> bench/results/enrich_throughput.md
     (--batch-sizes 8,32,64 for the sweep, --processes for the 1-vs-2-process run,
      --quotes-before OLD_QUOTES.py to time an older quotes module on the same Docs in the same run)
Texts: real news, read at run time from ../shared/eval/quotes/articles.jsonl.gz (PolNeAR, 1,008 US
political articles; never copied here): a seeded sample of N_DOCS articles. Story state: an in-memory
store per run; the 1-vs-2-process run uses one sqlite file shared by the processes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import importlib.util
import json
import multiprocessing
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from spacy.tokens import Doc

from services.contracts.events import CleanedArticle, SourceRef
from services.enrich.entities import EntityAnalysis, analyse_entities
from services.enrich.nlp import load_pipeline
from services.enrich.pipeline import Enricher
from services.enrich.stories import InMemoryStoryStore
from services.enrich.story_store import SqliteStoryStore
from services.enrich.taxonomy import load_taxonomy

ROOT = Path(__file__).resolve().parents[1]
ARTICLES = ROOT.parent / "shared" / "eval" / "quotes" / "articles.jsonl.gz"
OUT = ROOT / "bench" / "results" / "enrich_throughput.md"
N_DOCS = 120
REPEATS = 3  # bare and enrich runs alternate; the best of each is reported (the host is shared)


def make_docs(n: int = N_DOCS) -> list[CleanedArticle]:
    with gzip.open(ARTICLES, "rt", encoding="utf-8") as f:
        records = [json.loads(line) for line in f]
    rng = random.Random(7)
    out = []
    for i, r in enumerate(rng.sample(records, k=n)):
        text = r["text"]
        out.append(
            CleanedArticle(
                article_id=f"bench-{i:04d}",
                source=SourceRef(uri=f"bench://{r['id']}", version="1", format="text", size=len(text), sha256="0"),
                title=r["title"] or f"Bench article {i}",
                text=text,
                word_count=len(text.split()),
                ingested_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
            )
        )
    return out


QuoteFn = Callable[[Doc, EntityAnalysis, str], Any]


def load_quote_extractor(path: Path) -> QuoteFn:
    """``extract_quotes`` of another version of the quotes module (a single file, e.g. from git show)."""
    spec = importlib.util.spec_from_file_location("quotes_before", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is created
    spec.loader.exec_module(module)
    extract = module.extract_quotes
    return lambda doc, analysis, _text: extract(doc, analysis)


def quote_stage_ms(docs: Sequence[Doc], analyses: Sequence[EntityAnalysis], texts: Sequence[str], fn: QuoteFn) -> float:
    t = time.perf_counter()
    for doc, analysis, text in zip(docs, analyses, texts, strict=True):
        fn(doc, analysis, text)
    return 1000 * (time.perf_counter() - t) / len(docs)


def bare(nlp_name: str, docs: list[CleanedArticle], batch_size: int) -> tuple[float, int]:
    nlp = load_pipeline(nlp_name)
    list(nlp.pipe([d.text for d in docs[:8]]))  # warm-up
    t = time.perf_counter()
    tokens = sum(len(doc) for doc in nlp.pipe((d.text for d in docs), batch_size=batch_size))
    return time.perf_counter() - t, tokens


def enriched(nlp_name: str, docs: list[CleanedArticle], batch_size: int) -> tuple[float, list[float]]:
    nlp = load_pipeline(nlp_name)
    enricher = Enricher(nlp=nlp, taxonomy=load_taxonomy(None), stories=InMemoryStoryStore(), batch_size=batch_size)
    enricher.enrich_batch(docs[:8])
    enricher.stories = InMemoryStoryStore()
    per_doc: list[float] = []
    t = time.perf_counter()
    for i in range(0, len(docs), batch_size):
        chunk = docs[i : i + batch_size]
        t0 = time.perf_counter()
        enricher.enrich_batch(chunk)
        per_doc += [(time.perf_counter() - t0) / len(chunk)] * len(chunk)
    return time.perf_counter() - t, per_doc


def _proc(args: tuple[list[CleanedArticle], str]) -> float:
    docs, db = args
    enricher = Enricher(nlp=load_pipeline("en_core_web_sm"), taxonomy=load_taxonomy(None), stories=SqliteStoryStore(db))
    t = time.perf_counter()
    for i in range(0, len(docs), 32):
        enricher.enrich_batch(docs[i : i + 32])
    return time.perf_counter() - t


def processes(docs: list[CleanedArticle], n: int, db: str) -> float:
    parts = [docs[i::n] for i in range(n)]
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(n) as pool:
        # Wall time of the slowest worker (each loads its own pipeline before its clock starts).
        return max(pool.map(_proc, [(p, db) for p in parts]))


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch-sizes", default="32")
    ap.add_argument("--repeats", type=int, default=REPEATS)
    ap.add_argument("--processes", action="store_true", help="also time 1 vs 2 processes at batch 32")
    ap.add_argument("--quotes-before", type=Path, help="an older quotes module to time on the same Docs")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    if not ARTICLES.is_file():
        print(f"error: real articles not found at {ARTICLES}", file=sys.stderr)
        return 2
    docs = make_docs()
    words = sum(d.word_count for d in docs)
    lines = [
        "# Enrich throughput",
        "",
        f"{len(docs)} real news articles ({words} words; a seeded sample of PolNeAR, read at run time from",
        f"../shared/eval), en_core_web_sm 3.8.0, CPU count {multiprocessing.cpu_count()}.",
        "Command: `.venv/bin/python bench/enrich_throughput.py`.",
        f"Bare `nlp.pipe` and `Enricher.enrich_batch` runs alternate {args.repeats} times per batch size; each",
        "column is the best run.",
        "",
        "| batch | bare docs/s | bare tok/s | enrich docs/s | enrich tok/s | enrich/bare | p50 ms/doc | p95 ms/doc |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for bs in (int(b) for b in args.batch_sizes.split(",") if b):
        tb, te, tokens, per_doc = float("inf"), float("inf"), 0, []
        for _ in range(args.repeats):
            b, tokens = bare("en_core_web_sm", docs, bs)
            e, times = enriched("en_core_web_sm", docs, bs)
            tb = min(tb, b)
            if e < te:
                te, per_doc = e, times
        lines.append(
            f"| {bs} | {len(docs) / tb:.1f} | {tokens / tb:.0f} | {len(docs) / te:.1f} | {tokens / te:.0f} | "
            f"{tb / te:.2f} | {1000 * statistics.median(per_doc):.1f} | {1000 * pct(per_doc, 0.95):.1f} |"
        )
        print(lines[-1], flush=True)
    lines += ["", "Per-doc latency is the batch's wall time divided by its size (docs in a batch finish together)."]
    if args.quotes_before is not None:
        from services.enrich.quotes import extract_quotes

        nlp = load_pipeline("en_core_web_sm")
        parsed = list(nlp.pipe((d.text for d in docs), batch_size=32))
        analyses = [analyse_entities(doc, title=d.title) for doc, d in zip(parsed, docs, strict=True)]
        before_fn = load_quote_extractor(args.quotes_before)
        texts = [d.text for d in docs]
        after_ms, before_ms = float("inf"), float("inf")
        for _ in range(args.repeats):
            before_ms = min(before_ms, quote_stage_ms(parsed, analyses, texts, before_fn))
            after_ms = min(
                after_ms, quote_stage_ms(parsed, analyses, texts, lambda d, a, t: extract_quotes(d, a, text=t))
            )
        lines += [
            "",
            "## Quote extraction alone (same parsed Docs and entity analyses, alternating, best of each)",
            "",
            "| quotes module | ms/doc |",
            "|---|---|",
            f"| before (`{args.quotes_before.name}`) | {before_ms:.2f} |",
            f"| now (`services/enrich/quotes/`) | {after_ms:.2f} |",
        ]
        print("\n".join(lines[-4:]), flush=True)
    if args.processes:
        with tempfile.TemporaryDirectory() as tmp:
            t1 = processes(docs, 1, str(Path(tmp) / "one.sqlite3"))
            t2 = processes(docs, 2, str(Path(tmp) / "two.sqlite3"))
        lines += [
            "",
            "## Processes (batch 32, shared sqlite story store, each process its own pipeline)",
            "",
            "| processes | wall s | docs/s | speed-up |",
            "|---|---|---|---|",
            f"| 1 | {t1:.2f} | {len(docs) / t1:.1f} | 1.00 |",
            f"| 2 | {t2:.2f} | {len(docs) / t2:.1f} | {t1 / t2:.2f} |",
        ]
    lines.append("")
    print("\n".join(lines))
    if not args.no_write:
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
