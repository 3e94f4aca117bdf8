"""Topic training/evaluation data and scores, shared by ``bench/train_topics.py``, ``bench/topics_eval.py``
and the eval gate ``tests/eval/test_topics_eval.py``.

The data is read at run time from the shared folder (``../shared``, never copied into the repository):
one place that knows its layout, the sha1 split rule of ``shared/eval/README.md`` and how a record becomes
classifier text. The scores are computed the way ``shared/eval/score.py topics`` computes them: accuracy,
and macro-F1 over every class that occurs in gold or predictions.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

# shared/eval/README.md: a dev record whose sha1(id) starts with one of these is "test", reported once.
TEST_DIGITS = frozenset("cdef")


@dataclass(frozen=True)
class LabelledText:
    text: str
    topic: str
    source: str  # huffpost | iptc-definition | newsflow-example
    id: str = ""


def record_text(title: str, summary: str) -> str:
    return f"{title}\n{summary}"


def is_test_record(record_id: str) -> bool:
    return hashlib.sha1(record_id.encode("utf-8")).hexdigest()[0] in TEST_DIGITS


def read_huffpost(name: str, topics_dir: Path) -> list[LabelledText]:
    """Records of ``train``/``dev`` with a non-null IPTC topic (the scorer skips the others too)."""
    out: list[LabelledText] = []
    with gzip.open(topics_dir / f"{name}.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if r.get("topic"):
                out.append(LabelledText(record_text(r["title"], r["text"]), r["topic"], "huffpost", r["id"]))
    return out


def dev_parts(topics_dir: Path) -> tuple[list[LabelledText], list[LabelledText]]:
    """(gate part, test part) of dev by the README's sha1 rule."""
    dev = read_huffpost("dev", topics_dir)
    return [r for r in dev if not is_test_record(r.id)], [r for r in dev if is_test_record(r.id)]


def iptc_definitions(path: Path) -> list[LabelledText]:
    """Each IPTC topic's label and definition as a training text for its level-1 ancestor."""
    topics = json.loads(path.read_text(encoding="utf-8"))["topics"]

    def level1(code: str) -> str:
        while topics[code].get("parent"):
            code = topics[code]["parent"]
        return code

    return [
        LabelledText(f"{t['label']}\n{t.get('definition') or ''}", level1(code), "iptc-definition", code)
        for code, t in topics.items()
    ]


def own_examples(path: Path) -> list[LabelledText]:
    examples = json.loads(path.read_text(encoding="utf-8"))["examples"]
    return [
        LabelledText(text, code, "newsflow-example", f"{code}#{i}")
        for code, texts in examples.items()
        for i, text in enumerate(texts)
    ]


@dataclass(frozen=True)
class TopicScores:
    items: int
    accuracy: float
    macro_f1: float
    per_class_f1: dict[str, float]
    # (gold, predicted) -> count, every pair that occurs.
    confusion: dict[tuple[str, str], int]


def score_topic_predictions(gold: Sequence[str], predicted: Sequence[str | None]) -> TopicScores:
    """Top-1 accuracy and macro-F1 as ``score.py topics`` computes them (a missing prediction is wrong)."""
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    confusion: Counter[tuple[str, str]] = Counter()
    for g, p in zip(gold, predicted, strict=True):
        confusion[(g, p or "")] += 1
        if p == g:
            tp[g] += 1
        else:
            fn[g] += 1
            if p:
                fp[p] += 1
    f1: dict[str, float] = {}
    for label in sorted(set(tp) | set(fp) | set(fn)):
        denominator = 2 * tp[label] + fp[label] + fn[label]
        f1[label] = 2 * tp[label] / denominator if denominator else 0.0
    n = len(gold)
    return TopicScores(
        items=n,
        accuracy=sum(tp.values()) / n if n else 0.0,
        macro_f1=sum(f1.values()) / len(f1) if f1 else 0.0,
        per_class_f1=f1,
        confusion=dict(confusion),
    )
