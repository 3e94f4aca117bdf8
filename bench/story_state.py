"""Story assignment cost per article: the Postgres story state (shared by replicas) beside the SQLite
file of the local stack and the in-memory store, on the same features in the same run.

Run: .venv/bin/python bench/story_state.py  -> bench/results/story_state.md
Inputs: the first N_DOCS articles (by id) of the train split of ../shared/eval/quotes (real news,
read at run time, never copied; used for timing only). spaCy runs once; then each store assigns the
same features in the same order, in batches of BATCH (one transaction each, as the enrich stage does),
store kinds alternating, REPEATS times; the best run and the median are reported.
Postgres is the embedded server on loopback (a managed server adds its network round trips).

     --growth ROUNDS  -> bench/results/story_growth.md: the SQLite file as it fills. Every article of
                      ../shared/eval/quotes (all splits), ROUNDS times; each round shifts the dates by 400
                      days and salts the 4-gram hashes, so it adds new stories and index rows (the same
                      people and places: a long-running beat). ms per article for each 512 articles.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import gzip
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psycopg

from services.contracts.events import CleanedArticle, SourceRef
from services.enrich.entities import analyse_entities
from services.enrich.nlp import load_pipeline
from services.enrich.pipeline import story_features
from services.enrich.postgres_story_store import PostgresStoryStore
from services.enrich.quotes import extract_quotes
from services.enrich.stories import InMemoryStoryStore, StoryFeatures, StoryStore, assign_stories
from services.enrich.story_store import SqliteStoryStore
from services.localstack import EmbeddedPostgres

ROOT = Path(__file__).resolve().parents[1]
QUOTES = ROOT.parent / "shared" / "eval" / "quotes" / "articles.jsonl.gz"
OUT = ROOT / "bench" / "results" / "story_state.md"
N_DOCS = 400
BATCH = 32  # the enrich batch size (EnrichSettings.enrich_batch_size)
REPEATS = 5
RETENTION = dt.timedelta(days=3650)


def load_features(*, every_split: bool = False) -> list[StoryFeatures]:
    with gzip.open(QUOTES, "rt", encoding="utf-8") as handle:
        records = sorted((json.loads(line) for line in handle), key=lambda r: r["id"])
    if not every_split:
        records = [r for r in records if r["split"] == "train"][:N_DOCS]
    nlp = load_pipeline("en_core_web_sm")
    out: list[StoryFeatures] = []
    for r, doc in zip(records, nlp.pipe(r["text"] for r in records), strict=True):
        article = CleanedArticle(
            article_id=r["id"],
            source=SourceRef(uri=r["id"], version="1", format="text", size=len(r["text"]), sha256="0"),
            title=r["title"],
            text=r["text"],
            published_at=dt.date.fromisoformat(r["date"]) if r.get("date") else None,
            word_count=len(r["text"].split()),
            ingested_at=dt.datetime(2026, 1, 5, tzinfo=dt.UTC),
        )
        analysis = analyse_entities(doc, title=r["title"])
        out.append(story_features(article, doc, analysis, extract_quotes(doc, analysis)))
    return out


def timed(features: list[StoryFeatures], stores: list[StoryStore]) -> tuple[float, list[str]]:
    """ms per article, assigned as enrich does (one call per batch of BATCH); the stores take turns by
    batch (one store: one process; two: two replicas alternating)."""
    started = time.perf_counter()
    ids: list[str] = []
    for n, i in enumerate(range(0, len(features), BATCH)):
        ids += [d.story_id for d in assign_stories(stores[n % len(stores)], features[i : i + BATCH])]
    return (time.perf_counter() - started) * 1000 / len(features), ids


GROWTH_OUT = ROOT / "bench" / "results" / "story_growth.md"
GROWTH_STEP = 512


def shifted(f: StoryFeatures, rnd: int) -> StoryFeatures:
    """``f`` as a new article of round ``rnd``: its dates 400 days later a round, its 4-grams salted."""
    salt = (rnd * 0x9E3779B97F4A7C15) & ((1 << 63) - 1)
    return dataclasses.replace(
        f,
        article_id=f"{f.article_id}-r{rnd}",
        day=None if f.day is None else f.day + dt.timedelta(days=400 * rnd),
        text_shingles=frozenset(h ^ salt for h in f.text_shingles),
        quote_shingles=frozenset(h ^ salt for h in f.quote_shingles),
    )


def growth(rounds: int) -> None:
    features = load_features(every_split=True)
    lines = [
        "# Story assignment as the SQLite story file fills",
        "",
        f"`bench/story_state.py --growth {rounds}`: the {len(features)} articles of ../shared/eval/quotes (every",
        f"split, by id), {rounds} rounds; each round shifts the dates by 400 days and salts the 4-gram hashes, so",
        "it adds new stories and index rows with the same people and places (a long-running beat). Batches of",
        f"{BATCH}, one transaction each. {os.cpu_count()} CPU cores (load average {os.getloadavg()[0]:.1f}).",
        "",
        "| articles assigned | ms/article over the last step | file MB |",
        "|---|---|---|",
    ]
    with tempfile.TemporaryDirectory(prefix="newsflow-bench-") as folder:
        path = Path(folder) / "stories.sqlite3"
        with SqliteStoryStore(path) as store:
            done, step_done, spent = 0, 0, 0.0  # spent: seconds inside assign_stories in this step
            for rnd in range(rounds):
                for i in range(0, len(features), BATCH):
                    batch = [shifted(f, rnd) for f in features[i : i + BATCH]]
                    started = time.perf_counter()
                    assign_stories(store, batch)
                    spent += time.perf_counter() - started
                    done += len(batch)
                    if done - step_done >= GROWTH_STEP:
                        size = sum(p.stat().st_size for p in Path(folder).glob("stories.sqlite3*")) / 1e6
                        lines.append(f"| {done} | {spent * 1000 / (done - step_done):.2f} | {size:.0f} |")
                        print(lines[-1], file=sys.stderr, flush=True)
                        step_done, spent = done, 0.0
    GROWTH_OUT.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--growth", type=int, default=0, metavar="ROUNDS")
    args = ap.parse_args()
    if args.growth:
        growth(args.growth)
        return
    started = time.perf_counter()
    features = load_features()
    print(f"features of {len(features)} articles in {time.perf_counter() - started:.0f}s", file=sys.stderr, flush=True)
    results: dict[str, list[float]] = {}
    decisions: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory(prefix="newsflow-bench-") as folder:
        postgres = EmbeddedPostgres(Path(folder) / "pgdata")
        admin = postgres.database_url

        def fresh_db(name: str) -> str:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                conn.execute(f'CREATE DATABASE "{name}"')
            return psycopg.conninfo.make_conninfo(admin, dbname=name)

        def in_memory(run: int) -> tuple[float, list[str]]:
            return timed(features, [InMemoryStoryStore()])

        def sqlite(run: int) -> tuple[float, list[str]]:
            with SqliteStoryStore(Path(folder) / f"stories-{run}.sqlite3") as store:
                return timed(features, [store])

        def postgres_one(run: int) -> tuple[float, list[str]]:
            with PostgresStoryStore(fresh_db(f"one_{run}"), retention=RETENTION) as store:
                store.migrate()
                return timed(features, [store])

        def postgres_two(run: int) -> tuple[float, list[str]]:
            url = fresh_db(f"two_{run}")
            with (
                PostgresStoryStore(url, retention=RETENTION) as a,
                PostgresStoryStore(url, retention=RETENTION) as b,
            ):
                a.migrate()
                return timed(features, [a, b])

        kinds: dict[str, Callable[[int], tuple[float, list[str]]]] = {
            "in-memory (tests, benchmarks)": in_memory,
            "SQLite file (local stack)": sqlite,
            "Postgres, one replica": postgres_one,
            "Postgres, two replicas taking turns": postgres_two,
        }
        try:
            for run in range(REPEATS):
                for name, kind in kinds.items():
                    ms, ids = kind(run)
                    print(f"run {run}: {name}: {ms:.2f} ms/article", file=sys.stderr, flush=True)
                    results.setdefault(name, []).append(ms)
                    decisions[name] = ids
        finally:
            postgres.stop()

    reference = decisions["in-memory (tests, benchmarks)"]
    stories = len(set(reference))
    lines = [
        "# Story assignment: ms per article by story-state store",
        "",
        f"`bench/story_state.py`: {len(features)} real news articles (train split of ../shared/eval/quotes, by id),",
        f"spaCy once, then each store assigns the same features in the same order, {BATCH} per transaction (as",
        f"enrich assigns a batch); kinds alternate, {REPEATS} runs each.",
        f"{stories} stories formed. Postgres: embedded server on loopback, {os.cpu_count()} CPU cores"
        f" (load average {os.getloadavg()[0]:.1f}).",
        "",
        "| store | ms/article (best) | median | runs | same decisions as in-memory |",
        "|---|---|---|---|---|",
    ]
    for name, runs in results.items():
        same = "yes" if decisions[name] == reference else "NO"
        each = ", ".join(f"{r:.2f}" for r in runs)
        lines.append(f"| {name} | {min(runs):.2f} | {statistics.median(runs):.2f} | {each} | {same} |")
    OUT.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
