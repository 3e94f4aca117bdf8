"""The README's user path: `newsflow run --inbox DIR --until-idle`, then `newsflow export`, on the
embedded broker and embedded Postgres, exactly as a new user runs them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from services.contracts import EnrichedArticle

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "ingest"
SEEDS = REPO.parent / "shared" / "seeds"


def newsflow(cwd: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "NEWSFLOW_HOME")}
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def export(cwd: Path) -> list[EnrichedArticle]:
    result = newsflow(cwd, "export", "--format", "jsonl")
    assert result.returncode == 0, result.stderr
    return [EnrichedArticle.model_validate_json(line) for line in result.stdout.splitlines()]


def test_run_until_idle_stores_every_file_or_dead_letters_it_and_export_reads_it_back(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name in ("trade_talks_comments.txt", "festival_utf8_widgets.html", "articles.jsonl"):
        shutil.copy(FIXTURES / name, inbox / name)
    (inbox / "empty.txt").write_bytes(b"")
    (inbox / "image.png").write_bytes((FIXTURES / "image.png").read_bytes())

    # `run` stops when idle without being told (--until-idle is the default).
    result = newsflow(tmp_path, "run", "--inbox", "inbox")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("metrics: ingest :"), result.stdout
    # Progress while it runs (plain lines when stdout is not a terminal), then a summary of every file.
    assert "] files seen 5, published " in result.stdout, result.stdout
    assert "files: 5 new (3 with articles, 2 refused whole, 0 rewritten with unchanged content)" in result.stdout
    assert "dead-lettered at ingest: 3 (binary 1, empty 1, malformed_json 1)" in result.stdout, result.stdout

    articles = export(tmp_path)
    by_file: dict[str, list[EnrichedArticle]] = {}
    for article in articles:
        by_file.setdefault(Path(article.source.uri).name, []).append(article)
    assert set(by_file) == {"trade_talks_comments.txt", "festival_utf8_widgets.html", "articles.jsonl"}
    assert f"stored: {len(articles)} articles" in result.stdout
    trade = by_file["trade_talks_comments.txt"][0]
    assert trade.title.startswith("Slow Progress, But No Breakthrough")
    assert "Notify of" not in trade.text and "View all comments" not in trade.text
    assert any(e.label == "PERSON" for e in trade.entities)
    assert all(not q.text.startswith(("“", "«", '"')) for q in trade.quotes)
    assert trade.topics and trade.story_id

    # Operators see what was refused and why.
    refused = newsflow(tmp_path, "deadletters", "--stage", "ingest")
    assert refused.returncode == 0, refused.stderr
    assert "ingest   binary                   open      1" in refused.stdout
    assert "ingest   malformed_json           open      1" in refused.stdout
    assert "image.png" in refused.stdout and "kept at" in refused.stdout

    # The README's example: the reader goes away after one line; no BrokenPipeError traceback.
    piped = subprocess.run(
        f"{sys.executable} -m services.cli export | head -1",
        shell=True,
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert EnrichedArticle.model_validate_json(piped.stdout)
    assert "Traceback" not in piped.stderr and "BrokenPipe" not in piped.stderr, piped.stderr

    # A second run over the same folder publishes nothing again and stores nothing twice; a file
    # touched (a new version, the same bytes) is accounted for as such.
    touched = inbox / "trade_talks_comments.txt"
    os.utime(touched, ns=(touched.stat().st_atime_ns, touched.stat().st_mtime_ns + 10**9))
    again = newsflow(tmp_path, "run", "--inbox", "inbox", "--until-idle")
    assert again.returncode == 0, again.stderr
    assert "files: 1 new (0 with articles, 0 refused whole, 1 rewritten with unchanged content); 4 already" in (
        again.stdout
    ), again.stdout
    assert len(export(tmp_path)) == len(articles)


@pytest.mark.skipif(not SEEDS.is_dir(), reason="shared seeds not present")
def test_the_five_seeds_are_stored_with_clean_text_speakers_and_stories(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    shutil.copytree(SEEDS, inbox)
    result = newsflow(tmp_path, "run", "--inbox", "inbox", "--until-idle")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "stored: 5 articles" in result.stdout
    articles = {Path(a.source.uri).name[:3]: a for a in export(tmp_path)}
    assert set(articles) == {"000", "001", "002", "003", "004"}
    for article in articles.values():
        for boilerplate in ("Notify of", "Show More", "bloggers like this", "Post a Comment", "gtag", "IMAGE SOURCE"):
            assert boilerplate not in article.text
        assert not article.text.startswith(article.title)
    quotes = [q for a in articles.values() for q in a.quotes]

    def speakers_of(opening: str) -> list[str | None]:
        # A quote can occur twice: a standfirst quoting the story is part of ``text`` and attributed on its
        # own ("Chinese Foreign Ministry said ... 'there is no limit'"), so each expected speaker must be
        # among the attributions of that quote.
        matches = [q.speaker for q in quotes if q.text.startswith(opening)]
        assert matches, f"no quote starting {opening!r}"
        return matches

    assert "Sergey Lavrov" in speakers_of("Russia and China will move")
    assert "Zhao Lijian" in speakers_of("Since the conflict erupted")
    assert "Wang Wenbin" in speakers_of("there is no limit to China")
    assert "Wang Yi" in speakers_of("China is willing to work")
    assert "Antony Blinken" in speakers_of("The world expects us")
    assert "Ryan Hass" in speakers_of("I expect both sides")
    assert articles["000"].story_id == articles["001"].story_id == articles["002"].story_id
    assert len({articles["000"].story_id, articles["003"].story_id, articles["004"].story_id}) == 3


def test_enrich_scales_across_processes_sharing_the_partitions(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    names = [
        "trade_talks_comments.txt",
        "port_strike_gtag.txt",
        "science_prize_related.txt",
        "grain_deal_agencies.txt",
        "rail_merger_noblank.txt",
        "festival_utf8_widgets.html",
    ]
    for name in names:
        shutil.copy(FIXTURES / name, inbox / name)
    result = newsflow(tmp_path, "run", "--inbox", "inbox", "--until-idle", "--enrich-workers", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "stored: 6 articles" in result.stdout
    logs = tmp_path / ".newsflow" / "logs"
    shares = []
    for worker in ("enrich-1", "enrich-2"):
        assigned = [
            json.loads(line)
            for line in (logs / f"{worker}.log").read_text().splitlines()
            if '"partitions assigned"' in line
        ]
        assert assigned, worker
        shares.append(len(assigned[-1]["partitions"]))
    assert shares[0] == shares[1], shares  # a partition count divisible by the workers: an even split
    for log in logs.glob("*.log"):
        # The client's receive limit covers a whole fetch answer (partitions x per-partition fetch).
        assert "Invalid frame length" not in log.read_text(), log.name
    exported = export(tmp_path)
    assert sorted(Path(a.source.uri).name for a in exported) == sorted(names)
