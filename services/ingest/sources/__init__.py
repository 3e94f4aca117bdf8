"""Bucket sources: a local folder or an S3-compatible bucket, behind one small interface."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from services.contracts import DeadLetterReason

# Scratch names of writers (editors, browsers, downloaders, office suites) while a file is being written:
# never read, never dead-lettered; the finished file appears under its own name.
_TEMPORARY_PREFIXES = ("~", "#", ".#", ".~")
_TEMPORARY_SUFFIXES = (
    ".tmp",
    ".part",
    ".partial",
    ".crdownload",
    ".download",
    ".swp",
    ".swx",
    ".filepart",
    "~",
    ".lock",
)


def _base(name: str) -> str:
    return name.rsplit("/", 1)[-1]


def is_temporary_name(name: str) -> bool:
    """A writer's scratch file (``.foo.swp``, ``report.txt.part``, ``~$doc``): skipped silently."""
    base = _base(name)
    return not base or base.startswith(_TEMPORARY_PREFIXES) or base.lower().endswith(_TEMPORARY_SUFFIXES)


def is_hidden_name(name: str) -> bool:
    """A hidden name (``.notes.txt``, ``..foo.txt``) that is not a writer's scratch file: refused with a
    dead letter (``hidden_name``), since a user who dropped it would otherwise never learn why it was
    not read."""
    base = _base(name)
    return base.startswith(".") and not is_temporary_name(base)


@dataclass(frozen=True)
class Refusal:
    """Why a listed object is refused without being read (a symlink, a FIFO, a hidden name)."""

    reason: DeadLetterReason
    detail: str


HIDDEN_NAME = Refusal(DeadLetterReason.HIDDEN_NAME, "hidden names (starting with '.') are not read; rename it")


def refusal_of_name(name: str) -> Refusal | None:
    """The refusal of an object by its name alone (a hidden name), if any."""
    return HIDDEN_NAME if is_hidden_name(name) else None


@dataclass(frozen=True)
class ObjectVersion:
    """One version of one object. ``version`` changes whenever the content may have changed."""

    uri: str
    key: str
    version: str
    size: int
    # Where to open a local file when ``uri`` is not its path as it is: a name that is not valid UTF-8
    # has a percent-escaped uri (kept in events, the ledger and Postgres) but is opened by its real name.
    path: str | None = None
    refused: Refusal | None = None


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
