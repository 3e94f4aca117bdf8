"""How the local stack sizes itself: enrich workers to the cores and the batch, partitions to the workers,
and Kafka receive limits to the fetch sizes."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.localstack import (
    FILES_PER_EXTRA_WORKER,
    MAX_DEFAULT_ENRICH_WORKERS,
    default_enrich_workers,
    enrich_workers_for,
    topic_partitions,
)
from services.runtime.settings import ServiceSettings


@pytest.mark.parametrize(("workers", "at_least", "expected"), [(1, 6, 6), (2, 6, 6), (4, 6, 8), (5, 6, 10), (2, 3, 4)])
def test_partitions_are_a_multiple_of_the_workers(workers: int, at_least: int, expected: int) -> None:
    assert topic_partitions(workers, at_least) == expected
    assert expected % workers == 0 and expected >= at_least


def test_one_enrich_worker_per_core_up_to_a_cap() -> None:
    assert default_enrich_workers(1) == 1
    assert default_enrich_workers(2) == 2
    assert default_enrich_workers(64) == MAX_DEFAULT_ENRICH_WORKERS


def test_a_handful_of_files_gets_one_worker(tmp_path: Path) -> None:
    for n in range(FILES_PER_EXTRA_WORKER - 1):
        (tmp_path / f"{n}.txt").write_text("x")
    assert enrich_workers_for(tmp_path, cpus=2) == 1
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "last.txt").write_text("x")
    assert enrich_workers_for(tmp_path, cpus=2) == 2
    assert enrich_workers_for(tmp_path, cpus=4) == 2


@pytest.mark.parametrize("partitions", [1, 3, 6, 12, 48])
def test_the_receive_limit_holds_a_whole_fetch_answer(partitions: int) -> None:
    settings = ServiceSettings(kafka_topic_partitions=partitions)
    per_partition = max(settings.kafka_max_partition_fetch_bytes, settings.kafka_max_message_bytes)
    # The largest answer: every partition of the three topics assigned to one consumer, each a full batch;
    # and never less than the fetch cap plus the one batch a broker adds beyond it.
    assert settings.kafka_receive_limit_bytes > 3 * partitions * per_partition
    assert settings.kafka_receive_limit_bytes > settings.kafka_fetch_max_bytes + per_partition
