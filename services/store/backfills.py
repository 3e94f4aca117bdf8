"""Backfill state in Postgres (migration 0005): which articles a ``newsflow reenrich`` run selected, what
each looked like then, which the broker has acknowledged. The queries only; the logic is ``services.backfill``.

The selection is written in one transaction before anything is published, so a run that is killed resumes
with exactly the articles it chose; an item is marked published only after the broker acknowledged it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from services.contracts import EnrichedArticle
from services.store.repository import Repository, Statement


@dataclass(frozen=True)
class StoredCandidate:
    """A stored article as the selection sees it."""

    article_id: str
    enricher_version: str
    event: EnrichedArticle


@dataclass(frozen=True)
class BackfillRun:
    run_id: str
    kind: str
    selection: dict[str, object]
    target_version: str
    created_at: dt.datetime
    published_at: dt.datetime | None
    items: int
    pending: int


@dataclass(frozen=True)
class PendingItem:
    position: int
    article_id: str
    before: EnrichedArticle
    trace_id: str | None


@dataclass(frozen=True)
class ItemStates:
    """One item of a run: the event when selected and the article as stored now (None: gone)."""

    article_id: str
    before: EnrichedArticle
    now: EnrichedArticle | None


@dataclass(frozen=True)
class PublishedMark:
    """An item handled: published (``published_to``) or skipped (``published_to`` None, ``detail`` why)."""

    position: int
    article_id: str
    published_to: str | None
    outcome: str
    detail: str | None = None
    new_article_id: str | None = None


class BackfillLedger:
    def __init__(self, repository: Repository) -> None:
        self._repository = repository

    def candidates(self, since: dt.datetime | None, story: str | None) -> Iterator[StoredCandidate]:
        """Stored articles ingested at or after ``since`` and/or of one story, in article_id order."""
        for article_id, version, event in self._repository.stream(
            "SELECT article_id, enricher_version, event FROM articles"
            " WHERE (%(since)s::timestamptz IS NULL OR ingested_at >= %(since)s)"
            " AND (%(story)s::text IS NULL OR story_id = %(story)s) ORDER BY article_id",
            {"since": since, "story": story},
        ):
            yield StoredCandidate(str(article_id), str(version), EnrichedArticle.model_validate(event))

    def record(
        self, run_id: str, kind: str, selection: dict[str, object], target: str, chosen: Sequence[EnrichedArticle]
    ) -> None:
        """The run and its whole selection, in one transaction."""
        self._repository.write(
            [
                Statement(
                    "INSERT INTO backfill_runs (run_id, kind, selection, target_version)"
                    " VALUES (%s, %s, %s::jsonb, %s)",
                    [(run_id, kind, json.dumps(selection, default=str), target)],
                ),
                Statement(
                    "INSERT INTO backfill_items (run_id, position, article_id, before) VALUES (%s, %s, %s, %s::jsonb)",
                    [(run_id, i, a.article_id, a.model_dump_json()) for i, a in enumerate(chosen)],
                ),
            ]
        )

    def unfinished(self, kind: str) -> BackfillRun | None:
        """The oldest run of this kind the broker has not acknowledged in full (a crash left it)."""
        runs = self._runs("r.kind = %(kind)s AND r.published_at IS NULL", {"kind": kind})
        return runs[0] if runs else None

    def run(self, run_id: str | None, kind: str | None = None) -> BackfillRun | None:
        """One run by id, or the newest (of ``kind``, when given) when ``run_id`` is None."""
        runs = self._runs(
            "(%(run)s::text IS NULL OR r.run_id = %(run)s) AND (%(kind)s::text IS NULL OR r.kind = %(kind)s)",
            {"run": run_id, "kind": kind},
        )
        return runs[-1] if runs else None

    def _runs(self, where: str, params: dict[str, object]) -> list[BackfillRun]:
        rows = self._repository.rows(
            "SELECT r.run_id, r.kind, r.selection, r.target_version, r.created_at, r.published_at,"
            " count(i.position), count(i.position) FILTER (WHERE i.published_at IS NULL)"
            " FROM backfill_runs r LEFT JOIN backfill_items i USING (run_id) WHERE " + where + " GROUP BY r.run_id"
            " ORDER BY r.created_at, r.run_id",
            params,
        )
        return [
            BackfillRun(
                run_id=str(run_id),
                kind=str(kind),
                selection=dict(selection) if isinstance(selection, dict) else {},
                target_version=str(target),
                created_at=created if isinstance(created, dt.datetime) else dt.datetime.min,
                published_at=published if isinstance(published, dt.datetime) else None,
                items=int(str(items)),
                pending=int(str(pending)),
            )
            for run_id, kind, selection, target, created, published, items, pending in rows
        ]

    def pending(self, run_id: str, limit: int) -> list[PendingItem]:
        """The next items not yet acknowledged, in selection order, with the article's trace id."""
        rows = self._repository.rows(
            "SELECT i.position, i.article_id, i.before, a.trace_id FROM backfill_items i"
            " LEFT JOIN articles a USING (article_id)"
            " WHERE i.run_id = %s AND i.published_at IS NULL ORDER BY i.position LIMIT %s",
            (run_id, limit),
        )
        return [
            PendingItem(int(str(pos)), str(aid), EnrichedArticle.model_validate(before), None if t is None else str(t))
            for pos, aid, before, t in rows
        ]

    def mark_published(self, run_id: str, marks: Sequence[PublishedMark]) -> None:
        """Items handled, and the old -> new links of re-extracted articles whose id changed, together."""
        self._repository.write(
            [
                Statement(
                    "UPDATE backfill_items SET published_to = %s, published_at = now(), outcome = %s, detail = %s,"
                    " new_article_id = %s WHERE run_id = %s AND position = %s",
                    [(m.published_to, m.outcome, m.detail, m.new_article_id, run_id, m.position) for m in marks],
                ),
                Statement(
                    "INSERT INTO article_links (old_article_id, new_article_id, run_id) VALUES (%s, %s, %s)"
                    " ON CONFLICT DO NOTHING",
                    [(m.article_id, m.new_article_id, run_id) for m in marks if m.new_article_id is not None],
                ),
            ]
        )

    def outcomes(self, run_id: str) -> dict[str, int]:
        """Handled items of a run counted by outcome."""
        rows = self._repository.rows(
            "SELECT outcome, count(*) FROM backfill_items WHERE run_id = %s AND outcome IS NOT NULL GROUP BY outcome",
            (run_id,),
        )
        return {str(outcome): int(str(n)) for outcome, n in rows}

    def finish(self, run_id: str) -> None:
        self._repository.write(
            [Statement("UPDATE backfill_runs SET published_at = now() WHERE run_id = %s", [(run_id,)])]
        )

    def states(self, run_id: str) -> list[ItemStates]:
        """Every item of a run that was (or is to be) republished, before and now (under its new id when
        re-extraction changed it), in selection order."""
        rows = self._repository.rows(
            "SELECT i.article_id, i.before, a.event FROM backfill_items i"
            " LEFT JOIN articles a ON a.article_id = COALESCE(i.new_article_id, i.article_id)"
            " WHERE i.run_id = %s AND i.outcome IS DISTINCT FROM 'source_gone'"
            " AND i.outcome IS DISTINCT FROM 'still_refused' ORDER BY i.position",
            (run_id,),
        )
        return [
            ItemStates(
                str(aid),
                EnrichedArticle.model_validate(before),
                None if event is None else EnrichedArticle.model_validate(event),
            )
            for aid, before, event in rows
        ]
