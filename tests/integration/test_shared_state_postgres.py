"""Shared state on a real Postgres: story assignment by several enrich replicas, the ingest ledger's
leases by several ingest replicas."""

from __future__ import annotations

import dataclasses
import datetime as dt
import multiprocessing
import multiprocessing.synchronize
import random
import time
import zlib

import psycopg
import pytest

from services.enrich.postgres_story_store import PostgresStoryStore
from services.enrich.stories import InMemoryStoryStore, StoryFeatures
from services.ingest.dedup import NearDuplicateIndex
from services.ingest.postgres_ledger import PostgresLedger
from services.ingest.sources import ObjectVersion

pytestmark = pytest.mark.integration

RETENTION = dt.timedelta(days=60)
# Invented: a wire story and an unrelated one, long enough for word-shingle similarity to mean something.
WIRE = (
    "Dock workers at the port of Kessel voted on Tuesday to end a twelve-day strike that had left more than "
    "forty container ships waiting offshore. The agreement gives workers a pay rise of six percent this year "
    "and four percent next year, along with a new shift rota that union members had demanded since spring."
)
PRIZE = (
    "Two marine biologists from the University of Tarn have won this year's Lindqvist Prize for discovering "
    "cold-water corals that thrive in water far more acidic than scientists thought possible, the committee said."
)

# Three events with their own people, places and vocabulary, plus words all of them share.
EVENTS = {
    "dam": (
        {"person:ines-moreau", "org:river-authority"},
        {"place:valcourt"},
        {"dam": 2.0, "spillway": 1.5, "flood": 1.7, "evacuate": 1.2, "council": 1.0},
    ),
    "chess": (
        {"person:tomas-varga", "org:chess-federation"},
        {"place:riga"},
        {"chess": 2.0, "gambit": 1.5, "tournament": 1.7, "draw": 1.2, "council": 1.0},
    ),
    "rail": (
        {"person:amal-haddad", "org:rail-union"},
        {"place:dunmore"},
        {"strike": 2.0, "rail": 1.5, "wage": 1.7, "timetable": 1.2, "council": 1.0},
    ),
}


def features(event: str, n: int, day: dt.date = dt.date(2026, 3, 2)) -> StoryFeatures:
    entities, places, terms = EVENTS[event]
    return StoryFeatures(
        article_id=f"{event}-{n:03d}",
        day=day,
        day_is_published=True,
        years=frozenset(),
        event_dates=frozenset(),
        entities=frozenset(entities),
        places=frozenset(places),
        terms={**terms, f"detail{n}": 1.0, **{"ent:" + e: 1.0 for e in entities | places}},
        text_shingles=frozenset(zlib.crc32(f"{event}-{n}-{i}".encode()) for i in range(20)),
    )


def _race(database_url: str, article_ids: list[tuple[str, int]], barrier: multiprocessing.synchronize.Barrier) -> None:
    with PostgresStoryStore(database_url, retention=RETENTION) as store:
        for event, n in article_ids:
            barrier.wait(30)  # both replicas assign their article of the same event at the same moment
            store.assign(features(event, n))


def _stories(database_url: str) -> dict[str, str]:
    with psycopg.connect(database_url) as conn:
        return {str(a): str(s) for a, s in conn.execute("SELECT article_id, story_id FROM story_assignments")}


def test_two_replicas_racing_on_one_event_end_in_one_story(database_url: str) -> None:
    PostgresStoryStore(database_url, retention=RETENTION).migrate()
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    rounds = [event for event in EVENTS for _ in range(4)]
    # Replica A gets the even articles of each event, replica B the odd ones, in lockstep.
    shares = [[(e, 2 * i + side) for i, e in enumerate(rounds)] for side in (0, 1)]
    replicas = [context.Process(target=_race, args=(database_url, share, barrier)) for share in shares]
    for replica in replicas:
        replica.start()
    for replica in replicas:
        replica.join(120)
    assert [r.exitcode for r in replicas] == [0, 0]

    assigned = _stories(database_url)
    assert len(assigned) == 2 * len(rounds)
    by_event: dict[str, set[str]] = {}
    for article_id, story_id in assigned.items():
        by_event.setdefault(article_id.split("-")[0], set()).add(story_id)
    assert all(len(ids) == 1 for ids in by_event.values()), by_event
    assert len({next(iter(ids)) for ids in by_event.values()}) == len(EVENTS)


