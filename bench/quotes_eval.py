"""Quotes and speakers on real news: newsflow's enricher vs textacy's ``direct_quotations``.

Run: .venv/bin/python bench/quotes_eval.py            -> bench/results/quotes_eval.md (dev+test)
     .venv/bin/python bench/quotes_eval.py --split train --no-write   (tuning; prints figures only)

Data: PolNeAR (../shared/eval/quotes/articles.jsonl.gz, read at run time, never copied). Both systems
read the same spaCy Docs (en_core_web_sm, newsflow's pipeline) and are scored by ../shared/eval/score.py,
on direct gold and with ``--include-mixed``. newsflow reports to the scorer what a consumer would take
for speech: kinds ``full`` (scored against direct gold) and ``partial`` (added under --include-mixed);
``term`` quotes are never speech. The error categories at the end are computed with the scorer's own
matching rule (token-multiset Jaccard >= 0.5, one-to-one, best first).
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from spacy.language import Language
from spacy.tokens import Doc, DocBin

from services.contracts.events import QuoteKind
from services.enrich.entities import analyse_entities
from services.enrich.nlp import load_pipeline
from services.enrich.quotes import extract_quotes

ROOT = Path(__file__).resolve().parents[1]
SHARED_EVAL = ROOT.parent / "shared" / "eval"
ARTICLES = SHARED_EVAL / "quotes" / "articles.jsonl.gz"
SCORER = SHARED_EVAL / "score.py"
OUT = ROOT / "bench" / "results" / "quotes_eval.md"
MODEL = "en_core_web_sm"
SPEECH_KINDS = {"direct": {QuoteKind.FULL}, "mixed": {QuoteKind.FULL, QuoteKind.PARTIAL}}

TEXTACY_FAILURES: list[str] = []
Prediction = dict[str, Any]  # one scorer line: {"id", "quotes": [{"text", "speaker"}]}


@dataclass
class Article:
    id: str
    split: str
    title: str
    text: str
    quotes: list[dict[str, Any]]
    mixed_quotes: list[dict[str, Any]]


def load_articles(splits: Iterable[str]) -> list[Article]:
    wanted = set(splits)
    out: list[Article] = []
    with gzip.open(ARTICLES, "rt", encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            if d["split"] in wanted:
                out.append(
                    Article(d["id"], d["split"], d["title"] or "", d["text"], d["quotes"], d.get("mixed_quotes") or [])
                )
    return out


def parse(nlp: Language, articles: Sequence[Article], cache: Path | None) -> list[Doc]:
    """One nlp.pipe pass over the texts; ``cache`` (a DocBin file) skips it on later tuning runs."""
    if cache is not None and cache.is_file():
        docs = list(DocBin().from_disk(cache).get_docs(nlp.vocab))
        if [d.text for d in docs] == [a.text for a in articles]:
            return docs
    docs = list(nlp.pipe((a.text for a in articles), batch_size=32))
    if cache is not None:
        DocBin(store_user_data=False, docs=docs).to_disk(cache)
    return docs


def newsflow_predictions(articles: Sequence[Article], docs: Sequence[Doc]) -> list[list[dict[str, Any]]]:
    out = []
    for article, doc in zip(articles, docs, strict=True):
        quotes = extract_quotes(doc, analyse_entities(doc, title=article.title))
        out.append(
            [
                {
                    "text": q.text,
                    "speaker": q.speaker or "",
                    "mention": q.speaker_mention.text if q.speaker_mention else "",
                    "kind": q.kind.value,
                    "pieces": [article.text[p.start : p.end] for p in q.parts],
                }
                for q in quotes
            ]
        )
    return out


def textacy_predictions(docs: Sequence[Doc]) -> list[list[dict[str, Any]]]:
    from textacy.extract.triples import direct_quotations  # bench extra only

    out = []
    for doc in docs:
        found = []
        try:
            for triple in direct_quotations(doc):
                speaker = " ".join(t.text for t in triple.speaker)
                found.append({"text": triple.content.text, "speaker": speaker, "kind": "full", "pieces": []})
        except (ValueError, IndexError, AttributeError):
            # textacy bails out on a Doc with an odd number of marks; its quotes there count as none.
            TEXTACY_FAILURES.append(doc.text[:40])
        out.append(found)
    return out


def scorer_lines(
    articles: Sequence[Article], preds: Sequence[list[dict[str, Any]]], kinds: set[str], *, pieces: bool = True
) -> list[str]:
    """One scorer line per article. PolNeAR's unit is the quoted fragment, so a statement split by its
    attribution (one newsflow Quote with two ``parts``) is sent as its pieces unless ``pieces`` is off."""
    lines = []
    for a, p in zip(articles, preds, strict=True):
        quotes = []
        for q in p:
            if q["kind"] not in kinds:
                continue
            texts: list[str] = q["pieces"] if pieces and q["pieces"] else [q["text"]]
            quotes += [{"text": t, "speaker": q["speaker"]} for t in texts]
        lines.append(json.dumps({"id": a.id, "quotes": quotes}))
    return lines


def run_scorer(lines: list[str], *, include_mixed: bool) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        f.write("\n".join(lines) + "\n")
        path = f.name
    cmd = [sys.executable, str(SCORER), "quotes", path, str(ARTICLES), "--only-pred-ids", "--json"]
    if include_mixed:
        cmd.append("--include-mixed")
    res = subprocess.run(cmd, check=True, capture_output=True, text=True)
    Path(path).unlink()
    figures: dict[str, float] = json.loads(res.stdout)
    return figures


def _load_scorer_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("shared_eval_score", SCORER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------------------------------ categories
_QUOTE_MARKS = re.compile(r"^[\s“”\"«»‘’„]+|[\s“”\"«»‘’„,.]+$")


def speaker_kind(gold_speaker: str | None, pronouns: set[str]) -> str:
    words = (gold_speaker or "").split()
    if not words:
        return "none"
    if " ".join(words).lower() in pronouns:
        return "pronoun"
    if words[0][:1].isupper() and words[0].lower() not in {"the", "a", "an"}:
        return "named"
    return "description"


@dataclass
class Breakdown:
    counts: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def add(self, category: str, example: str) -> None:
        self.counts[category] += 1
        self.examples.setdefault(category, [])
        if len(self.examples[category]) < 3:
            self.examples[category].append(example)


def error_breakdown(articles: Sequence[Article], preds: Sequence[list[dict[str, Any]]], score: ModuleType) -> Breakdown:
    """Categories of the direct-gold comparison, with every predicted quote (any kind) in view."""
    tokens: Callable[[str | None], list[str]] = score.tokens
    pronouns: set[str] = score.PRONOUNS
    out = Breakdown()
    for article, pred in zip(articles, preds, strict=True):
        gold = article.quotes
        speech = [
            {**q, "text": t} for q in pred if q["kind"] == QuoteKind.FULL for t in (q.get("pieces") or [q["text"]])
        ]
        gt = [tokens(q["text"]) for q in gold]
        pt = [tokens(q["text"]) for q in speech]
        cands = sorted(
            ((score.jaccard(x, y), a, b) for a, x in enumerate(gt) for b, y in enumerate(pt)),
            key=lambda t: (-t[0], t[1], t[2]),
        )
        g2p: dict[int, int] = {}
        used: set[int] = set()
        for j, a, b in cands:
            if j >= 0.5 and a not in g2p and b not in used:
                g2p[a] = b
                used.add(b)
        mixed_tokens = [set(tokens(m["text"])) for m in article.mixed_quotes]
        for a, g in enumerate(gold):
            kind = speaker_kind(g.get("speaker"), pronouns)
            if a in g2p:
                p = speech[g2p[a]]
                ok = score.speaker_match(g.get("speaker"), p["speaker"])
                out.counts[f"speaker kind {kind}: matched"] += 1
                if ok:
                    out.counts[f"speaker kind {kind}: right"] += 1
                elif not p["speaker"]:
                    out.add("speaker: none given", f"gold {g.get('speaker')!r}")
                else:
                    out.add(f"speaker: wrong ({kind} gold)", f"gold {g.get('speaker')!r}, got {p['speaker']!r}")
                continue
            gset = set(gt[a])
            overlapping = [q for q in pred if gset & set(tokens(q["text"]))]
            text = _QUOTE_MARKS.sub("", g["text"])[:60]
            if not overlapping:
                out.add("missed: no span found", text)
            elif any(q["kind"] != QuoteKind.FULL for q in overlapping):
                out.add("missed: reported as partial/term", text)
            else:
                out.add("missed: boundary (span merged or cut)", text)
        for b, p in enumerate(speech):
            if b in used:
                continue
            pset = set(pt[b])
            n_words = len(pt[b])
            if any(len(pset & m) >= 0.5 * max(1, len(pset)) for m in mixed_tokens):
                out.add("false quote: partial quote reported as full", p["text"][:60])
            elif n_words <= 4:
                out.add("false quote: term or scare quote (<= 4 words)", p["text"][:60])
            elif any(pset & set(x) for x in gt):
                out.add("false quote: boundary (overlaps a gold quote)", p["text"][:60])
            else:
                out.add("false quote: no gold (unannotated or not speech)", p["text"][:60])
        for q in pred:
            if q["kind"] == QuoteKind.TERM and q["speaker"]:
                out.add("term given a speaker", q["text"][:60])
    return out


# ------------------------------------------------------------------------------------------ report
AS_WRITTEN = "newsflow, speaker as written (speaker_mention)"


def combined(fig: dict[str, float], key: str) -> float:
    return fig["quote_f1"] * fig[key]


def figures_row(name: str, fig: dict[str, float]) -> str:
    return (
        f"| {name} | {fig['gold_quotes']} | {fig['pred_quotes']} | {fig['quote_precision']:.3f} | "
        f"{fig['quote_recall']:.3f} | {fig['quote_f1']:.3f} | {fig['speaker_accuracy_on_matched']:.3f} | "
        f"{fig['speaker_accuracy_on_matched_non_pronoun_gold']:.3f} | "
        f"{combined(fig, 'speaker_accuracy_on_matched'):.3f} | "
        f"{combined(fig, 'speaker_accuracy_on_matched_non_pronoun_gold'):.3f} |"
    )


TABLE_HEAD = [
    "| system | gold | predicted | P | R | F1 | speaker (matched) | speaker (non-pronoun gold) | "
    "F1 x speaker | F1 x speaker (non-pronoun) |",
    "|---|---|---|---|---|---|---|---|---|---|",
]


def evaluate(splits: Sequence[str], cache_dir: Path | None, with_textacy: bool) -> tuple[list[str], dict[str, Any]]:
    articles = load_articles(splits)
    nlp = load_pipeline(MODEL)
    cache = cache_dir / f"polnear-{'-'.join(splits)}.spacy" if cache_dir else None
    docs = parse(nlp, articles, cache)
    t0 = time.perf_counter()
    ours = newsflow_predictions(articles, docs)
    t_ours = time.perf_counter() - t0
    # PolNeAR's gold speaker is the source span as written (a quarter are pronouns), as is textacy's
    # answer: newsflow's ``speaker_mention`` is the like-for-like comparison, ``speaker`` the resolved one.
    as_written = [[{**q, "speaker": q["mention"]} for q in quotes] for quotes in ours]
    systems = {"newsflow": ours, AS_WRITTEN: as_written}
    if with_textacy:
        systems["textacy direct_quotations"] = textacy_predictions(docs)
    results: dict[str, Any] = {}
    lines: list[str] = []
    for mode, include_mixed in (("direct", False), ("mixed", True)):
        lines += ["", f"### {'direct gold' if mode == 'direct' else 'direct + mixed gold (--include-mixed)'}", ""]
        lines += TABLE_HEAD
        for name, preds in systems.items():
            kinds = {str(k) for k in SPEECH_KINDS[mode]} if name.startswith("newsflow") else {"full"}
            fig = run_scorer(scorer_lines(articles, preds, kinds), include_mixed=include_mixed)
            results[f"{name}/{mode}"] = fig
            lines.append(figures_row(name, fig))
            if name == "newsflow" and mode == "direct":
                whole = run_scorer(scorer_lines(articles, preds, kinds, pieces=False), include_mixed=False)
                lines.append(figures_row("newsflow, split statements sent whole", whole))
    breakdown = error_breakdown(articles, ours, _load_scorer_module())
    results["breakdown"] = breakdown
    results["articles"] = len(articles)
    results["newsflow_seconds"] = t_ours
    return lines, results


def breakdown_lines(breakdown: Breakdown, *, examples: bool) -> list[str]:
    """``examples`` quote the articles: for the console only, never for the committed results (the
    PolNeAR texts must not be copied into the repository)."""
    lines = [
        "| category | count |" + (" examples (first words) |" if examples else ""),
        "|---|---|" + ("---|" * examples),
    ]
    for cat in sorted(c for c in breakdown.counts if "speaker kind" not in c):
        ex = "; ".join(f"`{e}`" for e in breakdown.examples.get(cat, []))
        lines.append(f"| {cat} | {breakdown.counts[cat]} |" + (f" {ex.replace('|', '/')} |" if examples else ""))
    lines += ["", "| gold speaker kind | matched | speaker right | accuracy |", "|---|---|---|---|"]
    for kind in ("named", "description", "pronoun", "none"):
        n = breakdown.counts[f"speaker kind {kind}: matched"]
        ok = breakdown.counts[f"speaker kind {kind}: right"]
        lines.append(f"| {kind} | {n} | {ok} | {ok / n if n else 0:.3f} |")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", action="append", choices=["train", "dev", "test"], help="default: dev and test")
    ap.add_argument("--cache", type=Path, help="directory for parsed-Doc caches (tuning runs)")
    ap.add_argument("--no-textacy", action="store_true")
    ap.add_argument("--no-write", action="store_true", help="print only, do not write bench/results")
    ap.add_argument("--categories", action="store_true", help="print the error breakdown")
    args = ap.parse_args(argv)
    if not ARTICLES.is_file():
        print(f"error: PolNeAR articles not found at {ARTICLES}", file=sys.stderr)
        return 2
    splits = args.split or ["dev", "test"]
    lines, results = evaluate(splits, args.cache, not args.no_textacy)
    cats = breakdown_lines(results["breakdown"], examples=False)
    print("\n".join(lines))
    if args.categories:
        print("\n".join(breakdown_lines(results["breakdown"], examples=True)))
    if args.no_write:
        return 0
    report = [
        "# Quotes on real news (PolNeAR)",
        "",
        f"{results['articles']} articles of PolNeAR split(s) {' + '.join(splits)} "
        "(../shared/eval/quotes, read at run time), en_core_web_sm 3.8.0 Docs shared by both systems,",
        "scored by ../shared/eval/score.py (`--only-pred-ids`; every article has a prediction line).",
        "Command: `.venv/bin/python bench/quotes_eval.py`.",
        "newsflow sends kind `full` to the direct-gold scoring and `full` + `partial` to `--include-mixed`;",
        "`term` (titles, terms, scare quotes) is never sent as speech. Speaker accuracy on non-pronoun gold is",
        "the fair figure for newsflow, which resolves he/she to the person (PolNeAR's gold is the pronoun).",
        f"textacy raised an error (odd number of quotation marks) on {len(TEXTACY_FAILURES)} of the articles;",
        "its quotes there count as none.",
        *lines,
        "",
        "## Error categories (newsflow, direct gold)",
        "",
        *cats,
        "",
    ]
    OUT.write_text("\n".join(report))
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
