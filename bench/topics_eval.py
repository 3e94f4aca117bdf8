"""Level-1 topic quality on the HuffPost dev split: the shipped classifier beside the keyword scorer.

Run: .venv/bin/python bench/topics_eval.py [--test]  -> bench/results/topics_eval.md
Reads ../shared/eval/topics (never copied here). Scored like ``shared/eval/score.py topics``: records with a
non-null gold topic; accuracy of the top level-1 topic and macro-F1 over every class in gold or predictions.
The gate part of dev (sha1 rule of shared/eval/README.md) is always scored; ``--test`` adds the test part and
all of dev (what ``score.py topics`` scores), to be reported once when the work is done.
Keyword scorer: its top topic (``score_topics``) mapped to its level-1 ancestor; none when it finds nothing.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path

from services.enrich.taxonomy import Taxonomy, load_taxonomy
from services.enrich.topic_evaluation import LabelledText, TopicScores, dev_parts, score_topic_predictions
from services.enrich.topic_model import TopicModel, load_topic_model
from services.enrich.topics import score_topics

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
OUT = ROOT / "bench" / "results" / "topics_eval.md"


def keyword_level1(taxonomy: Taxonomy) -> Callable[[str], str | None]:
    def predict(text: str) -> str | None:
        title, _, body = text.partition("\n")
        topics = score_topics(title, body, taxonomy)
        if not topics:
            return None
        ancestors = taxonomy.ancestors(topics[0].code)
        return ancestors[-1] if ancestors else topics[0].code

    return predict


def classifier_level1(model: TopicModel) -> Callable[[str], str | None]:
    return lambda text: model.rank(text)[0].code


def confusion_table(scores: TopicScores, short: dict[str, str]) -> list[str]:
    gold = sorted({g for g, _ in scores.confusion})
    predicted = sorted({p for _, p in scores.confusion}, key=lambda c: (c == "", c))
    lines = [
        "| gold \\ predicted | " + " | ".join(short.get(p, "none") for p in predicted) + " |",
        "|---" * (len(predicted) + 1) + "|",
    ]
    for g in gold:
        cells = [str(scores.confusion.get((g, p), "")) for p in predicted]
        lines.append(f"| {short[g]} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=SHARED)
    parser.add_argument("--test", action="store_true", help="also score the test part of dev (report it once)")
    args = parser.parse_args()
    topics_dir = args.shared / "eval" / "topics"
    if not (topics_dir / "dev.jsonl.gz").is_file():
        raise SystemExit(f"error: topic dev set not found under {topics_dir}")
    taxonomy = load_taxonomy(None)
    model = load_topic_model(None)
    gate, test = dev_parts(topics_dir)
    # All of dev is the target set (score.py's figures on dev); it includes the test part, so only with --test.
    parts: list[tuple[str, Sequence[LabelledText]]] = [("gate", gate)] + (
        [("test", test), ("all dev", gate + test)] if args.test else []
    )
    systems = [
        (f"classifier `{model.version}`", classifier_level1(model)),
        ("keyword scorer", keyword_level1(taxonomy)),
    ]
    short = {code: t.label.split(",")[0].split(" and ")[0] for code, t in taxonomy.topics.items() if t.level == 1}
    results: dict[tuple[str, str], TopicScores] = {}
    none_share: dict[tuple[str, str], float] = {}
    for part, records in parts:
        for name, predict in systems:
            predicted = [predict(r.text) for r in records]
            results[(part, name)] = score_topic_predictions([r.topic for r in records], predicted)
            none_share[(part, name)] = sum(p is None for p in predicted) / len(predicted)
    lines = [
        "# Level-1 topics on HuffPost dev",
        "",
        "HuffPost News Category Dataset slice (headline + summary, no body; CC BY 4.0, R. Misra), dev records with",
        "a non-null IPTC topic, split by the sha1 rule of `shared/eval/README.md`: the gate part is what CI gates",
        "(`tests/eval/test_topics_eval.py`), the test part is reported once. Scored like `score.py topics`.",
        f"Command: `.venv/bin/python bench/topics_eval.py{' --test' if args.test else ''}`.",
        "",
        "| part | system | records | top-1 accuracy | macro-F1 | classes | no topic |",
        "|---|---|---|---|---|---|---|",
    ]
    for (part, name), s in results.items():
        lines.append(
            f"| {part} | {name} | {s.items} | {s.accuracy:.4f} | {s.macro_f1:.4f} | {len(s.per_class_f1)} | "
            f"{none_share[(part, name)]:.0%} |"
        )
    lines += ["", "Always-politics on all of dev: accuracy .4519, macro-F1 .0519 (shared/eval/README.md).", ""]
    lines += ["## Per-class F1 (gate part)", ""]
    lines += ["`-`: neither in gold nor predicted by that system (not in its macro-F1).", ""]
    lines.append("| topic | gold records | classifier | keyword scorer |")
    lines.append("|---|---|---|---|")
    clf, kw = results[("gate", systems[0][0])], results[("gate", systems[1][0])]
    gold_counts: dict[str, int] = {}
    for r in gate:
        gold_counts[r.topic] = gold_counts.get(r.topic, 0) + 1
    for code in sorted(set(clf.per_class_f1) | set(kw.per_class_f1)):
        cells = [f"{s.per_class_f1[code]:.3f}" if code in s.per_class_f1 else "-" for s in (clf, kw)]
        lines.append(f"| {short[code]} ({code}) | {gold_counts.get(code, 0)} | {cells[0]} | {cells[1]} |")
    for name, s in ((systems[0][0], clf), (systems[1][0], kw)):
        lines += ["", f"## Confusion, gate part: {name}", "", *confusion_table(s, short)]
    lines.append("")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
