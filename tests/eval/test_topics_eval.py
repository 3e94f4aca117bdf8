"""Quality gate for the shipped level-1 topic classifier on the real HuffPost dev split.

Reads ``../shared/eval/topics`` at run time through the ``shared_eval`` fixture (skips when absent outside CI,
fails when absent under CI). Gates the non-test part of dev (sha1 rule of ``shared/eval/README.md``); the
test part is reported once in ``bench/results/topics_eval.md``, never gated. Floors only go up.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from services.enrich.taxonomy import load_taxonomy
from services.enrich.topic_evaluation import dev_parts, score_topic_predictions
from services.enrich.topic_model import load_topic_model
from services.enrich.topics import assign_topics

pytestmark = pytest.mark.eval

FLOORS = json.loads((Path(__file__).parent / "topics_floors.json").read_text())


def test_classifier_meets_dev_floors(shared_eval: Path) -> None:
    gate, test = dev_parts(shared_eval / "topics")
    assert len(gate) + len(test) == 1487 and len(gate) > 1000  # every non-null dev record, in one part or the other
    model = load_topic_model(None)
    predicted = [model.rank(r.text)[0].code for r in gate]
    scores = score_topic_predictions([r.topic for r in gate], predicted)
    assert scores.accuracy >= FLOORS["gate_accuracy"], scores.accuracy
    assert scores.macro_f1 >= FLOORS["gate_macro_f1"], scores.macro_f1


def test_every_dev_record_gets_a_level_one_topic(shared_eval: Path) -> None:
    """All of dev, the records without a gold topic too: what enrich publishes always starts with a level-1 topic."""
    taxonomy = load_taxonomy(None)
    model = load_topic_model(None)
    level1 = {code for code, topic in taxonomy.topics.items() if topic.parent is None}
    with gzip.open(shared_eval / "topics" / "dev.jsonl.gz", "rt", encoding="utf-8") as f:
        records = [json.loads(line) for line in f]
    assert len(records) == 2001
    for r in records:
        topics = assign_topics(r["title"], r["text"], taxonomy, model)
        assert topics and topics[0].code in level1 and topics[0].score > 0, r["id"]
