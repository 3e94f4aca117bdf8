"""Composition root of the ingest service: ``python -m services.ingest`` or ``newsflow ingest``.

``--until-idle`` handles every object present and exits; ``--report FILE`` then writes what was
published (article and dead-letter ids) so a one-shot job can wait for them downstream.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

from services.contracts import Stage, Topics
from services.ingest.dedup import NearDuplicateIndex
from services.ingest.formats import ExtractionOptions
from services.ingest.ledger import IngestLedger, Ledger
from services.ingest.quarantine import Quarantine
from services.ingest.service import IngestService
from services.ingest.settings import IngestSettings
from services.ingest.sources import BucketSource
from services.ingest.sources.local import LocalFolderSource
from services.runtime.kafka import EventProducer, NotificationConsumer, ensure_topics
from services.runtime.lifecycle import exit_when_unreachable, start_process

_S3_CHECKPOINT = "s3-listing"


def build_ledger(settings: IngestSettings) -> IngestLedger:
    if settings.ingest_ledger == "postgres":
        if settings.database_url is None:
            print("ingest: INGEST_LEDGER=postgres needs DATABASE_URL", file=sys.stderr)
            sys.exit(2)
        from services.ingest.postgres_ledger import PostgresLedger

        ledger = PostgresLedger(
            settings.database_url.get_secret_value(), lease=dt.timedelta(seconds=settings.ingest_lease_seconds)
        )
        ledger.migrate()  # ingest may start before the store: it applies its own tables
        return ledger
    return Ledger(settings.ledger_path)


def build_source(settings: IngestSettings, ledger: IngestLedger, watch: bool) -> BucketSource:
    if settings.ingest_source == "s3":
        # Imported here so a local-only deployment never loads boto3.
        from services.ingest.sources.s3 import S3BucketSource

        return S3BucketSource(
            bucket=settings.s3_bucket,
            prefix=settings.s3_prefix,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key_id=settings.aws_access_key_id,
            secret_access_key=(
                settings.aws_secret_access_key.get_secret_value() if settings.aws_secret_access_key else None
            ),
            full_rescan_interval_s=settings.s3_full_rescan_interval_seconds,
            load_checkpoint=lambda: ledger.checkpoint(_S3_CHECKPOINT),
            save_checkpoint=lambda value: ledger.save_checkpoint(_S3_CHECKPOINT, value),
            notification_queue_url=settings.s3_notification_queue_url,
            notification_feed=(
                NotificationConsumer(
                    settings,
                    topic=settings.s3_notification_topic,
                    group_id=settings.s3_notification_group_id,
                    client_id="newsflow-ingest-notifications",
                )
                if settings.s3_notification_topic
                else None
            ),
        )
    return LocalFolderSource(
        settings.ingest_inbox,
        settings.ingest_settle_seconds,
        watch=watch,
        open_write_timeout_seconds=settings.ingest_open_write_timeout_seconds,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="newsflow ingest")
    parser.add_argument("--until-idle", action="store_true", help="exit once every present object is handled")
    parser.add_argument("--report", type=Path, help="write the ids published in this run to this JSON file")
    args = parser.parse_args(argv)

    settings = IngestSettings()
    stop, health = start_process(Stage.INGEST, settings)
    # The ledger first: a setting that cannot work (a malformed DATABASE_URL) is told before the broker
    # is even tried.
    with exit_when_unreachable():
        ledger = build_ledger(settings)
        ensure_topics(settings, [topic.value for topic in Topics])
    source = build_source(settings, ledger, watch=not args.until_idle)
    producer = EventProducer(settings, client_id="newsflow-ingest")
    service = IngestService(
        source=source,
        ledger=ledger,
        producer=producer,
        quarantine=Quarantine(settings.quarantine_dir),
        options=ExtractionOptions(
            max_bytes=settings.ingest_max_object_bytes, min_body_words=settings.ingest_min_body_words
        ),
        near_duplicates=NearDuplicateIndex(ledger, threshold=settings.ingest_near_duplicate_threshold),
        publish_batch=settings.ingest_publish_batch,
        health=health,
        report_ids=args.report is not None,
    )
    try:
        service.run(stop, settings.ingest_scan_interval_seconds, until_idle=args.until_idle)
    finally:
        producer.close()
        source.close()
        ledger.close()
    if args.report:
        report = service.report
        args.report.write_text(
            json.dumps(
                {
                    "objects": report.objects,
                    "article_ids": report.article_ids,
                    "dead_letter_ids": report.dead_letter_ids,
                    "dead_letter_reasons": report.dead_letter_reasons,
                    "outcomes": report.outcomes,
                    "exact_duplicates": report.exact_duplicates,
                    "near_duplicates": report.near_duplicates,
                    "already_handled": report.already_handled,
                }
            )
        )


if __name__ == "__main__":
    main()
