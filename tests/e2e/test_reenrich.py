"""`newsflow reenrich` on a running pipeline (real broker, real Postgres, the services as processes).

The five seeds (../shared/seeds, read at test time) are stored, then made to look enriched by an older
enricher: version 0.0.9, an earlier enriched_at, and three annotations as an older version would have had
them (an entity missing, a quote attributed to nobody, another topic). The dry run and the report of the
completed run list exactly those fields; the backfill is SIGKILLed mid-way, resumes, and ends with every
article stored once, at the current version; an older enrichment replayed afterwards changes nothing."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from pipeline_waits import pipeline_env, rows, scalar, wait_for

from services.contracts import EnrichedArticle, Topics
from services.enrich import ENRICHER_VERSION
from services.localstack import EmbeddedBroker, ServiceProcess
from services.runtime.kafka import EventProducer
from services.runtime.messages import OutgoingEvent, Trace
from services.runtime.settings import ServiceSettings

SEEDS = Path(__file__).resolve().parents[2].parent / "shared" / "seeds"
pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not SEEDS.is_dir(), reason="shared seeds not present")]
OLD_VERSION = "0.0.9"


def make_older(database_url: str) -> dict[str, set[str]]:
    """Rewrite the stored seeds as an older enricher's output; return the fields changed, by article."""
    stored = [EnrichedArticle.model_validate(e) for (e,) in rows(database_url, "SELECT event FROM articles")]
    by_id = {a.article_id: a for a in sorted(stored, key=lambda a: a.article_id)}
    quoted = next(a for a in by_id.values() if any(q.speaker for q in a.quotes))
    rest = [a for a in by_id.values() if a is not quoted]
    with_entities = next(a for a in rest if a.entities)
    with_topics = next(a for a in rest if a.topics and a is not with_entities)
    expected = {
        quoted.article_id: {"quotes"},
        with_entities.article_id: {"entities"},
        with_topics.article_id: {"topics"},
    }
    with psycopg.connect(database_url) as conn:
        for article in by_id.values():
            update: dict[str, object] = {
                "enrichment": article.enrichment.model_copy(
                    update={
                        "enricher_version": OLD_VERSION,
                        "enriched_at": article.enrichment.enriched_at - dt.timedelta(days=30),
                    }
                )
            }
            if article is quoted:
                first = next(i for i, q in enumerate(article.quotes) if q.speaker)
                quotes = list(article.quotes)
                quotes[first] = quotes[first].model_copy(update={"speaker": None, "speaker_id": None})
                update["quotes"] = quotes
            if article is with_entities:
                update["entities"] = article.entities[1:]
            if article is with_topics:
                update["topics"] = [article.topics[0].model_copy(update={"code": "medtop:99999999", "label": "old"})]
            older = article.model_copy(update=update)
            conn.execute(
                "UPDATE articles SET event = %s::jsonb, enricher_version = %s, enriched_at = %s WHERE article_id = %s",
                (older.model_dump_json(), OLD_VERSION, older.enrichment.enriched_at, article.article_id),
            )
    return expected


