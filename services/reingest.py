"""Re-extraction (``newsflow reingest``): stored articles extracted again by today's cleaner, from the exact
object version recorded with them, then enriched and stored like new ones.

The bytes come from ingest's quarantine (content-addressed by SHA-256, when the object was kept there) or
from the bucket: a local file, or an S3 object read with ``IfMatch`` on the recorded ETag; either only if
its SHA-256 is the recorded one, so an object overwritten since is never mistaken for the version the
article came from (that item is skipped as ``source_gone``). An article whose body comes out the same
keeps its id (``same_id``) and store replaces it; one whose body changed gets a new id (``new_id``): the
new article is stored beside the old one, and ``article_links`` links old to new. The run itself (selection
recorded first, chunks marked only after the broker acknowledged them, resumable, rate-limited) is the one
of ``services.backfill``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from pathlib import Path

from services.backfill import DiffReport, Prepared, Selection, Skipped, choose, diff_report
from services.contracts import SourceRef
from services.ingest.formats import ExtractionOptions
from services.ingest.service import extract_again
from services.ingest.settings import IngestSettings
from services.ingest.sources import ObjectUnreadable, ObjectVanished, ObjectVersion
from services.ingest.sources.local import path_for_uri
from services.ingest.sources.s3 import S3BucketSource
from services.runtime.errors import InvalidInput
from services.store.backfills import BackfillLedger, PendingItem

KIND = "reingest"
_TICK = dt.timedelta(microseconds=1)


def recorded_bytes(
    source: SourceRef, quarantine_dir: Path, read_bucket: Callable[[SourceRef], bytes | None]
) -> bytes | None:
    """The bytes of exactly the recorded object version, or None when no copy of it is left."""
    kept = quarantine_dir / source.sha256
    for data in (kept.read_bytes() if kept.is_file() else None, read_bucket(source)):
        if data is not None and hashlib.sha256(data).hexdigest() == source.sha256:
            return data
    return None


def prepare(item: PendingItem, read: Callable[[SourceRef], bytes | None], options: ExtractionOptions) -> Prepared:
    """One stored article extracted again: the cleaned article to republish, or why not."""
    before = item.before
    source = before.source
    data = read(source)
    if data is None:
        return Prepared("source_gone", detail=f"no copy of {source.uri} version {source.version} is left")
    try:
        articles = extract_again(data, source, options)
    except InvalidInput as exc:
        return Prepared("still_refused", detail=f"{exc.reason.value}: {exc.detail}")
    same = [a for a in articles if a.article_id == item.article_id]
    article = (same or articles)[0]
    # The article keeps when it was first ingested (``--since`` selections and exports stay meaningful),
    # and its near-duplicate link (the index lives in ingest's ledger; the body is what changed, if anything).
    article = article.model_copy(update={"ingested_at": before.ingested_at, "duplicate_of": before.duplicate_of})
    return Prepared("same_id" if article.article_id == item.article_id else "new_id", article)


def bucket_reader(settings: IngestSettings) -> Callable[[SourceRef], bytes | None]:
    """Reads a recorded object from where ingest reads: local paths as they are, ``s3://`` through boto3."""
    buckets: dict[str, S3BucketSource] = {}

    def read(source: SourceRef) -> bytes | None:
        if not source.uri.startswith("s3://"):
            path = Path(path_for_uri(source.uri))
            return path.read_bytes() if path.is_file() else None
        bucket, _, key = source.uri.removeprefix("s3://").partition("/")
        if bucket not in buckets:
            secret = settings.aws_secret_access_key
            buckets[bucket] = S3BucketSource(
                bucket=bucket,
                prefix="",
                endpoint_url=settings.s3_endpoint_url,
                region=settings.s3_region,
                access_key_id=settings.aws_access_key_id,
                secret_access_key=None if secret is None else secret.get_secret_value(),
                full_rescan_interval_s=settings.s3_full_rescan_interval_seconds,
                load_checkpoint=lambda: None,
                save_checkpoint=lambda _: None,
            )
        try:
            return buckets[bucket].read(
                ObjectVersion(uri=source.uri, key=key, version=source.version, size=source.size),
                settings.ingest_max_object_bytes,
            )
        except (ObjectVanished, ObjectUnreadable):
            return None

    return read


def preparer(settings: IngestSettings) -> Callable[[PendingItem], Prepared]:
    options = ExtractionOptions(
        max_bytes=settings.ingest_max_object_bytes, min_body_words=settings.ingest_min_body_words
    )
    bucket = bucket_reader(settings)

    def read(source: SourceRef) -> bytes | None:
        return recorded_bytes(source, settings.quarantine_dir, bucket)

    return lambda item: prepare(item, read, options)


def dry_run(
    ledger: BackfillLedger, selection: Selection, prepare_item: Callable[[PendingItem], Prepared]
) -> DiffReport:
    """``reingest --dry-run``: each selected article extracted again here and compared field by field with the
    stored one (its annotations as stored: enrichment is not run); nothing is published or written."""
    candidates = ((c.enricher_version, c.event) for c in ledger.candidates(selection.since, selection.story))
    pairs = []
    skipped = []
    for position, before in enumerate(choose(candidates, selection)):
        step = prepare_item(PendingItem(position, before.article_id, before, None))
        if step.article is None:
            skipped.append(Skipped(before.article_id, step.outcome, step.detail))
            continue
        cleaned = step.article.model_dump(exclude={"schema_version"})
        # Newer by construction, so the comparison does not read it as "not re-done yet".
        enrichment = before.enrichment.model_copy(update={"enriched_at": before.enrichment.enriched_at + _TICK})
        pairs.append((before.article_id, before, before.model_copy(update={**cleaned, "enrichment": enrichment})))
    report = diff_report(pairs)
    report.skipped = skipped
    return report
