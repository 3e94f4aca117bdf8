"""Files that used to stop ingest or vanish silently, among good files on a real broker: a name that is
not UTF-8, JSON escapes of a lone surrogate and of NUL, symlinks, FIFOs and hidden names; and files
that are still being written."""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

from services.contracts import DeadLetter, Topics
from services.ingest.dedup import NearDuplicateIndex
from services.ingest.formats import ExtractionOptions
from services.ingest.ledger import Ledger
from services.ingest.quarantine import Quarantine
from services.ingest.service import IngestService
from services.ingest.sources.local import LocalFolderSource
from services.localstack import EmbeddedBroker
from services.runtime.health import Health
from services.runtime.kafka import EventProducer, ensure_topics
from services.runtime.settings import ServiceSettings

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).parent.parent / "fixtures" / "ingest"
GOOD = (FIXTURES / "trade_talks_comments.txt").read_bytes()
BODY = " ".join(["Negotiators from both sides met again on Tuesday to settle the remaining points of the deal."] * 8)


def _old(path: Path) -> None:
    stamp = time.time() - 3600  # written "a while ago": settled
    os.utime(path, (stamp, stamp), follow_symlinks=False)


def _scan(broker: EmbeddedBroker, inbox: Path, home: Path) -> IngestService:
    settings = ServiceSettings(kafka_bootstrap_servers=broker.bootstrap_servers)
    ensure_topics(settings, [t.value for t in Topics])
    ledger = Ledger(home / "ledger.sqlite3")
    producer = EventProducer(settings, "ingest-poison-test")
    source = LocalFolderSource(inbox, settle_seconds=1.0, watch=False)
    service = IngestService(
        source=source,
        ledger=ledger,
        producer=producer,
        quarantine=Quarantine(home / "quarantine"),
        options=ExtractionOptions(),
        near_duplicates=NearDuplicateIndex(ledger),
        publish_batch=4,
        health=Health(60),
    )
    try:
        service.scan_once(threading.Event())
    finally:
        producer.close()
        source.close()
        ledger.close()
    return service


def test_poison_files_are_ingested_or_dead_lettered_and_the_rest_flows(broker: EmbeddedBroker, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    # A latin-1 file name: bytes that are not UTF-8 (Python sees a surrogate escape).
    latin_name = os.fsdecode(b"caf\xe9.txt")
    (inbox / latin_name).write_bytes(GOOD)
    (inbox / "surrogate.json").write_text(
        json.dumps({"title": "Trade talks resume", "text": BODY + " \udfff end."}, ensure_ascii=True)
    )
    (inbox / "nul.json").write_text(json.dumps({"title": "Port strike ends", "text": "Dockers " + BODY + "\x00"}))
    (inbox / "zz-good.txt").write_bytes(GOOD.replace(b"trade", b"tariff"))
    (inbox / "link.txt").symlink_to(inbox / "zz-good.txt")
    os.mkfifo(inbox / "pipe.txt")
    (inbox / "..hidden.txt").write_bytes(GOOD)
    (inbox / ".draft.txt.swp").write_bytes(b"editor scratch")  # a writer's scratch: silently skipped
    for path in inbox.iterdir():
        _old(path)

    report = _scan(broker, inbox, tmp_path / "home").report

    assert report.objects == 7
    assert len(report.article_ids) == 4, report
    assert report.dead_letter_reasons == {"not_a_regular_file": 2, "hidden_name": 1}
    first_again = _scan(broker, inbox, tmp_path / "home").report
    assert first_again.objects == 0  # every one recorded as done, the odd name included


def test_a_name_that_is_not_utf8_keeps_its_bytes_in_the_uri(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    raw = b"caf\xe9 100%.txt"
    (inbox / os.fsdecode(raw)).write_bytes(GOOD)
    _old(inbox / os.fsdecode(raw))
    source = LocalFolderSource(inbox, settle_seconds=1.0, watch=False)
    [version] = list(source.list_versions())
    version.uri.encode("utf-8")  # valid Unicode: fits the ledger, Kafka and Postgres
    assert urllib.parse.unquote_to_bytes(version.uri) == os.fsencode(inbox.resolve()) + b"/" + raw
    assert source.read(version, 1_000_000) == GOOD
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    ledger.mark_done(version.uri, version.version, None, "ok", [], [])
    assert ledger.is_done(version.uri, version.version)


def test_dead_letters_of_refused_files_name_their_source(broker: EmbeddedBroker, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "target.txt").write_bytes(GOOD)
    (inbox / "link.txt").symlink_to(inbox / "target.txt")
    for path in inbox.iterdir():
        _old(path)
    service = _scan(broker, inbox, tmp_path / "home")
    assert service.report.dead_letter_reasons == {"not_a_regular_file": 1}
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        Topics.DEADLETTER,
        bootstrap_servers=broker.bootstrap_servers,
        auto_offset_reset="earliest",
        consumer_timeout_ms=3000,
    )
    letters = [DeadLetter.model_validate_json(m.value) for m in consumer]
    consumer.close()
    [letter] = letters
    assert letter.source is not None and letter.source.uri.endswith("/link.txt")
    assert "symlink" in letter.error


def test_a_file_held_open_and_appended_to_is_read_once_after_its_writer_closes_it(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    # A settle time shorter than the pause between appends: the mtime rule alone would read each part.
    source = LocalFolderSource(inbox, settle_seconds=0.3, watch=True)
    try:
        seen: list[int] = []
        with open(inbox / "growing.txt", "wb") as writer:
            for part in range(5):
                writer.write(GOOD[part * 100 : (part + 1) * 100])
                writer.flush()
                time.sleep(0.5)
                seen += [v.size for v in source.list_versions()]
            writer.write(GOOD[500:])
        assert seen == []  # never read while open for writing
        source.wait_for_changes(5.0)
        assert [v.size for v in source.list_versions()] == [len(GOOD)]
    finally:
        source.close()


def test_a_file_closed_by_its_writer_is_read_without_waiting_for_the_settle_time(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    source = LocalFolderSource(inbox, settle_seconds=30.0, watch=True)
    try:
        (inbox / "dropped.txt").write_bytes(GOOD)
        (tmp_path / "elsewhere.txt").write_bytes(GOOD)
        (tmp_path / "elsewhere.txt").rename(inbox / "moved.txt")  # renamed in whole: never opened here
        source.wait_for_changes(5.0)
        assert sorted(v.key for v in source.list_versions()) == ["dropped.txt", "moved.txt"]
    finally:
        source.close()


def test_without_events_a_size_or_mtime_that_changed_between_scans_must_hold_for_the_settle_time(
    tmp_path: Path,
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    source = LocalFolderSource(inbox, settle_seconds=0.5, watch=False)
    path = inbox / "copied.txt"
    path.write_bytes(GOOD[:200])  # a copy in progress: mtime now
    assert list(source.list_versions()) == []
    with open(path, "ab") as handle:
        handle.write(GOOD[200:])
    _old(path)  # a copier that restores the original mtime (cp -p, tar) before it is done
    assert list(source.list_versions()) == []  # changed since the last scan: not yet
    time.sleep(0.6)
    assert [v.size for v in source.list_versions()] == [len(GOOD)]