@pytest.mark.parametrize("batch", [1, 4])
def test_replicas_taking_turns_decide_as_one_process_would(database_url: str, batch: int) -> None:
    """Two replicas alternating over one arrival order make the decisions of a single store: each sees
    the other's updates (its cached candidate states are refreshed by version). In batches too: a batch
    writes its document frequencies once, at its end (issue 15), and the articles after the first still
    see exact counts."""
    order = [(e, n) for e in EVENTS for n in range(6)]
    random.Random(7).shuffle(order)
    single = InMemoryStoryStore()
    expected = [single.assign(features(e, n)).story_id for e, n in order]
    with (
        PostgresStoryStore(database_url, retention=RETENTION) as a,
        PostgresStoryStore(database_url, retention=RETENTION) as b,
    ):
        a.migrate()
        got: list[str] = []
        for i, start in enumerate(range(0, len(order), batch)):
            replica = a if i % 2 else b
            got += [d.story_id for d in replica.assign_batch([features(e, n) for e, n in order[start : start + batch]])]
        # A redelivered article gets its story back and changes nothing, alone or twice in one batch
        # (a batch reads its articles' recorded stories once, at its start: issue 15).
        again = a.assign(features(*order[0]))
        twice = b.assign_batch([features(*order[1]), features(*order[1])])
        # Each replica's cached document frequencies are exact: it applied the other's changes.
        terms = set(single.doc_freq_counts) | {"never-seen"}
        exact = ({t: single.doc_freq_counts[t] for t in terms}, single.n_docs)
        assert a.document_frequencies(terms) == exact and b.document_frequencies(terms) == exact
    assert got == expected
    assert again.story_id == expected[0]
    assert [d.story_id for d in twice] == [expected[1], expected[1]]
    assert len(_stories(database_url)) == len(order)


def test_stories_not_updated_within_the_retention_are_pruned(database_url: str) -> None:
    with PostgresStoryStore(database_url, retention=dt.timedelta(days=30)) as store:
        store.migrate()
        old = store.assign(features("dam", 1))
        fresh = store.assign(features("chess", 1))
        with psycopg.connect(database_url) as conn:
            conn.execute(
                "UPDATE story_states SET updated_at = now() - interval '31 days' WHERE story_id = %s", (old.story_id,)
            )
        assert store.prune() == 1
        assert store.story_of("dam-001") is None
        assert store.story_of("chess-001") == fresh.story_id
        # The pruned event starts a new story of its own; nothing of the old one is left behind.
        assert store.assign(features("dam", 2)).story_id == "story-dam-002"
    with psycopg.connect(database_url) as conn:
        left = conn.execute("SELECT count(*) FROM story_keys WHERE story_id = %s", (old.story_id,)).fetchone()
        shingles = conn.execute("SELECT count(*) FROM story_text_shingles").fetchone()
    assert left == (0,)
    assert shingles == (2 * len(features("dam", 1).text_shingles),)  # chess-001's and dam-002's


def test_a_database_of_the_layout_before_story_numbers_is_upgraded(database_url: str) -> None:
    """Text 4-grams stored under story ids (migration 0001 only) still find their story after 0002, and
    stories founded afterwards get numbers past the old ones."""
    from services.enrich.postgres_story_store import migrations
    from services.runtime.postgres import PostgresConnection

    first_only = PostgresConnection(database_url, application_name="newsflow-test")
    first_only.migrate(migrations()[:1])
    first_only.close()
    echoed = features("dam", 1)
    state = '{"n_articles":1,"years":[],"event_dates":[],"entities":{},"places":{},"terms":{"dam":1.0}}'
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "INSERT INTO story_states (story_id, seq, state) VALUES ('story-old', nextval('story_seq'), %s)", (state,)
        )
        conn.execute(
            "INSERT INTO story_shingles (shingle, story_id) SELECT unnest(%s::bigint[]), 'story-old'",
            (sorted(echoed.text_shingles),),
        )
    with PostgresStoryStore(database_url, retention=RETENTION) as store:
        assert len(store.migrate()) == 2
        # An article quoting the old story's words is found through the moved 4-grams alone (no shared key).
        quoting = dataclasses.replace(features("chess", 2), quote_shingles=echoed.text_shingles)
        assert store.assign(quoting).story_id == "story-old"
        assert store.assign(features("rail", 1)).story_id == "story-rail-001"
    with psycopg.connect(database_url) as conn:
        numbers = dict(conn.execute("SELECT story_id, n FROM story_states").fetchall())
    assert numbers["story-rail-001"] > numbers["story-old"]


def test_a_database_before_story_date_columns_is_upgraded(database_url: str) -> None:
    """Issue 15: candidate queries apply the time gates on columns that migration 0003 fills from the
    stored states; a story is still found in its window and not outside it, a state without dates stays
    a candidate."""
    from services.enrich.postgres_story_store import migrations
    from services.enrich.stories import open_window
    from services.runtime.postgres import PostgresConnection

    before = PostgresConnection(database_url, application_name="newsflow-test")
    before.migrate(migrations()[:2])
    before.close()
    dated = (
        '{"published_first":"2026-03-01","published_last":"2026-03-02","n_articles":2,"years":[],'
        '"event_dates":[],"entities":{},"places":{},"terms":{"dam":1.0}}'
    )
    undated = '{"n_articles":1,"years":[],"event_dates":[],"entities":{},"places":{},"terms":{"dam":1.0}}'
    with psycopg.connect(database_url) as conn:
        for story_id, state in (("story-dated", dated), ("story-undated", undated)):
            conn.execute(
                "INSERT INTO story_states (story_id, seq, state) VALUES (%s, nextval('story_seq'), %s)",
                (story_id, state),
            )
            conn.execute("INSERT INTO story_keys (key, story_id) VALUES ('org:dam-board', %s)", (story_id,))
    near, far = features("dam", 1, dt.date(2026, 3, 5)), features("dam", 2, dt.date(2026, 5, 5))
    with PostgresStoryStore(database_url, retention=RETENTION) as store:
        assert len(store.migrate()) == 1
        keys = frozenset({"org:dam-board"})
        with store._db.transaction() as conn:  # the port is called inside assignment's transaction
            store._conn = conn
            assert store.stories_with_keys(keys, open_window(near)) == {"story-dated", "story-undated"}
            assert store.stories_with_keys(keys, open_window(far)) == {"story-undated"}
        with psycopg.connect(database_url) as conn:
            row = conn.execute(
                "SELECT published_first, published_last, ingested_last FROM story_states WHERE story_id = 'story-dated'"
            ).fetchone()
        assert row == (dt.date(2026, 3, 1), dt.date(2026, 3, 2), None)


