"""Settings shared by every service. Each service subclasses ``ServiceSettings`` once; the object is
built at the entry point (``from_env``) and passed down, never read from globals.

Environment variable names are the field names in upper case (``KAFKA_BOOTSTRAP_SERVERS``...).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# Response, topic and partition headers around the record batches of one fetch answer.
_FETCH_OVERHEAD_BYTES = 64 * 1024


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, extra="ignore", case_sensitive=False)

    newsflow_home: Path = Path(".newsflow")

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    # Idempotent producers need broker support for InitProducerId on every partition leader; the
    # embedded Tansu build rejects kafka-python's idempotent batches, so it is opt-in. Duplicates
    # from producer retries are harmless anyway: every event is keyed and consumers upsert.
    kafka_enable_idempotence: bool = False
    # Prepended to every topic name (e.g. "staging." gives staging.articles.cleaned), so several
    # deployments can share one cluster. Empty keeps the contract's names.
    kafka_topic_prefix: str = Field(default="", pattern=r"^[A-Za-z0-9._-]*$", max_length=100)
    kafka_topic_partitions: int = 3
    kafka_replication_factor: int = 1
    # Short enough that a restarted consumer rejoins quickly; Apache Kafka deployments may raise it.
    kafka_session_timeout_ms: int = 10_000
    kafka_heartbeat_interval_ms: int = 2_000
    kafka_max_poll_interval_ms: int = 300_000
    kafka_max_poll_records: int = 64
    kafka_poll_timeout_ms: int = 500
    # Kafka's default broker limit (message.max.bytes) is about 1 MB. Larger events are dead-lettered
    # as oversized by the stage that would produce them instead of failing every retry.
    kafka_max_message_bytes: int = 1_000_000
    # Fetch sizes. A fetch answer holds up to max_partition_fetch_bytes per assigned partition (the
    # broker returns at least one batch per partition, and Tansu does not cut the answer at
    # fetch_max_bytes), and kafka-python drops a connection whose answer exceeds its receive limit
    # ("InvalidReceiveError: Invalid frame length"), so the receive limit is derived from the other two
    # (``kafka_receive_limit_bytes``) instead of being a third number that can disagree.
    kafka_max_partition_fetch_bytes: int = Field(default=1_048_576, ge=1_024)
    kafka_fetch_max_bytes: int = Field(default=16 * 1_048_576, ge=1_024)
    # The most partitions one consumer may be given (all partitions of every topic it reads, in the
    # worst case); 0 = three topics x kafka_topic_partitions.
    kafka_max_assigned_partitions: int = Field(default=0, ge=0)
    kafka_receive_buffer_bytes: int | None = None  # SO_RCVBUF of client sockets; None: the OS default
    # How consumers get partitions: "group" (a consumer group; rebalances when members come and go) or
    # "static" (this process takes partitions p with p % kafka_static_members == kafka_static_member,
    # no group join: one-shot runs whose process set is fixed; offsets still commit to the group).
    kafka_assignment: Literal["group", "static"] = "group"
    kafka_static_member: int = Field(default=0, ge=0)
    kafka_static_members: int = Field(default=1, ge=1)

    metrics_host: str = "127.0.0.1"
    metrics_port: int = 0  # 0 disables the HTTP endpoint (handy in tests that run many services)

    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "json"

    # Transient faults: exponential backoff between these bounds.
    retry_initial_backoff_s: float = 0.5
    retry_max_backoff_s: float = 30.0
    # A run of this many dead letters in a row means a broken deploy, not bad input: stop instead
    # of dead-lettering the whole topic (as arroyo's DLQ limit does).
    max_consecutive_dead_letters: int = 1_000
    # One size policy for every consumed event (``services.runtime.limits``): a message above
    # KAFKA_MAX_MESSAGE_BYTES or an article text above this many characters is dead-lettered as
    # oversized before any work. Enrichment costs about 50 us a character on a shared 2-core machine
    # (bench/results/enrich_long_texts.md) and its output is ~3 bytes a character: 200,000 characters
    # take ~10 s and give a ~0.6 MB event, below the message limit (texts above ~330,000 characters
    # could not be published enriched at all); spaCy itself refuses above 1,000,000 (E088).
    max_text_chars: int = Field(default=200_000, ge=1)
    # Attempts of one message whose handling raises, alone, before it is dead-lettered (handler_failed).
    max_handler_attempts: int = Field(default=3, ge=1)
    # A batch is handled in pieces of at most this many message bytes; between pieces, a paused poll
    # tells the group the consumer is alive once a quarter of KAFKA_MAX_POLL_INTERVAL_MS has passed,
    # so long work never gets the consumer put out of the group (and the batch redelivered forever).
    batch_work_bytes: int = Field(default=500_000, ge=1)

    @property
    def kafka_receive_limit_bytes(self) -> int:
        """The largest response a client accepts: a whole fetch answer (every assigned partition's
        share, or the fetch cap plus the one batch a broker may add beyond it), with room for headers."""
        partitions = self.kafka_max_assigned_partitions or 3 * self.kafka_topic_partitions
        per_partition = max(self.kafka_max_partition_fetch_bytes, self.kafka_max_message_bytes)
        answer = max(partitions * per_partition, self.kafka_fetch_max_bytes + per_partition)
        return answer + _FETCH_OVERHEAD_BYTES

    def topic_name(self, topic: str) -> str:
        """The broker's name for a contract topic (``services.contracts.Topics``)."""
        return f"{self.kafka_topic_prefix}{topic}"
