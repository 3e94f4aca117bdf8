"""Local folder source: watchdog events wake the scanner early; a periodic rescan is the safety net
(events can be lost on overflow, network file systems send none).

When is a file complete? Where the folder sends inotify events (Linux), a file written since the
watch started is read once its writer closed it (``close_write``) and not before, however slowly it is
appended to. Any other file (present before the start, on a file system without events, or when the
watch is off) is read once its size and mtime have stayed the same for the settle time, across scans.

Refused without reading, with a dead letter: symlinks, FIFOs, sockets and devices
(``not_a_regular_file``) and hidden names (``hidden_name``). Writers' scratch names (``.foo.swp``,
``*.part``) and hidden folders are skipped silently.
"""

from __future__ import annotations

import os
import stat as stat_mode
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from watchdog.events import (
    FileClosedEvent,
    FileClosedNoWriteEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileOpenedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer

from services.contracts import DeadLetterReason
from services.ingest.sources import (
    ObjectUnreadable,
    ObjectVanished,
    ObjectVersion,
    Refusal,
    is_temporary_name,
    refusal_of_name,
)


def uri_for_path(path: str) -> str:
    """A file path as a uri that is valid Unicode and maps back to the exact bytes of the name.

    A name that decodes as UTF-8 is its own uri. One that does not (``caf\\xe9.txt`` from a latin-1
    system) reaches Python with surrogate escapes, which no UTF-8 encoder accepts (the ledger, Kafka,
    Postgres): its undecodable bytes become ``%XX`` and its ``%`` signs ``%25``, so
    ``urllib.parse.unquote_to_bytes`` of the uri gives the name's bytes back."""
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        pass
    out: list[str] = []
    for ch in path:
        if "\udc80" <= ch <= "\udcff":
            out.append(f"%{ord(ch) - 0xDC00:02X}")
        elif ch == "%":
            out.append("%25")
        else:
            out.append(ch)
    return "".join(out)


def path_for_uri(uri: str) -> str:
    """The file name a local uri stands for: the uri itself, or, for a name that had to be escaped
    (``uri_for_path``), the name's original bytes (as surrogate escapes, which ``open`` accepts).

    A valid UTF-8 name with ``%`` in it is its own uri, so the uri as it is wins when that file exists."""
    if "%" not in uri or os.path.lexists(uri):
        return uri
    return os.fsdecode(urllib.parse.unquote_to_bytes(uri))


@dataclass
class _Writes:
    """What inotify said about one file since the watch started."""

    changed_at: float
    opened: bool = False  # opened since it appeared (a file moved into place is never opened)
    written: bool = False  # written since its writer last closed it
    closed: bool = False  # closed by its last opener

    def complete(self) -> bool:
        """Closed by its writer, or moved in whole and never opened since."""
        return self.closed or not (self.opened or self.written)


class _Watch(FileSystemEventHandler):
    """Wakes the scanner and keeps, per file, whether a writer still has it open.

    A file created by its writer arrives as created + opened (one system call), modified, closed
    (``close_write``); a file renamed into the folder from elsewhere arrives as created only; a read
    is opened + closed without writing."""

    def __init__(self, changed: threading.Event) -> None:
        self._changed = changed
        self._lock = threading.Lock()
        self._files: dict[str, _Writes] = {}

    def on_any_event(self, event: FileSystemEvent) -> None:
        if not event.is_directory:
            with self._lock:
                self._note(event)
        self._changed.set()

    def _record(self, path: str) -> _Writes:
        return self._files.setdefault(path, _Writes(changed_at=time.monotonic()))

    def _note(self, event: FileSystemEvent) -> None:
        path = os.fsdecode(event.src_path)
        now = time.monotonic()
        if isinstance(event, FileCreatedEvent):
            self._files[path] = _Writes(changed_at=now)
        elif isinstance(event, FileOpenedEvent):
            record = self._record(path)
            record.opened, record.closed = True, False
        elif isinstance(event, FileModifiedEvent):
            record = self._record(path)
            record.written, record.closed, record.changed_at = True, False, now
        elif isinstance(event, FileClosedEvent):
            record = self._record(path)
            record.written, record.closed = False, True
        elif isinstance(event, FileClosedNoWriteEvent):
            # A reader closing says nothing about a writer that still has the file open.
            record = self._record(path)
            record.closed = not record.written
        elif isinstance(event, FileMovedEvent):
            # A rename into place (how careful writers finish a file) delivers a complete file.
            self._files.pop(path, None)
            self._files[os.fsdecode(event.dest_path)] = _Writes(changed_at=now, closed=True)
        elif isinstance(event, FileDeletedEvent):
            self._files.pop(path, None)

    def writes(self, path: str) -> _Writes | None:
        with self._lock:
            return self._files.get(path)

    def forget_missing(self, present: set[str]) -> None:
        with self._lock:
            for path in [p for p in self._files if p not in present]:
                del self._files[path]


@dataclass(frozen=True)
class _Seen:
    size: int
    mtime_ns: int
    since: float  # monotonic time this size and mtime were first seen
    changed: bool  # seen with another size or mtime by an earlier scan


class LocalFolderSource:
    kind = "local"

    def __init__(
        self, root: Path, settle_seconds: float, watch: bool = True, open_write_timeout_seconds: float = 300.0
    ) -> None:
        self._root = root.resolve()
        self._root.mkdir(parents=True, exist_ok=True)
        self._settle_seconds = settle_seconds
        # A file modified but never closed this long (a lost event, a writer that hangs) falls back to
        # the settle rule.
        self._open_write_timeout_s = open_write_timeout_seconds
        self._changed = threading.Event()
        self._settling = False
        self._seen: dict[str, _Seen] = {}
        self._observer: Observer | None = None  # type: ignore[valid-type]
        self._watch: _Watch | None = None
        if watch:
            self._watch = _Watch(self._changed)
            observer = Observer()
            observer.schedule(self._watch, str(self._root), recursive=True)
            observer.daemon = True
            observer.start()
            self._observer = observer

    def list_versions(self) -> Iterator[ObjectVersion]:
        self._settling = False
        present: set[str] = set()
        for dirpath, dirnames, filenames in os.walk(self._root, followlinks=False):
            # os.walk lists symlinks to folders with the folders; they are refused like file links.
            links = [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]
            dirnames[:] = sorted(d for d in dirnames if d not in links and not d.startswith(".") and d[:1] not in "~#")
            for name in sorted([*filenames, *links]):
                if is_temporary_name(name):
                    continue
                path = os.path.join(dirpath, name)
                present.add(path)
                try:
                    stat = os.lstat(path)
                except FileNotFoundError:
                    continue  # deleted between listing and stat: nothing to publish
                version = self._version(path, name, stat)
                if version is not None:
                    yield version
        self._seen = {p: s for p, s in self._seen.items() if p in present}
        if self._watch is not None:
            self._watch.forget_missing(present)

    def _version(self, path: str, name: str, stat: os.stat_result) -> ObjectVersion | None:
        uri = uri_for_path(path)
        key = uri_for_path(os.path.relpath(path, self._root))
        version = f"{stat.st_size}-{stat.st_mtime_ns}"
        if not stat_mode.S_ISREG(stat.st_mode):
            # Links could point outside the inbox; a FIFO would block the reader forever.
            kind = _special_kind(stat.st_mode)
            refusal = Refusal(DeadLetterReason.NOT_A_REGULAR_FILE, f"a {kind}, not a regular file: not read")
            return ObjectVersion(uri, key, f"{kind}-{version}", 0, refused=refusal)
        if not self._complete(path, stat):
            self._settling = True
            if self._watch is None or self._watch.writes(path) is None:
                self._changed.set()  # settling by the clock: look again soon
            # else open for writing: its close_write event wakes the scanner
            return None
        return ObjectVersion(
            uri, key, version, stat.st_size, path=None if uri == path else path, refused=refusal_of_name(name)
        )

    def _complete(self, path: str, stat: os.stat_result) -> bool:
        now = time.monotonic()
        seen = self._seen.get(path)
        changed = seen is not None and (seen.size, seen.mtime_ns) != (stat.st_size, stat.st_mtime_ns)
        if seen is None or changed:
            seen = _Seen(stat.st_size, stat.st_mtime_ns, now, changed=changed)
            self._seen[path] = seen
        writes = self._watch.writes(path) if self._watch is not None else None
        if writes is not None:
            if writes.complete():
                return True  # closed by its writer or moved in whole: complete now, whatever the settle time
            if now - writes.changed_at < self._open_write_timeout_s:
                return False  # still open for writing
        # No word from inotify: the mtime must be settle seconds old and, once this source saw the size
        # or mtime change between scans (a writer that restores the mtime), they must have held as long.
        held = not seen.changed or now - seen.since >= self._settle_seconds
        return held and time.time() - stat.st_mtime >= self._settle_seconds

    def read(self, obj: ObjectVersion, max_bytes: int) -> bytes:
        try:
            # O_NOFOLLOW | O_NONBLOCK: a file replaced by a link or a FIFO since listing is never followed
            # and never blocks the reader.
            fd = os.open(obj.path or obj.uri, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise ObjectVanished(obj.uri) from exc
        except OSError as exc:
            raise ObjectUnreadable(f"{obj.uri}: {exc.strerror or exc}") from exc
        try:
            if not stat_mode.S_ISREG(os.fstat(fd).st_mode):
                raise ObjectUnreadable(f"{obj.uri}: no longer a regular file")
            with os.fdopen(fd, "rb", closefd=False) as handle:
                return handle.read(max_bytes + 1)
        except IsADirectoryError as exc:
            raise ObjectVanished(obj.uri) from exc
        except OSError as exc:
            raise ObjectUnreadable(f"{obj.uri}: {exc.strerror or exc}") from exc
        finally:
            os.close(fd)

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


def _special_kind(mode: int) -> str:
    if stat_mode.S_ISLNK(mode):
        return "symlink"
    if stat_mode.S_ISFIFO(mode):
        return "fifo"
    if stat_mode.S_ISSOCK(mode):
        return "socket"
    if stat_mode.S_ISDIR(mode):
        return "directory"
    return "device"
