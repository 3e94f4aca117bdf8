"""Store throughput on a real PostgreSQL: the store's batch write against plain ``executemany`` and
``COPY`` of the same rows, alternating, in the same run.

    .venv/bin/python bench/store_throughput.py [--articles 1000] [--batch 64] [--repeats 5]

Uses DATABASE_URL when set, else an embedded PostgreSQL in a temporary directory. Writes
bench/results/store_throughput.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
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
from services.store.repository import Repository, article_row, entity_aliases

ENTITY_POOL = 5000  # distinct entities over the run, each named by a few dozen articles, as in news


def entity_numbers(i: int) -> list[int]:
    """12 entities of article ``i``, drawn from ENTITY_POOL (the canonical-name refresh costs what the
    articles naming an id cost, so every article naming the same 12 ids would measure only that)."""
    return sorted({(i * 12 + k * 997) % ENTITY_POOL for k in range(12)})


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
                text=f"Person {n}", canonical=f"Person {n}", canonical_id=f"p{n}", label="PERSON", count=2, salience=0.5
            )
            for n in entity_numbers(i)
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


TABLES: dict[str, tuple[str, ...]] = {
    "articles": (
        "article_id",
        "schema_version",
        "title",
        "standfirst",
        "body",
        "author",
        "url",
        "published_at",
        "language",
        "word_count",
        "duplicate_of",
        "story_id",
        "enricher_version",
        "model",
        "ingested_at",
        "enriched_at",
        "event",
        "trace_id",
    ),
    "article_sources": ("article_id", "uri", "version", "record", "format", "sha256"),
    "entities": ("article_id", "position", "text", "canonical", "canonical_id", "label", "count", "salience"),
    "quotes": ("article_id", "position", "text", "speaker", "speaker_id", "kind", "confidence"),
    "topics": ("article_id", "code", "label", "score"),
    "entity_aliases": ("article_id", "canonical_id", "alias", "mentions", "is_canonical"),
}


def rows_of(items: list[EnrichedArticle]) -> dict[str, list[tuple[object, ...]]]:
    """The rows the store writes for ``items``, table by table (what a hand-written loader would send)."""
    out: dict[str, list[tuple[object, ...]]] = {t: [] for t in TABLES}
    for a in items:
        out["articles"].append(article_row(a, None))
        out["article_sources"].append((a.article_id, a.source.uri, a.source.version, -1, a.source.format, "0"))
        out["entities"] += [
            (a.article_id, i, e.text, e.canonical, e.canonical_id, e.label, e.count, e.salience)
            for i, e in enumerate(a.entities)
        ]
        out["quotes"] += [
            (a.article_id, i, q.text, q.speaker, q.speaker_id, q.kind.value, q.confidence)
            for i, q in enumerate(a.quotes)
        ]
        out["topics"] += [(a.article_id, t.code, t.label, t.score) for t in a.topics]
        out["entity_aliases"] += [
            (a.article_id, x.canonical_id, x.alias, x.mentions, x.is_canonical) for x in entity_aliases(a)
        ]
    return out


def write_executemany(conn: psycopg.Connection[tuple[object, ...]], items: list[EnrichedArticle]) -> None:
    with conn.transaction(), conn.cursor() as cur:
        for table, rows in rows_of(items).items():
            columns = TABLES[table]
            marks = ", ".join(["%s"] * len(columns))
            cur.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)


def write_copy(conn: psycopg.Connection[tuple[object, ...]], items: list[EnrichedArticle]) -> None:
    with conn.transaction(), conn.cursor() as cur:
        for table, rows in rows_of(items).items():
            with cur.copy(f"COPY {table} ({', '.join(TABLES[table])}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)


def run(url: str, articles: int, batch: int, repeats: int) -> dict[str, list[float]]:
    """Articles/s of each side per repeat; the sides take turns within each repeat, on fresh ids."""
    rates: dict[str, list[float]] = {"Repository.write_batch": [], "executemany": [], "COPY": []}
    with Repository(url) as repository:
        repository.migrate()
    for r in range(repeats):
        for side in rates:
            items = [article(i, f"{side[:4]}{r}-{uuid.uuid4().hex[:6]}") for i in range(articles)]
            with Repository(url) as repository, psycopg.connect(url) as conn:
                started = time.perf_counter()
                for offset in range(0, articles, batch):
                    chunk = items[offset : offset + batch]
                    if side == "Repository.write_batch":
                        repository.write_batch(chunk, [])
                    elif side == "executemany":
                        write_executemany(conn, chunk)
                    else:
                        write_copy(conn, chunk)
                rates[side].append(articles / (time.perf_counter() - started))
            print(f"repeat {r}: {side} {rates[side][-1]:.0f} articles/s", file=sys.stderr, flush=True)
    return rates


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--articles", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
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
        rates = run(url, args.articles, args.batch, args.repeats)
    finally:
        if postgres is not None:
            postgres.stop()
    ours = rates["Repository.write_batch"]
    lines = [
        "# Store throughput: the store's batch write against executemany and COPY of the same rows",
        "",
        f"PostgreSQL {version} ({'DATABASE_URL' if postgres is None else 'embedded, loopback'}), {args.articles} "
        f"enriched articles per run (12 entities of a pool of {ENTITY_POOL}, 4 quotes, 5 topics each),",
        f"batches of {args.batch}, one transaction per batch on every side. The baselines insert exactly the rows",
        "the store writes (articles with their JSON event, sources, entities, quotes, topics, entity aliases),",
        "table by table: `executemany` of an",
        "INSERT per table, and `COPY ... FROM STDIN` per table. The store's side also does what they skip: the",
        "idempotent upserts (ON CONFLICT, the enriched_at guard), the DELETEs of older children and the canonical-name",
        "refresh. Sides take turns within each repeat, on fresh article ids; the ratios are taken within a repeat.",
        f"{os.cpu_count()} CPUs (load average at the end {os.getloadavg()[0]:.1f}).",
        f"Command: `.venv/bin/python bench/store_throughput.py --repeats {args.repeats}`.",
        "",
        "| side | articles/s (median) | runs | store / side per repeat | median ratio |",
        "|---|---|---|---|---|",
    ]
    for side, runs in rates.items():
        ratios = [o / x for o, x in zip(ours, runs, strict=True)]
        lines.append(
            f"| {side} | {statistics.median(runs):.0f} | {', '.join(f'{x:.0f}' for x in runs)} | "
            f"{', '.join(f'{x:.2f}' for x in ratios)} | {statistics.median(ratios):.2f} |"
        )
    out = Path(__file__).resolve().parent / "results" / "store_throughput.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
