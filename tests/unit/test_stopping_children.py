"""How the local stack waits for a child it asked to stop: up to a timeout, or less once waiting is pointless
(the broker a draining service flushes to has died). Real child processes that ignore SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest

from services.localstack import wait_for_exit

IGNORES_SIGTERM = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print(1, flush=True); time.sleep(60)"
)


@pytest.fixture
def stubborn_child() -> Iterator[subprocess.Popen[bytes]]:
    child = subprocess.Popen([sys.executable, "-c", IGNORES_SIGTERM], stdout=subprocess.PIPE)
    assert child.stdout is not None and child.stdout.readline()  # its handler is installed
    child.send_signal(signal.SIGTERM)
    yield child
    child.kill()
    child.wait()


def test_a_child_that_exits_is_seen_to_exit() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    assert wait_for_exit(child, timeout_s=30)


def test_a_child_that_does_not_exit_is_given_up_on_at_the_timeout(stubborn_child: subprocess.Popen[bytes]) -> None:
    assert not wait_for_exit(stubborn_child, timeout_s=0.5)
    assert stubborn_child.poll() is None


def test_waiting_stops_as_soon_as_abandoning_is_asked(stubborn_child: subprocess.Popen[bytes]) -> None:
    asked: list[int] = []

    def broker_died_after_a_few_checks() -> bool:
        asked.append(1)
        return len(asked) >= 3

    # A timeout no test would sit through: only the abandon question can end the wait.
    assert not wait_for_exit(stubborn_child, timeout_s=3600, abandon_if=broker_died_after_a_few_checks)
    assert len(asked) == 3
