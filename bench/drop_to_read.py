"""Drop-to-read latency of the local folder source: from a writer closing a file to ingest's listing
yielding it, with inotify (``close_write``) and with polling only (the settle rule), at the default
settle time. The scan loop is ingest's own: ``wait_for_changes`` then ``list_versions``.

Run: .venv/bin/python bench/drop_to_read.py [--files 20]  -> bench/results/drop_to_read.md
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

from services.ingest.settings import IngestSettings
from services.ingest.sources.local import LocalFolderSource

OUT = Path(__file__).resolve().parent / "results" / "drop_to_read.md"
BODY = b"Negotiators met again on Tuesday to settle the remaining points of the deal.\n" * 40


def _write(path: Path, closed_at: list[float], closed: threading.Event) -> None:
    time.sleep(0.05)
    with open(path, "wb") as handle:
        handle.write(BODY)
    closed_at.append(time.monotonic())
    closed.set()


def measure(watch: bool, files: int, settle_s: float, scan_interval_s: float) -> list[float]:
    latencies: list[float] = []
    with tempfile.TemporaryDirectory() as folder:
        inbox = Path(folder)
        source = LocalFolderSource(inbox, settle_s, watch=watch)
        try:
            for i in range(files):
                closed = threading.Event()
                closed_at: list[float] = []
                writer = threading.Thread(target=_write, args=(inbox / f"article-{i}.txt", closed_at, closed))
                writer.start()
                found = False
                while not found:
                    source.wait_for_changes(scan_interval_s)
                    found = any(v.key == f"article-{i}.txt" for v in source.list_versions())
                    if found and not closed.is_set():
                        raise AssertionError("listed before its writer closed it")
                latencies.append(time.monotonic() - closed_at[0])
                writer.join()
        finally:
            source.close()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=20)
    args = parser.parse_args()
    defaults = IngestSettings()
    settle, interval = defaults.ingest_settle_seconds, defaults.ingest_scan_interval_seconds
    rows = []
    for watch in (True, False):
        latencies = measure(watch, args.files, settle, interval)
        rows.append(
            f"| {'inotify (close_write)' if watch else 'polling (settle rule)'} | {len(latencies)} "
            f"| {statistics.median(latencies):.3f} | {max(latencies):.3f} |"
        )
    OUT.write_text(
        "# Drop-to-read latency, local folder source\n\n"
        f"`bench/drop_to_read.py --files {args.files}`: a writer writes and closes a file; the time until "
        f"ingest's listing yields it. Default settle time {settle} s, scan interval {interval} s. Measured on "
        "the shared 2-core development machine while other engineers ran tests (noisy).\n\n"
        "| mode | files | median s | max s |\n|---|---|---|---|\n" + "\n".join(rows) + "\n"
    )
    print(OUT.read_text())


if __name__ == "__main__":
    main()
