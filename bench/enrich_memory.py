"""Enrich memory over a long run: one Enricher process (its real SQLite story store, spaCy memory zones)
beside the script a user writes (``spacy.load(model).pipe`` over the same texts, no zone), each in its
own process so each RSS is its own.

Run: .venv/bin/python bench/enrich_memory.py [--articles 20000]  -> bench/results/enrich_memory.md

Texts: real news read at run time from ../shared/eval (never copied here): PolNeAR's full articles
(quotes/articles.jsonl.gz) interleaved with HuffPost headline + summary records (topics/*.jsonl.gz),
cycled to ``--articles``. Every article gets a sentence of its own with a new reference code, so each
one brings strings the vocabulary has not seen (as real news does: names, numbers); a reused text is a
new article (new id). RSS (VmRSS) is sampled between batches; "flat" is judged on the second half of the
run, after the bounded caches (story states, document frequencies, SQLite pages) have filled.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import multiprocessing
import resource
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from queue import Empty

from enrich_throughput import rss_mib  # a sibling script of bench/

from services.contracts.events import CleanedArticle, SourceRef
from services.enrich.nlp import load_pipeline
from services.enrich.pipeline import Enricher
from services.enrich.story_store import SqliteStoryStore
from services.enrich.taxonomy import load_taxonomy

ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT.parent / "shared" / "eval"
OUT = ROOT / "bench" / "results" / "enrich_memory.md"
MODEL = "en_core_web_sm"
BATCH = 32  # the enrich batch size (EnrichSettings.enrich_batch_size)
SAMPLE_EVERY = 1024
SHORT_PER_LONG = 9  # HuffPost records between two PolNeAR articles


@dataclass(frozen=True)
class Text:
    title: str
    body: str


@dataclass(frozen=True)
class Sample:
    articles: int
    rss_mib: float
    seconds: float


def _jsonl(path: Path) -> Iterator[dict[str, str]]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        yield from map(json.loads, handle)


def load_texts() -> list[Text]:
    long = [
        Text(r["title"] or "", r["text"])
        for r in sorted(_jsonl(EVAL / "quotes" / "articles.jsonl.gz"), key=lambda r: r["id"])
    ]
    short = [
        Text(r["title"], r["text"] or r["title"])
        for name in ("train.jsonl.gz", "dev.jsonl.gz")
        for r in sorted(_jsonl(EVAL / "topics" / name), key=lambda r: r["id"])
    ]
    texts: list[Text] = []
    shorts = iter(short)
    for article in long:
        texts.append(article)
        texts += [t for _, t in zip(range(SHORT_PER_LONG), shorts, strict=False)]
    texts += list(shorts)
    return texts


def article(texts: Sequence[Text], i: int) -> CleanedArticle:
    t = texts[i % len(texts)]
    body = f"{t.body}\n\nFiled under reference NF{i:06d}X by the desk."
    return CleanedArticle(
        article_id=f"mem-{i:06d}",
        source=SourceRef(uri=f"bench://{i}", version="1", format="text", size=len(body), sha256="0"),
        title=t.title or f"Article {i}",
        text=body,
        word_count=len(body.split()),
        ingested_at=dt.datetime(2026, 1, 5, tzinfo=dt.UTC) + dt.timedelta(minutes=i),
    )


def _enricher_side(n: int, folder: str, out: multiprocessing.Queue[list[Sample]]) -> None:
    texts = load_texts()
    with SqliteStoryStore(Path(folder) / "stories.sqlite3") as store:
        enricher = Enricher(nlp=load_pipeline(MODEL), taxonomy=load_taxonomy(None), stories=store)
        out.put(_measure(n, lambda batch: len(enricher.enrich_batch([article(texts, i) for i in batch]))))


def _plain_side(n: int, folder: str, out: multiprocessing.Queue[list[Sample]]) -> None:
    import importlib.metadata

    import spacy

    texts = load_texts()
    # The installed package of MODEL, as a user's script would load it (the wheel may carry a suffix).
    installed = {ep.name for ep in importlib.metadata.entry_points(group="spacy_models")}
    nlp = spacy.load(MODEL if MODEL in installed else next(p for p in sorted(installed) if p.startswith(MODEL)))

    def run(batch: range) -> int:
        return sum(len(doc) > 0 for doc in nlp.pipe((article(texts, i).text for i in batch), batch_size=BATCH))

    out.put(_measure(n, run))


def _measure(n: int, run: object) -> list[Sample]:
    assert callable(run)
    started = time.perf_counter()
    samples = [Sample(0, rss_mib(), 0.0)]
    for start in range(0, n, BATCH):
        run(range(start, min(n, start + BATCH)))
        done = min(n, start + BATCH)
        if done % SAMPLE_EVERY == 0 or done == n:
            samples.append(Sample(done, rss_mib(), time.perf_counter() - started))
            print(
                f"{multiprocessing.current_process().name}: {done} articles, {samples[-1].rss_mib:.0f} MiB",
                file=sys.stderr,
                flush=True,
            )
    samples.append(Sample(n, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, -1.0))  # peak
    return samples


def run_sides(names: Sequence[str], n: int) -> dict[str, list[Sample]]:
    """Each side in its own process, all at once (RSS is the measure here, not time)."""
    targets = {"enricher": _enricher_side, "plain": _plain_side}
    context = multiprocessing.get_context("spawn")
    results: dict[str, list[Sample]] = {}
    with tempfile.TemporaryDirectory() as folder:
        running = {}
        for name in names:
            queue: multiprocessing.Queue[list[Sample]] = context.Queue()
            process = context.Process(target=targets[name], args=(n, folder, queue))
            process.start()
            running[name] = (process, queue)
        for name, (process, queue) in running.items():
            while True:
                try:
                    results[name] = queue.get(timeout=5)
                    break
                except Empty:
                    if not process.is_alive():
                        raise RuntimeError(f"{name} side exited with {process.exitcode} before reporting") from None
            process.join()
    return results


def second_half_slope(samples: Sequence[Sample]) -> float:
    """MiB per 1,000 articles, least squares over the samples of the run's second half."""
    points = [s for s in samples if s.seconds >= 0 and s.articles >= samples[-1].articles / 2]
    mean_x = sum(s.articles for s in points) / len(points)
    mean_y = sum(s.rss_mib for s in points) / len(points)
    var = sum((s.articles - mean_x) ** 2 for s in points)
    cov = sum((s.articles - mean_x) * (s.rss_mib - mean_y) for s in points)
    return 1000 * cov / var if var else 0.0


