"""S3-compatible source (AWS S3, MinIO): the only module that imports boto3.

Listing is the source of truth. New keys are found by listing after a persisted checkpoint (the
greatest key seen); a full listing at an interval reconciles overwrites and anything else an
incremental listing cannot see. Each object version is identified by its ETag, so an overwritten
object is a new version and an untouched one is never read twice.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

from services.ingest.sources import ObjectVanished, ObjectVersion, is_temporary_name
from services.runtime.errors import TransientError

_MISSING_CODES = {"NoSuchKey", "404", "NotFound", "PreconditionFailed", "412"}


class S3BucketSource:
    kind = "s3"

    def __init__(
        self,
        *,
        bucket: str,
        prefix: str,
        endpoint_url: str | None,
        region: str,
        access_key_id: str | None,
        secret_access_key: str | None,
        full_rescan_interval_s: float,
        load_checkpoint: Callable[[], str | None],
        save_checkpoint: Callable[[str], None],
    ) -> None:
        self._bucket = bucket
        self._prefix = prefix
        self._full_rescan_interval_s = full_rescan_interval_s
        self._load_checkpoint = load_checkpoint
        self._save_checkpoint = save_checkpoint
        self._last_full_listing = 0.0
        self._stop = threading.Event()
        self._client: Any = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=Config(
                retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=30
            ),
        )

    def list_versions(self) -> Iterator[ObjectVersion]:
        full = time.monotonic() - self._last_full_listing >= self._full_rescan_interval_s
        start_after = None if full else self._load_checkpoint()
        greatest = start_after
        try:
            paginator = self._client.get_paginator("list_objects_v2")
            kwargs: dict[str, Any] = {"Bucket": self._bucket, "Prefix": self._prefix}
            if start_after:
                kwargs["StartAfter"] = start_after
            for page in paginator.paginate(**kwargs):
                for item in page.get("Contents", []):
                    key: str = item["Key"]
                    greatest = key if greatest is None or key > greatest else greatest
                    if key.endswith("/") or is_temporary_name(key):
                        continue
                    yield ObjectVersion(
                        uri=f"s3://{self._bucket}/{key}",
                        key=key,
                        version=str(item["ETag"]).strip('"'),
                        size=int(item["Size"]),
                    )
        except (BotoCoreError, ClientError) as exc:
            raise TransientError(f"listing s3://{self._bucket}/{self._prefix} failed: {exc}") from exc
        if full:
            self._last_full_listing = time.monotonic()
        if greatest is not None:
            # Saved after the caller consumed the whole listing; the ledger, not this checkpoint,
            # decides what was published, so a crash here only costs a longer listing next time.
            self._save_checkpoint(greatest)

    def read(self, obj: ObjectVersion, max_bytes: int) -> bytes:
        try:
            # IfMatch: if the object was overwritten since listing, this version is gone; the new
            # one shows up in the next listing as a version of its own.
            request: dict[str, Any] = {"Bucket": self._bucket, "Key": obj.key, "IfMatch": f'"{obj.version}"'}
            if obj.size > max_bytes:
                request["Range"] = f"bytes=0-{max_bytes}"  # enough to know it is oversized
            response = self._client.get_object(**request)
            body: bytes = response["Body"].read()
            return body
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _MISSING_CODES:
                raise ObjectVanished(obj.uri) from exc
            raise TransientError(f"reading {obj.uri} failed: {exc}") from exc
        except (EndpointConnectionError, BotoCoreError) as exc:
            raise TransientError(f"reading {obj.uri} failed: {exc}") from exc

    def wait_for_changes(self, timeout_s: float) -> None:
        self._stop.wait(timeout_s)

    def close(self) -> None:
        self._stop.set()