def fields_of(jsonl: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for line in jsonl.splitlines():
        record = json.loads(line)
        assert record.get("pending") is not True, f"pending after the run: {record}"
        if record.get("skipped"):
            continue
        found.setdefault(record["article_id"], set()).add(record["field"])
    return found


def test_a_sigkilled_reenrich_resumes_and_brings_the_seeds_to_the_current_version(
    broker: EmbeddedBroker, database_url: str, tmp_path: Path
) -> None:
    home, inbox = tmp_path / "home", tmp_path / "inbox"
    shutil.copytree(SEEDS, inbox)
    env = pipeline_env(home, inbox, broker.bootstrap_servers, database_url)
    command = [sys.executable, "-m", "services.cli"]

    def newsflow(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*command, *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=300)

    assert newsflow("db", "upgrade").returncode == 0
    services = [ServiceProcess(stage, env, home / "logs" / f"{stage}.log") for stage in ("store", "enrich", "ingest")]
    try:
        wait_for(lambda: scalar(database_url, "SELECT count(*) FROM articles") == 5, services)
        expected = make_older(database_url)

        # Dry run: the current enricher here, on every selected article; nothing published or recorded.
        dry = newsflow("reenrich", "--dry-run", "--format", "jsonl")
        assert dry.returncode == 0, dry.stderr
        assert fields_of(dry.stdout) == expected
        assert {json.loads(line)["from_version"] for line in dry.stdout.splitlines()} == {OLD_VERSION}
        assert scalar(database_url, "SELECT count(*) FROM backfill_runs") == 0
        none = newsflow("reenrich", "--dry-run", "--since", "2999-01-01")
        assert "0 article(s) compared, 0 would change" in none.stdout, none.stderr

        # The backfill, slowed to one article every two seconds, killed once the first is acknowledged.
        slow = subprocess.Popen(
            [*command, "reenrich", "--rate", "0.5"],
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        published = "SELECT count(*) FROM backfill_items WHERE published_at IS NOT NULL"
        wait_for(lambda: scalar(database_url, published) >= 1, services, timeout_s=120)
        slow.send_signal(signal.SIGKILL)
        slow.wait(10)
        assert slow.returncode == -signal.SIGKILL
        assert 1 <= scalar(database_url, published) < 5
        assert scalar(database_url, "SELECT count(*) FROM backfill_items") == 5  # the whole selection was recorded

        resumed = newsflow("reenrich", "--where-version-below", "9.0.0")  # the recorded selection wins
        assert resumed.returncode == 0, resumed.stderr
        assert "resuming reenrich-" in resumed.stdout and "5 in all" in resumed.stdout
        assert scalar(database_url, published) == 5
        assert scalar(database_url, "SELECT count(*) FROM backfill_runs WHERE published_at IS NOT NULL") == 1

        current = f"SELECT count(*) FROM articles WHERE enricher_version = '{ENRICHER_VERSION}'"
        wait_for(lambda: scalar(database_url, current) == 5, services)
        assert scalar(database_url, "SELECT count(*) FROM articles") == 5
        assert scalar(database_url, "SELECT count(*) FROM article_sources") == 5
        assert scalar(database_url, "SELECT count(*) FROM dead_letters") == 0
        for (event,) in rows(database_url, "SELECT event FROM articles"):
            assert EnrichedArticle.model_validate(event).enrichment.enricher_version == ENRICHER_VERSION

        report = newsflow("reenrich-report", "--format", "jsonl")
        assert report.returncode == 0, report.stderr
        assert fields_of(report.stdout) == expected
        assert {json.loads(line)["to_version"] for line in report.stdout.splitlines()} == {ENRICHER_VERSION}
        table = newsflow("reenrich-report")
        assert "5 article(s) compared, 3 changed, 0 story merge(s), 0 pending" in table.stdout, table.stderr

        # Nothing is left below the current version, so a new run has nothing to do.
        again = newsflow("reenrich")
        assert again.returncode == 0 and "nothing to re-enrich" in again.stdout, again.stderr

        # An older enrichment arriving late (a replay of the old event) never overwrites the newer one.
        (before,) = rows(database_url, "SELECT before FROM backfill_items ORDER BY position LIMIT 1")[0]
        older = EnrichedArticle.model_validate(before)
        producer = EventProducer(ServiceSettings(kafka_bootstrap_servers=broker.bootstrap_servers), "test-replay")
        producer.send(OutgoingEvent(Topics.ENRICHED, older.article_id, older, Trace(trace_id="0" * 32)))
        producer.flush()
        producer.close()
        time.sleep(3)  # the store polls every 200 ms
        assert scalar(database_url, current) == 5
    finally:
        for service in services:
            service.stop()


def test_reenrich_refuses_bad_arguments_in_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "NEWSFLOW_HOME": str(tmp_path), "DATABASE_URL": "postgresql://nowhere/none"}
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    for args, message in (
        (["--where-version-below", "latest"], "expected a version such as 0.2.0"),
        (["--since", "yesterday", "--dry-run"], "--since 'yesterday': expected an ISO date/time"),
        ([], "set KAFKA_BOOTSTRAP_SERVERS"),
    ):
        result = subprocess.run(
            [sys.executable, "-m", "services.cli", "reenrich", *args], env=env, capture_output=True, text=True
        )
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip().splitlines() == [result.stderr.strip()] and message in result.stderr


def test_reingest_keeps_ids_of_unchanged_bodies_links_changed_ones_and_skips_lost_sources(
    broker: EmbeddedBroker, database_url: str, tmp_path: Path
) -> None:
    """The stored seeds look extracted by an older cleaner: one with a junk title (same body), one with a
    boilerplate line in its body (so another id); a third one's file is gone."""
    home, inbox = tmp_path / "home", tmp_path / "inbox"
    shutil.copytree(SEEDS, inbox)
    env = pipeline_env(home, inbox, broker.bootstrap_servers, database_url)

    def newsflow(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "services.cli", *args],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=300,
        )

    assert newsflow("db", "upgrade").returncode == 0
    services = [ServiceProcess(stage, env, home / "logs" / f"{stage}.log") for stage in ("store", "enrich", "ingest")]
    try:
        wait_for(lambda: scalar(database_url, "SELECT count(*) FROM articles") == 5, services)
        stored = sorted(
            (EnrichedArticle.model_validate(e) for (e,) in rows(database_url, "SELECT event FROM articles")),
            key=lambda a: a.article_id,
        )
        titled, bodied, lost = stored[0], stored[1], stored[2]
        with psycopg.connect(database_url) as conn:
            junk = titled.model_copy(update={"title": titled.title + " | The Daily Site"})
            conn.execute(
                "UPDATE articles SET title = %s, event = %s::jsonb WHERE article_id = %s",
                (junk.title, junk.model_dump_json(), titled.article_id),
            )
            old = bodied.model_copy(
                update={
                    "article_id": "old-cleaner-id",
                    "text": bodied.text + "\n\nShare this article with friends.",
                    "word_count": bodied.word_count + 5,
                }
            )
            conn.execute(
                "INSERT INTO articles (article_id, schema_version, title, standfirst, body, author, url,"
                " published_at, language, word_count, duplicate_of, story_id, enricher_version, model,"
                " ingested_at, enriched_at, event, trace_id)"
                " SELECT %s, schema_version, title, standfirst, %s, author, url, published_at, language, %s,"
                " duplicate_of, story_id, enricher_version, model, ingested_at, enriched_at, %s::jsonb, trace_id"
                " FROM articles WHERE article_id = %s",
                (old.article_id, old.text, old.word_count, old.model_dump_json(), bodied.article_id),
            )
            conn.execute(
                "UPDATE article_sources SET article_id = %s WHERE article_id = %s",
                (old.article_id, bodied.article_id),
            )
            conn.execute("DELETE FROM articles WHERE article_id = %s", (bodied.article_id,))
        Path(lost.source.uri).unlink()

        # Dry run: extracted again here, compared with what is stored; nothing published or recorded.
        dry = newsflow("reingest", "--dry-run", "--format", "jsonl")
        assert dry.returncode == 0, dry.stderr
        assert fields_of(dry.stdout) == {
            titled.article_id: {"title"},
            old.article_id: {"article_id", "text", "word_count"},
        }
        skipped = [json.loads(line) for line in dry.stdout.splitlines() if json.loads(line).get("skipped")]
        assert [(r["article_id"], r["skipped"]) for r in skipped] == [(lost.article_id, "source_gone")]
        assert scalar(database_url, "SELECT count(*) FROM backfill_runs") == 0

        done = newsflow("reingest")
        assert done.returncode == 0, done.stderr
        assert "new_id 1, same_id 3, source_gone 1" in done.stdout

        # The article whose body changed is stored under its new (true) id, the old one kept and linked.
        wait_for(lambda: scalar(database_url, "SELECT count(*) FROM articles") == 6, services)
        assert rows(database_url, "SELECT old_article_id, new_article_id FROM article_links") == [
            ("old-cleaner-id", bodied.article_id)
        ]
        retitled = f"SELECT count(*) FROM articles WHERE article_id = '{titled.article_id}' AND title = %s"
        wait_for(lambda: int(str(rows(database_url, retitled, (titled.title,))[0][0])) == 1, services)
        wait_for(
            lambda: "0 pending" in newsflow("reenrich-report").stdout,
            services,
        )
        report = fields_of(newsflow("reenrich-report", "--format", "jsonl").stdout)
        assert report[titled.article_id] == {"title"}
        assert {"article_id", "text", "word_count"} <= report["old-cleaner-id"]
        # Re-extracting an unchanged object changes nothing; the lost one is skipped, not reported.
        assert set(report) == {titled.article_id, "old-cleaner-id"}
    finally:
        for service in services:
            service.stop()
