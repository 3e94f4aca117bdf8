"""Cost of the topic classifier in enrich: Enricher with the shipped classifier vs the keyword scorer alone.

Run: .venv/bin/python bench/topics_cost.py  -> bench/results/topics_cost.md
Same docs (bench/enrich_throughput.py's ``make_docs``: ~200 synthetic articles from the invented eval corpus),
same spaCy pipeline and batch size; the two sides alternate ``REPEATS`` times and the best run of each is
kept (the host is shared and noisy). Also times the classifier alone per document.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from enrich_throughput import make_docs  # type: ignore[import-not-found]

from services.enrich.nlp import load_pipeline
from services.enrich.pipeline import Enricher
from services.enrich.stories import InMemoryStoryStore
from services.enrich.taxonomy import load_taxonomy
from services.enrich.topic_model import load_topic_model

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "topics_cost.md"
REPEATS = 4
BATCH = 32


def run(enricher: Enricher, docs: list) -> float:  # type: ignore[type-arg]
    enricher.stories = InMemoryStoryStore()
    t = time.perf_counter()
    for i in range(0, len(docs), BATCH):
        enricher.enrich_batch(docs[i : i + BATCH])
    return time.perf_counter() - t


def main() -> None:
    docs = make_docs()
    nlp = load_pipeline("en_core_web_sm")
    taxonomy = load_taxonomy(None)
    model = load_topic_model(None)
    with_clf = Enricher(nlp=nlp, taxonomy=taxonomy, stories=InMemoryStoryStore(), batch_size=BATCH)
    without = Enricher(nlp=nlp, taxonomy=taxonomy, stories=InMemoryStoryStore(), batch_size=BATCH, topic_model=None)
    run(with_clf, docs[:16])
    run(without, docs[:16])
    times_with: list[float] = []
    times_without: list[float] = []
    for _ in range(REPEATS):
        times_without.append(run(without, docs))
        times_with.append(run(with_clf, docs))
    texts = [f"{d.title}\n{d.text}" for d in docs]
    per_doc: list[float] = []
    for _ in range(REPEATS):
        t = time.perf_counter()
        for text in texts:
            model.rank(text)
        per_doc.append((time.perf_counter() - t) / len(texts))
    best_with, best_without = min(times_with), min(times_without)
    words = statistics.mean(len(d.text.split()) for d in docs)
    lines = [
        "# Topic classifier cost in enrich",
        "",
        f"{len(docs)} synthetic docs (bench/enrich_throughput.py `make_docs`, mean {words:.0f} words), en_core_web_sm,",
        f"batch {BATCH}, {REPEATS} alternating runs per side, best run kept.",
        "Command: `.venv/bin/python bench/topics_cost.py`.",
        f"Classifier `{model.version}` ({len(model.vocabulary)} terms, reads the first {model.max_chars} characters).",
        "",
        "| enrich with | best s | docs/s | all runs s |",
        "|---|---|---|---|",
        f"| keyword scorer only | {best_without:.2f} | {len(docs) / best_without:.1f} | "
        + ", ".join(f"{t:.2f}" for t in times_without)
        + " |",
        f"| classifier + keyword subtopics | {best_with:.2f} | {len(docs) / best_with:.1f} | "
        + ", ".join(f"{t:.2f}" for t in times_with)
        + " |",
        "",
        f"Throughput with the classifier / without: **{best_without / best_with:.3f}** (target >= 0.90).",
        f"Classifier alone: {1000 * min(per_doc):.2f} ms/doc (best of {REPEATS}).",
        "",
    ]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
