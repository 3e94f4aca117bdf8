"""Quality gate for quotes on real news: PolNeAR's dev split, scored by the shared scorer.

The articles are read from ``../shared/eval`` at run time (never copied here) through the ``shared_eval``
fixture: skipped when absent outside CI, failing under CI. Tuning happens on PolNeAR's train split only
(``bench/quotes_eval.py --split train``); floors live in ``quotes_floors.json`` and only go up. Full and
partial quotes are speech; a term never carries a speaker.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from services.contracts.events import Quote, QuoteKind
from services.enrich.entities import analyse_entities
from services.enrich.nlp import load_pipeline
from services.enrich.quotes import extract_quotes

pytestmark = pytest.mark.eval

FLOORS: dict[str, float] = json.loads((Path(__file__).parent / "quotes_floors.json").read_text())


@pytest.fixture(scope="module")
def dev_predictions(shared_eval: Path) -> tuple[list[dict[str, Any]], list[list[Quote]]]:
    with gzip.open(shared_eval / "quotes" / "articles.jsonl.gz", "rt", encoding="utf-8") as f:
        articles = [a for a in map(json.loads, f) if a["split"] == "dev"]
    nlp = load_pipeline("en_core_web_sm")
    quotes = []
    for article, doc in zip(articles, nlp.pipe((a["text"] for a in articles), batch_size=32), strict=True):
        quotes.append(extract_quotes(doc, analyse_entities(doc, title=article["title"] or "")))
    return articles, quotes


def _speaker(quote: Quote, as_written: bool) -> str:
    if as_written:
        return quote.speaker_mention.text if quote.speaker_mention else ""
    return quote.speaker or ""


def _score(
    shared_eval: Path,
    tmp_path: Path,
    predictions: tuple[list[dict[str, Any]], list[list[Quote]]],
    *,
    mixed: bool,
    as_written: bool = False,
) -> dict[str, float]:
    speech = {QuoteKind.FULL, QuoteKind.PARTIAL} if mixed else {QuoteKind.FULL}
    pred = tmp_path / f"{'mixed' if mixed else 'direct'}-{'as-written' if as_written else 'resolved'}.jsonl"
    with pred.open("w") as f:
        for article, quotes in zip(*predictions, strict=True):
            # PolNeAR's unit is the quoted fragment: a statement split by its attribution goes as its parts.
            kept = [
                {"text": text, "speaker": _speaker(q, as_written)}
                for q in quotes
                if q.kind in speech
                for text in ([article["text"][p.start : p.end] for p in q.parts] or [q.text])
            ]
            f.write(json.dumps({"id": article["id"], "quotes": kept}) + "\n")
    cmd = [sys.executable, str(shared_eval / "score.py"), "quotes", str(pred)]
    cmd += [str(shared_eval / "quotes" / "articles.jsonl.gz"), "--only-pred-ids", "--json"]
    if mixed:
        cmd.append("--include-mixed")
    figures: dict[str, float] = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    return figures


def test_direct_quotes_and_speakers_on_dev(
    shared_eval: Path, tmp_path: Path, dev_predictions: tuple[list[dict[str, Any]], list[list[Quote]]]
) -> None:
    fig = _score(shared_eval, tmp_path, dev_predictions, mixed=False)
    assert fig["articles"] == 84 and fig["gold_quotes"] > 500, fig
    assert fig["quote_precision"] >= FLOORS["direct_precision"], fig
    assert fig["quote_recall"] >= FLOORS["direct_recall"], fig
    assert fig["quote_f1"] >= FLOORS["direct_f1"], fig
    assert fig["speaker_accuracy_on_matched_non_pronoun_gold"] >= FLOORS["direct_speaker_non_pronoun"], fig


def test_partial_quotes_on_dev(
    shared_eval: Path, tmp_path: Path, dev_predictions: tuple[list[dict[str, Any]], list[list[Quote]]]
) -> None:
    fig = _score(shared_eval, tmp_path, dev_predictions, mixed=True)
    assert fig["quote_f1"] >= FLOORS["mixed_f1"], fig


def test_terms_are_never_speech(dev_predictions: tuple[list[dict[str, Any]], list[list[Quote]]]) -> None:
    terms = [q for quotes in dev_predictions[1] for q in quotes if q.kind is QuoteKind.TERM]
    assert terms, "the dev split has scare quotes and terms; none found"
    assert all(q.speaker is None and q.speaker_id is None and q.cue is None for q in terms)
    assert not any(q.kind is QuoteKind.FRAGMENT for quotes in dev_predictions[1] for q in quotes)


def test_speaker_mentions_as_written_on_dev(
    shared_eval: Path, tmp_path: Path, dev_predictions: tuple[list[dict[str, Any]], list[list[Quote]]]
) -> None:
    """PolNeAR's gold speaker is the span as written (a quarter are pronouns): ``speaker_mention`` is scored
    against all of it, the resolved ``speaker`` only against the non-pronoun part (above)."""
    fig = _score(shared_eval, tmp_path, dev_predictions, mixed=False, as_written=True)
    assert fig["speaker_accuracy_on_matched"] >= FLOORS["direct_speaker_mention_as_written"], fig
    assert fig["quote_f1"] * fig["speaker_accuracy_on_matched"] >= FLOORS["direct_f1_x_mention_as_written"], fig
