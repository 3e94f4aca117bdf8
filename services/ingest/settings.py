from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import SecretStr

from services.runtime.settings import ServiceSettings


class IngestSettings(ServiceSettings):
    ingest_source: Literal["local", "s3"] = "local"
    ingest_inbox: Path = Path("inbox")
    # A file must be unchanged for this long before it is read: writers that are still appending
    # (a copy in progress, a browser download) are skipped until the next scan.
    ingest_settle_seconds: float = 1.0
    # Where inotify tells a writer still has a file open (Linux), it is not read until closed; after
    # this long without a write it is treated like any other file (a lost event, a hung writer).
    ingest_open_write_timeout_seconds: float = 300.0
    ingest_scan_interval_seconds: float = 5.0
    ingest_max_object_bytes: int = 10_000_000
    ingest_min_body_words: int = 40
    ingest_publish_batch: int = 32
    ingest_near_duplicate_threshold: float = 0.8
    ingest_quarantine_dir: Path | None = None  # default: $NEWSFLOW_HOME/quarantine
    # Which object versions are done: a SQLite file for one ingest process (local stack), or Postgres
    # (DATABASE_URL) for several replicas over one bucket, which divide it by leasing object versions.
    ingest_ledger: Literal["sqlite", "postgres"] = "sqlite"
    ingest_ledger_path: Path | None = None  # default: $NEWSFLOW_HOME/ingest-ledger.sqlite3
    database_url: SecretStr | None = None
    # A version claimed by a replica that died is claimed by another once this has passed; longer than
    # the slowest batch of INGEST_PUBLISH_BATCH objects takes.
    ingest_lease_seconds: float = 300.0

    s3_endpoint_url: str | None = None
    s3_bucket: str = "newsflow-inbox"
    s3_prefix: str = ""
    s3_region: str = "us-east-1"
    aws_access_key_id: str | None = None
    aws_secret_access_key: SecretStr | None = None
    # Listings start after the checkpoint (new keys); a full listing reconciles overwrites and
    # anything the incremental listing cannot see, at this interval.
    s3_full_rescan_interval_seconds: float = 300.0
    # SQS queue receiving the bucket's ObjectCreated notifications (directly or via SNS), if any.
    s3_notification_queue_url: str | None = None
    # Or a Kafka topic receiving them (MinIO's Kafka notification target), read by this consumer group.
    s3_notification_topic: str | None = None
    s3_notification_group_id: str = "newsflow-ingest-notifications"

    @property
    def quarantine_dir(self) -> Path:
        return self.ingest_quarantine_dir or self.newsflow_home / "quarantine"

    @property
    def ledger_path(self) -> Path:
        return self.ingest_ledger_path or self.newsflow_home / "ingest-ledger.sqlite3"
