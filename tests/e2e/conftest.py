from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def tmp_path() -> Iterator[Path]:
    """End-to-end work directories hold an embedded Postgres that runs as its own system user. Keep
    them out of pytest's basetemp, whose parent pytest resets to mode 0700 whenever a session starts
    (locking that user out of a running server's data directory)."""
    with tempfile.TemporaryDirectory(prefix="newsflow-e2e-") as folder:
        yield Path(folder)
