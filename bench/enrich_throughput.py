"""Enrichment throughput: Enricher.enrich_batch vs bare nlp.pipe on the same texts and model.

Run: .venv/bin/python bench/enrich_throughput.py  -> bench/results/enrich_throughput.md
Texts: ~200 synthetic docs built by combining the paragraphs of the invented eval corpus
(tests/eval/enrich_corpus), deterministic (seeded shuffle). Story state: an in-memory store per run
for the batch-size sweep; the 1-vs-2-process run uses one sqlite file shared by the processes.
"""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import random
import statistics
import tempfile
import time
from pathlib import Path

from services.contracts.events import CleanedArticle, SourceRef
from services.enrich.nlp import load_pipeline
from services.enrich.pipeline import Enricher
from services.enrich.stories import InMemoryStoryStore
from services.enrich.story_store import SqliteStoryStore
from services.enrich.taxonomy import load_taxonomy

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "eval" / "enrich_corpus"
OUT = ROOT / "bench" / "results" / "enrich_throughput.md"
N_DOCS = 200
REPEATS = 3  # bare and enrich runs alternate; the best of each is reported (the host is shared)


def make_docs(n: int = N_DOCS) -> list[CleanedArticle]:
    paras: list[str] = []
    for d in json.loads((CORPUS / "quotes.json").read_text())["docs"]:
        paras += [p for p in d["text"].split("\n") if p.strip()]
    cases = json.loads((CORPUS / "cases.json").read_text())
    for s in cases["stories"]:
        for a in s["articles"]:
            paras += [p for p in a["text"].split("\n") if p.strip()]
    rng = random.Random(7)
    out = []
    for i in range(n):
        text = "\n\n".join(rng.sample(paras, k=rng.randint(6, 14)))
        out.append(
            CleanedArticle(
                article_id=f"bench-{i:04d}",
                source=SourceRef(uri=f"bench://{i}", version="1", format="text", size=len(text), sha256="0"),
                title=f"Bench article {i}",
                text=text,
                word_count=len(text.split()),
                ingested_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
            )
        )
    return out


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


def main() -> None:
    docs = make_docs()
    lines = [
        "# Enrich throughput",
        "",
        f"{len(docs)} synthetic docs (paragraphs of the invented eval corpus, seeded), en_core_web_sm 3.8.0,",
        f"CPU count {multiprocessing.cpu_count()}. Command: `.venv/bin/python bench/enrich_throughput.py`.",
        f"Bare and enrich runs alternate {REPEATS} times per batch size; each column is the best run.",
        "",
        "| batch | bare docs/s | bare tok/s | enrich docs/s | enrich tok/s | enrich/bare | p50 ms/doc | p95 ms/doc |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for bs in (8, 32, 64):
        tb, te, tokens, per_doc = float("inf"), float("inf"), 0, []
        for _ in range(REPEATS):
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
    with tempfile.TemporaryDirectory() as tmp:
        t1 = processes(docs, 1, str(Path(tmp) / "one.sqlite3"))
        t2 = processes(docs, 2, str(Path(tmp) / "two.sqlite3"))
    lines += [
        "",
        "Per-doc latency is the batch's wall time divided by its size (docs in a batch finish together).",
        "",
        "## Processes (batch 32, shared sqlite story store, each process its own pipeline)",
        "",
        "| processes | wall s | docs/s | speed-up |",
        "|---|---|---|---|",
        f"| 1 | {t1:.2f} | {len(docs) / t1:.1f} | 1.00 |",
        f"| 2 | {t2:.2f} | {len(docs) / t2:.1f} | {t1 / t2:.2f} |",
        "",
    ]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
