"""Store throughput on a real PostgreSQL: one transaction per batch (what the store does) vs one
transaction per message (the obvious alternative), same enriched articles, same repository code.

    .venv/bin/python bench/store_throughput.py [--articles 2000] [--batch 64]

Uses DATABASE_URL when set, else an embedded PostgreSQL in a temporary directory. Writes
bench/results/store_throughput.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

from services.contracts import (
    EnrichedArticle,
    EnrichmentInfo,
    Entity,
    Quote,
    QuoteKind,
    SourceRef,
    Topic,
)
from services.localstack import EmbeddedPostgres
from services.store.repository import Repository


def article(i: int, run: str) -> EnrichedArticle:
    text = " ".join(f"Paragraph {p} of article {i} reports what the minister said." for p in range(30))
    return EnrichedArticle(
        article_id=f"{run}-{i}",
        source=SourceRef(uri=f"s3://bench/{i}.html", version="e", format="html", size=len(text), sha256="0"),
        title=f"Article {i}",
        text=text,
        word_count=len(text.split()),
        ingested_at=dt.datetime.now(dt.UTC),
        entities=[
            Entity(
                text=f"Person {k}", canonical=f"Person {k}", canonical_id=f"p{k}", label="PERSON", count=2, salience=0.5
            )
            for k in range(12)
        ],
        quotes=[
            Quote(text=f"Quote {k}", speaker=f"Person {k}", kind=QuoteKind.FULL, confidence=0.9, start=0, end=5)
            for k in range(4)
        ],
        topics=[Topic(code=f"medtop:{k:08d}", label=f"t{k}", score=0.5) for k in range(5)],
        story_id=f"story-{i % 50}",
        enrichment=EnrichmentInfo(
            enricher_version="bench", model="m", model_version="1", enriched_at=dt.datetime.now(dt.UTC)
        ),
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(url: str, articles: int, batch: int) -> list[tuple[str, float, float, float]]:
    results = []
    for mode in ("one transaction per batch", "one transaction per message"):
        run_id = uuid.uuid4().hex[:8]
        items = [article(i, run_id) for i in range(articles)]
        latencies: list[float] = []
        with Repository(url) as repository:
            repository.migrate()
            started = time.perf_counter()
            for offset in range(0, articles, batch):
                chunk = items[offset : offset + batch]
                t0 = time.perf_counter()
                if mode.endswith("batch"):
                    repository.write_batch(chunk, [])
                else:
                    for item in chunk:
                        repository.write_batch([item], [])
                latencies.append(time.perf_counter() - t0)
            elapsed = time.perf_counter() - started
        results.append(
            (mode, articles / elapsed, statistics.median(latencies) * 1000, percentile(latencies, 0.95) * 1000)
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL")
    postgres = None
    tmp = None
    if not url:
        tmp = tempfile.TemporaryDirectory()
        postgres = EmbeddedPostgres(Path(tmp.name) / "pgdata")
        url = postgres.database_url
    try:
        with psycopg.connect(url) as conn:
            version = str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
        results = run(url, args.articles, args.batch)
    finally:
        if postgres is not None:
            postgres.stop()
    lines = [
        "# Store throughput: batch transactions vs per-message transactions",
        "",
        f"PostgreSQL {version} ({'DATABASE_URL' if postgres is None else 'embedded'}), {args.articles} enriched "
        f"articles (12 entities, 4 quotes, 5 topics each), batches of {args.batch}, same `Repository` code.",
        "Command: `.venv/bin/python bench/store_throughput.py`.",
        "",
        "| mode | articles/s | batch p50 ms | batch p95 ms |",
        "|---|---|---|---|",
        *[f"| {mode} | {rate:.0f} | {p50:.1f} | {p95:.1f} |" for mode, rate, p50, p95 in results],
        "",
        "Each batch's offsets are committed only after its transaction commits, so the batch transaction",
        "is also the unit of redelivery after a crash; it is idempotent (upsert on article_id).",
    ]
    out = Path(__file__).resolve().parent / "results" / "store_throughput.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
