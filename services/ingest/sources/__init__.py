"""Bucket sources: a local folder or an S3-compatible bucket, behind one small interface."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

# Names of files that are being written or are editor/browser scratch: never read.
_TEMPORARY_PREFIXES = (".", "~", "#")
_TEMPORARY_SUFFIXES = (
    ".tmp",
    ".part",
    ".partial",
    ".crdownload",
    ".download",
    ".swp",
    ".filepart",
    "~",
    ".lock",
)


def is_temporary_name(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return not base or base.startswith(_TEMPORARY_PREFIXES) or base.lower().endswith(_TEMPORARY_SUFFIXES)


@dataclass(frozen=True)
class ObjectVersion:
    """One version of one object. ``version`` changes whenever the content may have changed."""

    uri: str
    key: str
    version: str
    size: int


class ObjectVanished(Exception):
    """The object was listed but is gone (deleted or replaced) by the time it is read."""


class ObjectUnreadable(Exception):
    """The object exists but this service may not read it (permissions, a special file)."""


class BucketSource(Protocol):
    kind: str

    def list_versions(self) -> Iterator[ObjectVersion]:
        """Objects that are complete and ready to read (temporary and unsettled ones left out)."""
        ...

    def read(self, obj: ObjectVersion, max_bytes: int) -> bytes:
        """The object's bytes, at most ``max_bytes + 1`` (so the caller can tell it is oversized).
        Raises ``ObjectVanished`` or ``ObjectUnreadable`` (dead-lettered, never retried forever);
        raises ``TransientError`` when the store is unreachable."""
        ...

    def settling(self) -> bool:
        """Whether the last listing skipped objects that may still be being written."""
        ...

    def wait_for_changes(self, timeout_s: float) -> None:
        """Block until something may have changed or ``timeout_s`` passed."""
        ...

    def close(self) -> None: ...
