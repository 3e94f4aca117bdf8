"""Ingest's extraction cost per HTML page against trafilatura on the same bytes, in one process:

- newsflow ``extract_articles`` (decode, one lxml parse, headline/standfirst evidence, metadata, main text,
  the recall check, cleaning, language from the page or py3langid once);
- ``trafilatura.extract`` with its defaults (main text only, as text);
- ``trafilatura.bare_extraction(with_metadata=True)`` (main text plus title, author, date, ...), the
  nearest to what ingest produces.

    .venv/bin/python bench/ingest_cost.py [--pages 200] [--rounds 2] [--out bench/results/ingest_cost.md]

Pages: ../shared/eval/extraction/pages (real news pages, read at run time, never copied). The sides
alternate page by page and the order flips every page and round, so load changes hit all sides alike.
Every side is warmed up first (trafilatura's and py3langid's one-off loads are not timed).
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import trafilatura

from services.ingest.formats import extract_articles
from services.ingest.formats.language import detect_language
from services.ingest.formats.model import ExtractionOptions
from services.runtime.errors import InvalidInput

ROOT = Path(__file__).resolve().parents[1]
PAGES = ROOT.parent / "shared" / "eval" / "extraction" / "pages"


def _load(limit: int) -> list[tuple[str, bytes]]:
    pages = []
    for path in sorted(PAGES.glob("*.html*"))[:limit]:
        data = path.read_bytes()
        pages.append((path.name.removesuffix(".gz"), gzip.decompress(data) if path.suffix == ".gz" else data))
    return pages


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "ingest_cost.md")
    parser.add_argument("--note", default="Machine: shared, 2 cores; other jobs were running.")
    args = parser.parse_args(argv)
    pages = _load(args.pages)
    options = ExtractionOptions()

    def newsflow(name: str, data: bytes) -> None:
        with contextlib.suppress(InvalidInput):
            extract_articles(name, data, options)

    def extract(name: str, data: bytes) -> None:
        trafilatura.extract(data)

    def bare(name: str, data: bytes) -> None:
        trafilatura.bare_extraction(data, with_metadata=True)

    sides: list[tuple[str, Callable[[str, bytes], None]]] = [
        ("newsflow extract_articles", newsflow),
        ("trafilatura.extract", extract),
        ("trafilatura.bare_extraction(with_metadata=True)", bare),
    ]
    detect_language("warm up the language model " * 10)
    for _, run in sides:
        for name, data in pages[:3]:
            run(name, data)
    seconds: dict[str, list[float]] = {label: [] for label, _ in sides}
    for round_index in range(args.rounds):
        for page_index, (name, data) in enumerate(pages):
            shift = (page_index + round_index) % len(sides)
            order = sides[shift:] + sides[:shift]
            if (page_index + round_index) % 2:
                order.reverse()
            for label, run in order:
                started = time.perf_counter()
                run(name, data)
                seconds[label].append(time.perf_counter() - started)
    newsflow_total = sum(seconds[sides[0][0]])
    lines = [
        "# Ingest extraction cost per HTML page against trafilatura",
        "",
        f"{len(pages)} pages of ../shared/eval/extraction/pages, raw bytes, {args.rounds} rounds, sides alternating",
        f"page by page, one process, trafilatura {trafilatura.__version__}. Regenerate: "
        "`.venv/bin/python bench/ingest_cost.py`.",
        "",
        args.note,
        "",
        "| extractor | pages/s | median ms/page | newsflow rate / this rate |",
        "| --- | --- | --- | --- |",
    ]
    for label, _ in sides:
        total = sum(seconds[label])
        rate = len(seconds[label]) / total
        ratio = total / newsflow_total
        lines.append(f"| {label} | {rate:.1f} | {1000 * statistics.median(seconds[label]):.1f} | {ratio:.2f} |")
    report = "\n".join(lines) + "\n"
    args.out.write_text(report)
    print(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
