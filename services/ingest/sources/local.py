"""Local folder source: watchdog events wake the scanner early; a periodic rescan is the safety net
(events can be lost on overflow, network file systems send none)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from services.ingest.sources import ObjectUnreadable, ObjectVanished, ObjectVersion, is_temporary_name


class _Wake(FileSystemEventHandler):
    def __init__(self, changed: threading.Event) -> None:
        self._changed = changed

    def on_any_event(self, event: FileSystemEvent) -> None:
        self._changed.set()


class LocalFolderSource:
    kind = "local"

    def __init__(self, root: Path, settle_seconds: float, watch: bool = True) -> None:
        self._root = root.resolve()
        self._root.mkdir(parents=True, exist_ok=True)
        self._settle_seconds = settle_seconds
        self._changed = threading.Event()
        self._settling = False
        self._observer: Observer | None = None  # type: ignore[valid-type]
        if watch:
            observer = Observer()
            observer.schedule(_Wake(self._changed), str(self._root), recursive=True)
            observer.daemon = True
            observer.start()
            self._observer = observer

    def list_versions(self) -> Iterator[ObjectVersion]:
        now = time.time()
        self._settling = False
        for dirpath, dirnames, filenames in os.walk(self._root, followlinks=False):
            dirnames[:] = sorted(d for d in dirnames if not is_temporary_name(d))
            for name in sorted(filenames):
                if is_temporary_name(name):
                    continue
                path = Path(dirpath) / name
                try:
                    stat = path.lstat()
                except FileNotFoundError:
                    continue  # deleted between listing and stat: nothing to publish
                if not path.is_file() or path.is_symlink():
                    continue  # links could point outside the inbox
                if now - stat.st_mtime < self._settle_seconds:
                    self._settling = True
                    self._changed.set()  # look again soon: it is probably still being written
                    continue
                yield ObjectVersion(
                    uri=str(path),
                    key=str(path.relative_to(self._root)),
                    version=f"{stat.st_size}-{stat.st_mtime_ns}",
                    size=stat.st_size,
                )

    def read(self, obj: ObjectVersion, max_bytes: int) -> bytes:
        try:
            with open(obj.uri, "rb") as handle:
                return handle.read(max_bytes + 1)
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise ObjectVanished(obj.uri) from exc
        except OSError as exc:
            raise ObjectUnreadable(f"{obj.uri}: {exc.strerror or exc}") from exc

    def settling(self) -> bool:
        return self._settling

    def wait_for_changes(self, timeout_s: float) -> None:
        # Debounce: a burst of events from one copy becomes one scan.
        if self._changed.wait(timeout_s):
            time.sleep(min(0.2, self._settle_seconds))
        self._changed.clear()

    def close(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
