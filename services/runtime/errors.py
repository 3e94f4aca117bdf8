"""The error vocabulary. Each kind has exactly one reaction in the runner:

- ``InvalidInput``: poison. The input is dead-lettered with its reason and the offset moves past it.
- ``TransientError``: the world is briefly unavailable. Pause, back off, retry the same batch.
- anything else: a bug or a broken deploy. Crash loudly; the supervisor restarts the process and the
  uncommitted batch is redelivered.
"""

from __future__ import annotations

from enum import IntEnum

from services.contracts import DeadLetterReason


class InvalidInput(Exception):
    def __init__(self, reason: DeadLetterReason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


class TransientError(Exception):
    """A fault expected to clear by itself (broker or database briefly unreachable)."""


class ConfigurationError(Exception):
    """A setting a user gave cannot work (a malformed ``DATABASE_URL``): one line, exit code USAGE, never
    retried. Its message is safe to print: secrets are redacted where it is raised."""


class ExitCode(IntEnum):
    """Exit codes of ``newsflow`` and of every service process (documented in the README)."""

    OK = 0
    FAILED = 1  # the work did not finish: a stage crashed, a timeout, files left unstored
    USAGE = 2  # a wrong option or argument, a missing folder
    UNREACHABLE = 3  # the broker, the database or the bucket cannot be reached (or refuses the credentials)