def test_postgres_candidate_limit_counts_only_stories_in_the_time_window(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The window is applied in the candidate query, before the limit: with room for one candidate, a
    dam report joins its event's story although a later-updated dam story, half a year earlier, shares
    its keys (the same decisions as the in-memory store)."""
    from services.enrich import stories as stories_module

    monkeypatch.setattr(stories_module, "MAX_CANDIDATES", 1)
    sequence = [
        features("dam", 1, dt.date(2026, 3, 2)),
        features("dam", 2, dt.date(2025, 9, 1)),  # the same people and place, months away: its own story
        features("dam", 3, dt.date(2026, 3, 3)),
    ]
    memory = InMemoryStoryStore()
    expected = [memory.assign(f).story_id for f in sequence]
    assert expected == ["story-dam-001", "story-dam-002", "story-dam-001"]
    with PostgresStoryStore(database_url, retention=dt.timedelta(days=3650)) as store:
        store.migrate()
        assert [store.assign(f).story_id for f in sequence] == expected


def _versions(n: int) -> list[ObjectVersion]:
    return [ObjectVersion(uri=f"s3://news/{i:03d}.txt", key=f"{i:03d}.txt", version="e1", size=10) for i in range(n)]


def test_ingest_replicas_divide_a_listing_and_take_over_a_dead_ones_share(database_url: str) -> None:
    listing = _versions(40)
    a = PostgresLedger(database_url, lease=dt.timedelta(seconds=1), owner="a")
    b = PostgresLedger(database_url, lease=dt.timedelta(seconds=60), owner="b")
    a.migrate()
    try:
        first = a.claim(listing[:25])
        second = b.claim(listing)  # b lists everything while a holds its leases
        assert len(first) == 25 and len(second) == 15
        assert {v.uri for v in first}.isdisjoint({v.uri for v in second})
        for v in second:
            b.mark_done(v.uri, v.version, "sha", "ok", [f"art-{v.key}"], [])
        # a holds its leases until they run out; then b takes over a's share (a "died").
        assert b.claim(listing) == []
        time.sleep(1.5)
        taken_over = b.claim(listing)
        assert [v.uri for v in taken_over] == [v.uri for v in first]
        assert a.claim(listing) == []  # b's leases now
        for v in taken_over:
            b.mark_done(v.uri, v.version, "sha", "ok", [], [])
        time.sleep(1.5)
        assert a.claim(listing) == [] and b.claim(listing) == []  # done is done, leases or not
        assert len(a.done_versions()) == 40
        assert a.content_done(listing[0].uri, "sha") and not a.content_done(listing[0].uri, "other")
    finally:
        a.close()
        b.close()


def test_ingest_replicas_share_one_near_duplicate_index_and_checkpoints(database_url: str) -> None:
    a = PostgresLedger(database_url, lease=dt.timedelta(seconds=60), owner="a")
    b = PostgresLedger(database_url, lease=dt.timedelta(seconds=60), owner="b")
    a.migrate()
    try:
        index_a, index_b = NearDuplicateIndex(a), NearDuplicateIndex(b)
        index_a.add("wire", index_a.signature(WIRE))
        assert index_b.find(index_b.signature(WIRE + " The port did not comment.")) == "wire"  # at once
        index_b.add("prize", index_b.signature(PRIZE))
        index_a.add("wire", index_a.signature(PRIZE))  # the first signature of an id stands
        assert index_a.find(index_a.signature(PRIZE)) == "prize"
        assert [s.article_id for s in b.signatures_sharing(index_b.band_keys(index_b.signature(WIRE)), 0, 10)] == [
            "wire"
        ]
        strict = NearDuplicateIndex(b, threshold=0.95)  # another banding: b rebuilds the keys once
        assert b.band_scheme() == strict.scheme and a.band_scheme() == strict.scheme
        assert strict.find(strict.signature(WIRE)) == "wire"
        a.save_checkpoint("s3-listing", "drop/010.txt")
        assert b.checkpoint("s3-listing") == "drop/010.txt"
    finally:
        a.close()
        b.close()
