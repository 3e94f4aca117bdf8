"""Ingest's loop: list the bucket, read each new object version, extract, publish, then record it.

Per batch of object versions: build every event (cleaned article or dead letter), publish them,
flush the producer (which raises unless every send was acknowledged), and only then mark the
versions done in the ledger. A crash before the ledger write re-reads those versions on restart:
the same article ids and dead-letter ids are published again and downstream upserts absorb them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
import time
from dataclasses import dataclass, field

from services.contracts import CleanedArticle, DeadLetter, DeadLetterReason, SourceRef, Stage, Topics
from services.ingest.clean import word_count
from services.ingest.dedup import NearDuplicateIndex, article_id_for
from services.ingest.formats import (
    ExtractedArticle,
    ExtractionOptions,
    RejectedRecord,
    detect_format,
    extract_articles,
)
from services.ingest.ledger import IngestLedger
from services.ingest.quarantine import Quarantine
from services.ingest.sources import BucketSource, ObjectUnreadable, ObjectVanished, ObjectVersion
from services.runtime import deadletters, metrics
from services.runtime.errors import InvalidInput, TransientError
from services.runtime.health import Health
from services.runtime.kafka import EventProducer
from services.runtime.logs import log_dead_letter
from services.runtime.messages import OutgoingEvent, Trace, now_ms, trace_id_for

log = logging.getLogger(__name__)


@dataclass
class RunReport:
    """What one ingest run published: ids the one-shot job waits for downstream."""

    # Off for a long-running service nobody asked for a report: the id lists would grow with every article.
    keeps_ids: bool = True
    article_ids: list[str] = field(default_factory=list)
    dead_letter_ids: list[str] = field(default_factory=list)
    dead_letter_reasons: dict[str, int] = field(default_factory=dict)
    objects: int = 0
    # Object versions by outcome: ok (at least one article), dead_letter (refused whole), duplicate.
    outcomes: dict[str, int] = field(default_factory=dict)
    # New versions of an object whose bytes were already handled at that place (a touch, a copy over itself).
    exact_duplicates: int = 0
    # Cleaned articles published as near duplicates of an earlier article (stored, with duplicate_of).
    near_duplicates: int = 0
    # Object versions present at the first scan that an earlier run had already handled.
    already_handled: int = 0


@dataclass
class _Handled:
    obj: ObjectVersion
    sha256: str | None
    events: list[OutgoingEvent]
    outcome: metrics.Outcome


class IngestService:
    def __init__(
        self,
        *,
        source: BucketSource,
        ledger: IngestLedger,
        producer: EventProducer,
        quarantine: Quarantine,
        options: ExtractionOptions,
        near_duplicates: NearDuplicateIndex,
        publish_batch: int,
        health: Health,
        report_ids: bool = True,
    ) -> None:
        self._source = source
        self._ledger = ledger
        self._producer = producer
        self._quarantine = quarantine
        self._options = options
        self._near_duplicates = near_duplicates
        self._publish_batch = publish_batch
        self._health = health
        self.report = RunReport(keeps_ids=report_ids)
        self._scans = 0

    def run(self, stop: threading.Event, scan_interval_s: float, until_idle: bool) -> None:
        """Scan until stopped; with ``until_idle``, return after a scan that found nothing new."""
        backoff = 0.5
        while not stop.is_set():
            self._health.tick()
            try:
                found = self.scan_once(stop)
                backoff = 0.5
                self._health.set_ready(True)
                if until_idle and found == 0 and not self._source.settling():
                    return
                # Waiting may read bucket notifications (SQS, Kafka): their faults back off too.
                self._source.wait_for_changes(0.2 if until_idle else scan_interval_s)
            except TransientError as exc:
                metrics.TRANSIENT_ERRORS.labels(Stage.INGEST).inc()
                log.warning("transient fault, backing off", extra={"error": str(exc), "backoff_s": backoff})
                stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)

    def scan_once(self, stop: threading.Event) -> int:
        """Handle every new object version once; return how many there were."""
        pending: list[ObjectVersion] = []
        found = 0
        seen: set[tuple[str, str]] = set()
        first_scan = self._scans == 0
        self._scans += 1
        for obj in self._source.list_versions():
            # A notification and the listing may both name the same version in one scan.
            if (obj.uri, obj.version) in seen:
                continue
            seen.add((obj.uri, obj.version))
            if self._ledger.is_done(obj.uri, obj.version):
                if first_scan:
                    self.report.already_handled += 1
                continue
            pending.append(obj)
            metrics.INGEST_BACKLOG.set(len(pending))
            if len(pending) >= self._publish_batch:
                found += self._claim_and_handle(pending)
                pending = []
                if stop.is_set():
                    return found
        found += self._claim_and_handle(pending)
        metrics.INGEST_BACKLOG.set(0)
        return found

    def _claim_and_handle(self, listed: list[ObjectVersion]) -> int:
        """Handle the listed versions the ledger gives this process (not done, not leased elsewhere)."""
        claimed = self._ledger.claim(listed)
        if claimed:
            self._handle_batch(claimed)
        return len(claimed)

    def _handle_batch(self, batch: list[ObjectVersion]) -> None:
        started = time.monotonic()
        metrics.IN_FLIGHT.labels(Stage.INGEST).set(len(batch))
        try:
            self._publish_and_record(batch, started)
        finally:
            metrics.IN_FLIGHT.labels(Stage.INGEST).set(0)

    def _publish_and_record(self, batch: list[ObjectVersion], started: float) -> None:
        handled = [self._handle(obj) for obj in batch]
        for item in handled:
            for outgoing in item.events:
                self._producer.send(outgoing)
        for topic in self._producer.flush():
            metrics.MESSAGES_PRODUCED.labels(Stage.INGEST, topic).inc()
        # Acknowledged by the broker: now the versions may be recorded as done.
        for item in handled:
            article_ids = [o.key for o in item.events if o.topic == Topics.CLEANED]
            dead_letter_ids = [o.event.dead_letter_id for o in item.events if isinstance(o.event, DeadLetter)]
            self._ledger.mark_done(
                item.obj.uri, item.obj.version, item.sha256, item.outcome.value, article_ids, dead_letter_ids
            )
            metrics.INGEST_OBJECTS.labels(self._source.kind, item.outcome).inc()
            metrics.MESSAGES_PROCESSED.labels(Stage.INGEST, item.outcome).inc()
            self._record(item)
        metrics.BATCH_SIZE.labels(Stage.INGEST).observe(len(batch))
        metrics.BATCH_SECONDS.labels(Stage.INGEST).observe(time.monotonic() - started)
        metrics.LAST_BATCH_TIMESTAMP.labels(Stage.INGEST).set_to_current_time()

    def _record(self, item: _Handled) -> None:
        """Count what is now durable: in the run report, the metrics and the log."""
        self.report.objects += 1
        self.report.outcomes[item.outcome.value] = self.report.outcomes.get(item.outcome.value, 0) + 1
        if item.outcome is metrics.Outcome.DUPLICATE:
            self.report.exact_duplicates += 1
        for outgoing in item.events:
            if isinstance(outgoing.event, CleanedArticle):
                if self.report.keeps_ids:
                    self.report.article_ids.append(outgoing.event.article_id)
                self._observe_quality(outgoing.event)
            elif isinstance(outgoing.event, DeadLetter):
                log_dead_letter(outgoing.event)
                if self.report.keeps_ids:
                    self.report.dead_letter_ids.append(outgoing.event.dead_letter_id)
                reason = outgoing.event.reason.value
                self.report.dead_letter_reasons[reason] = self.report.dead_letter_reasons.get(reason, 0) + 1
                metrics.DEAD_LETTERS.labels(Stage.INGEST, reason).inc()

    def _observe_quality(self, article: CleanedArticle) -> None:
        if article.duplicate_of is not None:
            self.report.near_duplicates += 1
        metrics.INGEST_ARTICLE_WORDS.observe(article.word_count)
        if article.published_at is None:
            metrics.INGEST_MISSING_DATE.inc()
        metrics.INGEST_LANGUAGE.labels(article.language or "unknown").inc()

    def _handle(self, obj: ObjectVersion) -> _Handled:
        # One trace per object version, deterministic so a re-read after a crash traces the same; seen-at
        # is when this read began (the start of the end-to-end latency every later stage measures against).
        trace = Trace(trace_id_for(obj.uri, obj.version), seen_at_ms=now_ms(), source_uri=obj.uri)
        if obj.refused is not None:
            # Refused by what it is (a symlink, a FIFO, a hidden name), never read: no bytes to keep.
            source = SourceRef(uri=obj.uri, version=obj.version, format="unknown", size=obj.size, sha256="")
            dead = deadletters.for_source(Stage.INGEST, obj.refused.reason, obj.refused.detail, source, None)
            return _Handled(obj, None, [self._dead_letter_event(dead, trace)], metrics.Outcome.DEAD_LETTER)
        with metrics.INGEST_EXTRACT_SECONDS.time():
            try:
                data = self._source.read(obj, self._options.max_bytes)
            except (ObjectVanished, ObjectUnreadable) as exc:
                source = SourceRef(uri=obj.uri, version=obj.version, format="unknown", size=obj.size, sha256="")
                reason, detail = (
                    (DeadLetterReason.VANISHED, "listed but gone before it could be read")
                    if isinstance(exc, ObjectVanished)
                    else (DeadLetterReason.UNREADABLE, f"cannot be read: {exc}")
                )
                dead = deadletters.for_source(Stage.INGEST, reason, detail, source, None, exception=exc)
                return _Handled(obj, None, [self._dead_letter_event(dead, trace)], metrics.Outcome.DEAD_LETTER)
            sha256 = hashlib.sha256(data).hexdigest()
            if self._ledger.content_done(obj.uri, sha256):
                return _Handled(obj, sha256, [], metrics.Outcome.DUPLICATE)
            source = SourceRef(
                uri=obj.uri,
                version=obj.version,
                format=_format_name(obj.key, data),
                size=len(data),
                sha256=sha256,
            )
            try:
                results = extract_articles(obj.key, data, self._options)
            except InvalidInput as exc:
                kept = self._quarantine.keep(data, sha256) if data else None
                dead = deadletters.for_source(Stage.INGEST, exc.reason, exc.detail, source, kept, exception=exc)
                return _Handled(obj, sha256, [self._dead_letter_event(dead, trace)], metrics.Outcome.DEAD_LETTER)
        events = [self._event_for(result, source, data, sha256, trace) for result in results]
        outcome = metrics.Outcome.OK if any(e.topic == Topics.CLEANED for e in events) else metrics.Outcome.DEAD_LETTER
        return _Handled(obj, sha256, events, outcome)

    def _event_for(
        self, result: ExtractedArticle | RejectedRecord, source: SourceRef, data: bytes, sha256: str, trace: Trace
    ) -> OutgoingEvent:
        if isinstance(result, RejectedRecord):
            record_source = source.model_copy(update={"record": result.record})
            kept = self._quarantine.keep(data, sha256)
            dead = deadletters.for_source(Stage.INGEST, result.reason, result.detail, record_source, kept)
            return self._dead_letter_event(dead, trace)
        article_id = article_id_for(result.text)
        signature = self._near_duplicates.signature(result.text)
        earlier = self._near_duplicates.find(signature)
        duplicate_of = earlier if earlier is not None and earlier != article_id else None
        self._near_duplicates.add(article_id, signature)  # into the ledger, durable before the event is sent
        metrics.INGEST_ARTICLES.labels(str(duplicate_of is not None).lower()).inc()
        article = cleaned_article(result, source, duplicate_of)
        if not self._producer.fits(article):
            kept = self._quarantine.keep(data, sha256)
            dead = deadletters.for_source(
                Stage.INGEST,
                DeadLetterReason.OVERSIZED,
                f"the cleaned article is larger than the {self._producer.max_message_bytes}-byte message limit",
                article.source,
                kept,
            )
            return self._dead_letter_event(dead, trace)
        return OutgoingEvent(Topics.CLEANED, article_id, article, trace)

    @staticmethod
    def _dead_letter_event(dead: DeadLetter, trace: Trace) -> OutgoingEvent:
        return OutgoingEvent(Topics.DEADLETTER, deadletters.key_of(dead), dead, trace)


def cleaned_article(result: ExtractedArticle, source: SourceRef, duplicate_of: str | None) -> CleanedArticle:
    """The cleaned-article event for one extracted article of one object version."""
    return CleanedArticle(
        article_id=article_id_for(result.text),
        source=source.model_copy(
            update={"record": result.record, "format": result.format, "encoding": result.encoding}
        ),
        title=result.title,
        standfirst=result.standfirst,
        text=result.text,
        author=result.author,
        url=result.url,
        published_at=result.published_at,
        language=result.language,
        word_count=word_count(result.text),
        duplicate_of=duplicate_of,
        ingested_at=dt.datetime.now(dt.UTC),
    )


def extract_again(data: bytes, source: SourceRef, options: ExtractionOptions) -> list[CleanedArticle]:
    """Extraction of a refused object's kept bytes with today's code and options, for a redrive: the
    articles of the whole object, or only of the refused record when the refusal named one.

    Raises ``InvalidInput`` when it is still refused. Near-duplicate links are not recomputed (the index
    lives in ingest's ledger), so a redriven article has ``duplicate_of`` null."""
    key = source.uri.rsplit("/", 1)[-1]
    results = extract_articles(key, data, options)
    if source.record is not None:
        results = [r for r in results if r.record == source.record]
        if not results:
            raise InvalidInput(DeadLetterReason.NOT_AN_ARTICLE, f"record {source.record} is no longer in the object")
    refused = [r for r in results if isinstance(r, RejectedRecord)]
    articles = [r for r in results if isinstance(r, ExtractedArticle)]
    if not articles and refused:
        raise InvalidInput(refused[0].reason, refused[0].detail)
    if not articles:
        raise InvalidInput(DeadLetterReason.NOT_AN_ARTICLE, "no article in the object")
    return [cleaned_article(article, source, None) for article in articles]


def _format_name(key: str, data: bytes) -> str:
    try:
        return detect_format(key, data)
    except InvalidInput:
        return "unknown"
