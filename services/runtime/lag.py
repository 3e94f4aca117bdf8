"""The lag exporter: consumer-group lag read from the broker, served as ``newsflow_consumer_lag``.

A consumer reporting its own lag stops reporting when it dies, exactly when lag matters. This process
reads each group's committed offsets and each partition's end offset from the broker instead, so lag
keeps growing on the dashboard (and ``NewsflowStageStalled`` fires) while a stage is down. It runs
inside ``newsflow dev`` and as ``newsflow lag-exporter`` beside a deployment.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from services.contracts import Stage
from services.runtime import metrics
from services.runtime.errors import TransientError
from services.runtime.health import Health, serve_health
from services.runtime.kafka import BrokerOffsets
from services.runtime.logs import configure_logging
from services.runtime.messages import TopicPartition
from services.runtime.settings import ServiceSettings

log = logging.getLogger(__name__)


class LagExporterSettings(ServiceSettings):
    # How often the broker's offsets are read; scrapes in between see the last reading.
    lag_interval_seconds: float = 5.0


@dataclass(frozen=True)
class WatchedGroup:
    """A consumer group, the stage it belongs to and the topics it consumes."""

    stage: Stage
    group_id: str
    topics: tuple[str, ...]


def group_lag(
    partitions: list[TopicPartition],
    committed: Mapping[TopicPartition, int],
    beginnings: Mapping[TopicPartition, int],
    ends: Mapping[TopicPartition, int],
) -> dict[TopicPartition, int]:
    """Messages each partition holds beyond the group's committed offset. A partition the group never
    committed counts from its beginning (consumers start at the earliest offset)."""
    lags: dict[TopicPartition, int] = {}
    for tp in partitions:
        end = ends.get(tp, 0)
        position = committed.get(tp, beginnings.get(tp, 0))
        lags[tp] = max(0, end - position)
    return lags


class LagExporter:
    def __init__(self, offsets: BrokerOffsets, groups: list[WatchedGroup]) -> None:
        self._offsets = offsets
        self._groups = groups

    def collect_once(self) -> None:
        for group in self._groups:
            partitions = [tp for topic in group.topics for tp in self._offsets.partitions(topic)]
            lags = group_lag(
                partitions,
                self._offsets.committed(group.group_id, partitions),
                self._offsets.beginning_offsets(partitions),
                self._offsets.end_offsets(partitions),
            )
            for tp, lag in lags.items():
                metrics.CONSUMER_LAG.labels(group.stage, tp.topic, str(tp.partition)).set(lag)
        metrics.LAG_LAST_SUCCESS.set_to_current_time()

    def run(self, stop: threading.Event, interval_s: float, health: Health) -> None:
        backoff = 0.5
        while not stop.is_set():
            health.tick()
            try:
                self.collect_once()
                health.set_ready(True)
                backoff = 0.5
                stop.wait(interval_s)
            except TransientError as exc:
                health.set_ready(False)
                log.warning("cannot read offsets, backing off", extra={"error": str(exc), "backoff_s": backoff})
                stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)


def run_lag_exporter(settings: LagExporterSettings, groups: list[WatchedGroup]) -> None:
    """Composition of the exporter process: logs, signals, /metrics, then the read loop until stopped."""
    configure_logging("lag-exporter", settings.log_level, settings.log_format)
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        log.info("stop requested", extra={"signal": signal.Signals(signum).name})
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    health = Health(stall_after_s=max(60.0, 10 * settings.lag_interval_seconds))
    if settings.metrics_port:
        server = serve_health(health, settings.metrics_host, settings.metrics_port, metrics.lag_exporter_registry())
        log.info("serving metrics", extra={"address": f"{settings.metrics_host}:{server.server_address[1]}"})
    offsets = _connect(settings, stop)
    if offsets is None:
        return
    try:
        LagExporter(offsets, groups).run(stop, settings.lag_interval_seconds, health)
    finally:
        offsets.close()
        log.info("shutting down")


def _connect(settings: LagExporterSettings, stop: threading.Event) -> BrokerOffsets | None:
    """The broker may start after the exporter (or be restarted): keep trying, saying why."""
    backoff = 0.5
    while not stop.is_set():
        try:
            return BrokerOffsets(settings)
        except TransientError as exc:
            log.warning("broker unreachable, retrying", extra={"error": str(exc), "backoff_s": backoff})
            stop.wait(backoff)
            backoff = min(backoff * 2, 30.0)
    return None
