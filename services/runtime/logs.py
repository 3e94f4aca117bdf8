"""Structured logging: one JSON object per line, so log shippers need no parsing rules.

Timestamps are RFC 3339 in UTC (``2026-12-01T07:46:06.055Z``); an uncaught exception is logged as a
JSON line too (``exc_info`` holds the traceback) instead of Python's raw traceback on stderr.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from types import TracebackType

from pythonjsonlogger.json import JsonFormatter

from services.contracts import DeadLetter

log = logging.getLogger(__name__)


def rfc3339(created: float) -> str:
    """Unix time as an RFC 3339 UTC timestamp with milliseconds."""
    return dt.datetime.fromtimestamp(created, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Rfc3339JsonFormatter(JsonFormatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return rfc3339(record.created)


class _Rfc3339TextFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return rfc3339(record.created)


def configure_logging(service: str, level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(
            _Rfc3339JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"levelname": "level", "asctime": "time"},
                static_fields={"service": service},
            )
        )
    else:
        handler.setFormatter(_Rfc3339TextFormatter(f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # kafka-python logs every reconnect attempt at INFO/WARNING; keep it to real problems.
    logging.getLogger("kafka").setLevel(logging.ERROR)
    sys.excepthook = _log_uncaught


def _log_uncaught(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, exc, tb)
        return
    log.critical("stopped by an unexpected error: %s", exc, exc_info=(kind, exc, tb))


def log_dead_letter(dead_letter: DeadLetter) -> None:
    """One line per dead letter, so an operator reading logs sees every refusal and where it came from."""
    if dead_letter.source is not None:
        where = dead_letter.source.uri
    elif dead_letter.original is not None:
        where = f"{dead_letter.original.topic}[{dead_letter.original.partition}]@{dead_letter.original.offset}"
    else:
        where = dead_letter.article_id or ""
    log.warning(
        "dead-lettered",
        extra={
            "stage": dead_letter.stage.value,
            "reason": dead_letter.reason.value,
            "source_uri": where,
            "dead_letter_id": dead_letter.dead_letter_id,
            "error": dead_letter.error,
        },
    )