def report(n: int, sides: dict[str, list[Sample]]) -> list[str]:
    names = {"enricher": "Enricher (SQLite story store, memory zones)", "plain": "plain `nlp.pipe`, no zone"}
    timed = {k: [s for s in v if s.seconds >= 0] for k, v in sides.items()}
    lines = [
        f"# Enrich RSS over {n:,} articles",
        "",
        "`bench/enrich_memory.py`: real news from ../shared/eval (PolNeAR full articles, 1 in 10; HuffPost",
        "headline + summary records, the rest), cycled; each article carries a new reference code (new",
        f"strings for the vocabulary). Model {MODEL}, batches of {BATCH}; each side in its own process, both",
        "at once (RSS is measured, not time: the seconds are of a shared, loaded machine).",
        f"Command: `.venv/bin/python bench/enrich_memory.py --articles {n}`.",
        "",
        "| articles | " + " | ".join(f"{names[k]} RSS MiB" for k in sides) + " |",
        "|---|" + "---|" * len(sides),
    ]
    for row in zip(*timed.values(), strict=True):
        lines.append(f"| {row[0].articles} | " + " | ".join(f"{s.rss_mib:.0f}" for s in row) + " |")
    lines += ["", "| side | second-half slope, MiB per 1,000 articles | peak RSS MiB | seconds |", "|---|---|---|---|"]
    for k, samples in sides.items():
        slope, peak, seconds = second_half_slope(samples), samples[-1].rss_mib, timed[k][-1].seconds
        lines.append(f"| {names[k]} | {slope:+.2f} | {peak:.0f} | {seconds:.0f} |")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--articles", type=int, default=20_000)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    if not (EVAL / "quotes" / "articles.jsonl.gz").is_file():
        print(f"error: ../shared/eval not found at {EVAL}", file=sys.stderr)
        return 2
    sides = run_sides(("enricher", "plain"), args.articles)
    lines = report(args.articles, sides)
    print("\n".join(lines))
    args.out.write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
