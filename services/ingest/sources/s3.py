"""S3-compatible source (AWS S3, MinIO): the only module that imports boto3.

Listing is the source of truth. New keys are found by listing after a persisted checkpoint (the
greatest key seen); a full listing at an interval reconciles overwrites and anything else an
incremental listing cannot see. Each object version is identified by its ETag, so an overwritten
object is a new version and an untouched one is never read twice.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol
from urllib.parse import unquote_plus

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

from services.ingest.sources import (
    ObjectUnreadable,
    ObjectVanished,
    ObjectVersion,
    is_temporary_name,
    refusal_of_name,
)
from services.runtime.errors import TransientError

_MISSING_CODES = {"NoSuchKey", "404", "NotFound", "PreconditionFailed", "412"}


class NotificationFeed(Protocol):
    """Bodies of bucket event notifications (S3 event JSON), waiting up to ``timeout_s`` for some."""

    def receive(self, timeout_s: float) -> list[str]: ...

    def close(self) -> None: ...


class SqsNotifications:
    """The bucket's notifications through an SQS queue (directly or via SNS)."""

    def __init__(self, sqs: Any, queue_url: str) -> None:
        self._sqs = sqs
        self._queue_url = queue_url

    def receive(self, timeout_s: float) -> list[str]:
        try:
            # Long poll: returns as soon as a notification arrives. The messages are deleted once
            # their keys are remembered; if the process dies first, the full listing finds them.
            response = self._sqs.receive_message(
                QueueUrl=self._queue_url, WaitTimeSeconds=max(0, min(20, int(timeout_s))), MaxNumberOfMessages=10
            )
            bodies = []
            for message in response.get("Messages", []):
                bodies.append(str(message.get("Body", "")))
                self._sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"])
        except (BotoCoreError, ClientError) as exc:
            raise TransientError(f"receiving S3 notifications failed: {exc}") from exc
        return bodies

    def close(self) -> None:
        pass


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
        notification_queue_url: str | None = None,
        notification_feed: NotificationFeed | None = None,
    ) -> None:
        self._bucket = bucket
        self._prefix = prefix
        self._full_rescan_interval_s = full_rescan_interval_s
        self._load_checkpoint = load_checkpoint
        self._save_checkpoint = save_checkpoint
        self._last_full_listing = 0.0
        self._stop = threading.Event()
        self._notified: dict[str, None] = {}  # keys named by notifications, in arrival order
        client_args: dict[str, Any] = {
            "endpoint_url": endpoint_url,
            "region_name": region,
            "aws_access_key_id": access_key_id,
            "aws_secret_access_key": secret_access_key,
            "config": Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=30),
        }
        self._client: Any = boto3.client("s3", **client_args)
        self._notifications = notification_feed
        if notification_queue_url:
            self._notifications = SqsNotifications(boto3.client("sqs", **client_args), notification_queue_url)

    def list_versions(self) -> Iterator[ObjectVersion]:
        yield from self._notified_versions()
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
                        refused=refusal_of_name(key),
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
            if code in ("AccessDenied", "403", "InvalidObjectState"):
                # No permission, or archived (Glacier): an operator must act; the rest flows on.
                raise ObjectUnreadable(f"{obj.uri}: {code}") from exc
            raise TransientError(f"reading {obj.uri} failed: {exc}") from exc
        except (EndpointConnectionError, BotoCoreError) as exc:
            raise TransientError(f"reading {obj.uri} failed: {exc}") from exc

    def _notified_versions(self) -> Iterator[ObjectVersion]:
        """Objects named by event notifications, looked up now: an overwrite of a key below the
        listing checkpoint is seen at once instead of at the next full listing."""
        keys, self._notified = list(self._notified), {}
        for key in keys:
            if is_temporary_name(key):
                continue
            try:
                head = self._client.head_object(Bucket=self._bucket, Key=key)
            except ClientError:
                continue  # deleted again since: nothing to publish; listing stays the source of truth
            except BotoCoreError as exc:
                raise TransientError(f"head s3://{self._bucket}/{key} failed: {exc}") from exc
            yield ObjectVersion(
                uri=f"s3://{self._bucket}/{key}",
                key=key,
                version=str(head["ETag"]).strip('"'),
                size=int(head["ContentLength"]),
                refused=refusal_of_name(key),
            )

    def settling(self) -> bool:
        return False  # S3 shows an object only once its upload is complete

    def wait_for_changes(self, timeout_s: float) -> None:
        if self._notifications is None:
            self._stop.wait(timeout_s)
            return
        for body in self._notifications.receive(timeout_s):
            for key in notified_keys(body, self._bucket, self._prefix):
                self._notified[key] = None

    def close(self) -> None:
        self._stop.set()
        if self._notifications is not None:
            self._notifications.close()


def notified_keys(body: str, bucket: str, prefix: str) -> list[str]:
    """Object keys created in ``bucket`` under ``prefix`` named by one S3 event notification body
    (direct S3 -> SQS, wrapped in an SNS envelope, or MinIO's, whose event names carry an ``s3:``
    prefix). Anything else yields nothing."""
    try:
        payload = json.loads(body)
        if isinstance(payload, dict) and "Message" in payload and "Records" not in payload:
            payload = json.loads(payload["Message"])  # delivered through SNS
    except (json.JSONDecodeError, TypeError):
        return []
    keys = []
    for record in payload.get("Records", []) if isinstance(payload, dict) else []:
        s3 = record.get("s3", {}) if isinstance(record, dict) else {}
        if not str(record.get("eventName", "")).removeprefix("s3:").startswith("ObjectCreated"):
            continue
        if s3.get("bucket", {}).get("name") != bucket:
            continue
        # Keys arrive URL-encoded (spaces as '+').
        key = unquote_plus(str(s3.get("object", {}).get("key", "")))
        if key and key.startswith(prefix):
            keys.append(key)
    return keys
