"""Pure parts of ``newsflow reingest``: only the exact recorded bytes are re-extracted, and each stored
article becomes same_id, new_id, source_gone or still_refused."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from pathlib import Path

from prometheus_client import generate_latest

from services.contracts import EnrichedArticle, EnrichmentInfo, SourceRef
from services.ingest.formats import ExtractionOptions
from services.ingest.settings import IngestSettings
from services.ingest.sources.local import uri_for_path
from services.reingest import bucket_reader, prepare, recorded_bytes
from services.runtime import metrics
from services.store.backfills import PendingItem

BODY = (
    "Harbour cranes return to work\n\n"
    + " ".join(["Dock workers in Harbourton went back to the cranes on Monday after a two-day stoppage."] * 4)
    + "\n"
).encode()
OPTIONS = ExtractionOptions(max_bytes=1_000_000, min_body_words=20)


def source_of(data: bytes, uri: str = "inbox/brief.txt") -> SourceRef:
    return SourceRef(uri=uri, version="v1", format="text", size=len(data), sha256=hashlib.sha256(data).hexdigest())


def test_only_the_recorded_version_is_read_quarantine_first(tmp_path: Path) -> None:
    source = source_of(BODY)
    assert recorded_bytes(source, tmp_path, lambda s: BODY) == BODY
    assert recorded_bytes(source, tmp_path, lambda s: BODY + b"edited since") is None  # overwritten object
    assert recorded_bytes(source, tmp_path, lambda s: None) is None
    (tmp_path / source.sha256).write_bytes(BODY)
    assert recorded_bytes(source, tmp_path, lambda s: None) == BODY


def item_for(data: bytes, article_id: str) -> PendingItem:
    at = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    before = EnrichedArticle(
        article_id=article_id,
        source=source_of(data),
        title="Harbour cranes return to work",
        text="stored body",
        word_count=2,
        duplicate_of="earlier",
        ingested_at=at,
        enrichment=EnrichmentInfo(enricher_version="0.1.0", model="m", model_version="1", enriched_at=at),
    )
    return PendingItem(position=0, article_id=article_id, before=before, trace_id=None)


def test_an_unchanged_body_keeps_its_id_and_a_changed_one_gets_a_new_id() -> None:
    fresh = prepare(item_for(BODY, "placeholder"), lambda s: BODY, OPTIONS)
    assert fresh.outcome == "new_id" and fresh.article is not None
    true_id = fresh.article.article_id
    same = prepare(item_for(BODY, true_id), lambda s: BODY, OPTIONS)
    assert same.outcome == "same_id" and same.article is not None and same.article.article_id == true_id
    # It keeps when it was first ingested and its near-duplicate link.
    before = item_for(BODY, true_id).before
    assert same.article.ingested_at == before.ingested_at and same.article.duplicate_of == "earlier"


def test_lost_or_still_refused_sources_publish_nothing_and_say_why() -> None:
    gone = prepare(item_for(BODY, "a"), lambda s: None, OPTIONS)
    assert (gone.outcome, gone.article) == ("source_gone", None) and "inbox/brief.txt" in (gone.detail or "")
    strict = ExtractionOptions(max_bytes=1_000_000, min_body_words=10_000)
    refused = prepare(item_for(BODY, "a"), lambda s: BODY, strict)
    assert (refused.outcome, refused.article) == ("still_refused", None)
    assert (refused.detail or "").startswith("not_an_article")


def test_the_backfill_registry_serves_throughput_and_remaining() -> None:
    metrics.BACKFILL_REMAINING.set(3)
    text = generate_latest(metrics.backfill_registry()).decode()
    assert "newsflow_backfill_published_total" in text
    assert "newsflow_backfill_remaining_articles 3.0" in text


def test_a_file_whose_name_had_to_be_escaped_is_found_again(tmp_path: Path) -> None:
    # Ingest escapes a name that is not UTF-8 (caf\xe9 from a latin-1 system) as %E9 in the uri; reading
    # the recorded uri must open the real name, not report the source gone. A valid UTF-8 name with a %
    # in it is its own uri.
    raw_name = os.fsdecode(b"caf\xe9.txt")
    (tmp_path / raw_name).write_bytes(BODY)
    (tmp_path / "100%E9.txt").write_bytes(BODY + b"other")
    read = bucket_reader(IngestSettings())
    escaped = uri_for_path(str(tmp_path / raw_name))
    assert "%E9" in escaped
    assert read(source_of(BODY, escaped)) == BODY
    assert read(source_of(BODY, str(tmp_path / "100%E9.txt"))) == BODY + b"other"
    assert read(source_of(BODY, str(tmp_path / "gone%E9.txt"))) is None
