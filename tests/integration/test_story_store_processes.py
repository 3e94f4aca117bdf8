"""Several enrich processes opening one new story file at once (what `--enrich-workers` does)."""

from __future__ import annotations

import multiprocessing
import multiprocessing.synchronize
from pathlib import Path

import pytest

from services.enrich.story_store import SqliteStoryStore

pytestmark = pytest.mark.integration


def _open(path: Path, barrier: multiprocessing.synchronize.Barrier) -> None:
    barrier.wait()
    SqliteStoryStore(path).close()


def test_processes_opening_a_new_story_file_together_all_succeed(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    for attempt in range(10):
        path = tmp_path / f"stories-{attempt}.sqlite3"
        barrier = context.Barrier(4)
        processes = [context.Process(target=_open, args=(path, barrier)) for _ in range(4)]
        for process in processes:
            process.start()
        for process in processes:
            process.join(60)
        assert [p.exitcode for p in processes] == [0, 0, 0, 0]
