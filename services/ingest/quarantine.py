"""Quarantine: a content-addressed copy of every refused object, so nothing refused is lost even if
the bucket is cleaned up. File names come from the content hash, never from the object key."""

from __future__ import annotations

import os
from pathlib import Path


class Quarantine:
    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._directory.mkdir(parents=True, exist_ok=True)

    def keep(self, data: bytes, sha256: str) -> str:
        target = self._directory / sha256
        if not target.exists():
            partial = target.with_suffix(".partial")
            with open(partial, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(partial, target)
        return str(target)
