from __future__ import annotations

import dataclasses
import datetime as dt
import multiprocessing
from pathlib import Path

import pytest

from services.enrich import stories as stories_module
from services.enrich.stories import (
    EVERY_STORY,
    InMemoryStoryStore,
    StoryFeatures,
    StoryState,
    StoryStateCache,
    _gated,
    echo_count,
    idf_function,
    latest_day,
    new_story,
    open_window,
    shingles,
    similarity,
)
from services.enrich.story_store import SqliteStoryStore


def feat(
    aid: str,
    day: dt.date | None,
    terms: dict[str, float],
    *,
    published: bool = True,
    dates: frozenset[str] = frozenset(),
    ents: frozenset[str] = frozenset({"person:sergi-lavrov", "person:wang-yi"}),
) -> StoryFeatures:
    return StoryFeatures(
        article_id=aid,
        day=day,
        day_is_published=published,
        years=frozenset(),
        event_dates=dates,
        entities=ents,
        places=frozenset({"place:china"}),
        terms={**terms, **{"ent:" + e: 1.0 for e in ents}},
    )


MEETING = {"talks": 2.0, "tunxi": 1.5, "afghanistan": 1.7, "neighbour": 1.0}
OTHER = {"talks": 1.0, "moscow": 1.5, "assembly": 1.2, "arctic": 1.0}


def test_an_article_twice_in_one_sqlite_batch_and_again_later_keeps_its_story(tmp_path: Path) -> None:
    """Issue 15: a batch reads its articles' recorded stories once, at its start; an article met again
    later in the same batch, or in a later batch (a redelivery), still gets the story it was given."""
    first = feat("m1", dt.date(2022, 3, 30), MEETING)
    other = feat("o1", dt.date(2022, 3, 30), OTHER, ents=frozenset({"person:ana-ruiz"}))
    with SqliteStoryStore(tmp_path / "stories.sqlite3") as store:
        decisions = store.assign_batch([first, other, first])
        assert decisions[2].story_id == decisions[0].story_id and decisions[2].joined
        assert store.assign_batch([other])[0].story_id == decisions[1].story_id
        assert store._conn.execute("SELECT count(*) FROM assignments").fetchone() == (2,)
        assert store._conn.execute("SELECT value FROM meta WHERE key = 'n_docs'").fetchone() == (2,)


def test_same_event_joins_and_other_event_founds_new_story() -> None:
    store = InMemoryStoryStore()
    a = store.assign(feat("a", dt.date(2022, 3, 30), MEETING))
    b = store.assign(feat("b", dt.date(2022, 3, 31), MEETING))
    c = store.assign(feat("c", dt.date(2022, 4, 2), OTHER, ents=frozenset({"person:ana-ruiz"})))
    assert a.story_id == "story-a" and not a.joined
    assert b.story_id == "story-a" and b.joined
    assert c.story_id == "story-c"


def test_publication_window_is_a_hard_gate() -> None:
    story = new_story(feat("a", dt.date(2022, 3, 30), MEETING), "story-a")
    idf = idf_function({}, 1)
    assert similarity(feat("b", dt.date(2022, 4, 5), MEETING), story, idf) is not None
    assert similarity(feat("b", dt.date(2023, 9, 18), MEETING), story, idf) is None


def test_conflicting_event_dates_lower_the_score() -> None:
    story = new_story(feat("a", dt.date(2022, 3, 30), MEETING, dates=frozenset({"03-30"})), "story-a")
    idf = idf_function({}, 1)
    same = similarity(feat("b", None, MEETING, dates=frozenset({"03-30"})), story, idf)
    other = similarity(feat("b", None, MEETING, dates=frozenset({"09-18"})), story, idf)
    assert same is not None and other is not None and same > other


def test_sqlite_store_survives_restart_and_is_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "stories.sqlite3"
    with SqliteStoryStore(path) as store:
        first = store.assign(feat("a", dt.date(2022, 3, 30), MEETING))
    with SqliteStoryStore(path) as store:
        again = store.assign(feat("a", dt.date(2022, 3, 30), MEETING))
        joined = store.assign(feat("b", dt.date(2022, 3, 31), MEETING))
        assert store.story_of("b") == "story-a"
    assert first.story_id == again.story_id == joined.story_id == "story-a"


def test_sqlite_matches_in_memory_decisions(tmp_path: Path) -> None:
    seq = [feat("a", dt.date(2022, 3, 30), MEETING), feat("c", dt.date(2022, 4, 2), OTHER)]
    seq.append(feat("b", dt.date(2022, 3, 31), MEETING))
    mem = InMemoryStoryStore()
    with SqliteStoryStore(tmp_path / "s.sqlite3") as sql:
        assert [mem.assign(f).story_id for f in seq] == [sql.assign(f).story_id for f in seq]


@pytest.mark.parametrize("batch", [1, 4])
def test_two_sqlite_processes_taking_turns_decide_as_one_store(tmp_path: Path, batch: int) -> None:
    """Each store caches candidate states and document frequencies; both stay exact when the other
    writes (states by version, frequencies by the changes since its watermark). In batches too (issue 15):
    a batch writes its frequencies once, at its end, and the articles later in it still see exact counts."""
    seq = [
        feat(f"{kind}{i}", dt.date(2022, 3, 30), terms, ents=ents)
        for i in range(6)
        for kind, terms, ents in (
            ("m", MEETING, frozenset({"person:sergi-lavrov", "person:wang-yi"})),
            ("o", OTHER, frozenset({"person:ana-ruiz"})),
        )
    ]
    mem = InMemoryStoryStore()
    expected = [mem.assign(f).story_id for f in seq]
    path = tmp_path / "turns.sqlite3"
    with SqliteStoryStore(path) as a, SqliteStoryStore(path) as b:
        got: list[str] = []
        for n, start in enumerate(range(0, len(seq), batch)):
            got += [d.story_id for d in (a if n % 2 else b).assign_batch(seq[start : start + batch])]
        terms = set(mem.doc_freq_counts) | {"never-seen"}
        for store in (a, b):
            store._conn.execute("BEGIN")
            frequencies, n_docs = store.doc_freq(terms)
            store._conn.execute("COMMIT")
            assert {t: frequencies.get(t, 0) for t in terms} == {t: mem.doc_freq_counts[t] for t in terms}
            assert n_docs == mem.n_docs
        rows = dict(a._conn.execute("SELECT term, df FROM doc_freq").fetchall())
        assert rows == {t: n for t, n in mem.doc_freq_counts.items() if n}
    assert got == expected


def test_sqlite_files_without_the_frequency_sequence_are_upgraded(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old-df.sqlite3"
    with sqlite3.connect(path) as old:
        old.execute("CREATE TABLE doc_freq (term TEXT PRIMARY KEY, df INTEGER NOT NULL) WITHOUT ROWID")
        old.execute("INSERT INTO doc_freq VALUES ('talks', 3)")
    with SqliteStoryStore(path) as store:
        store.assign(feat("a", dt.date(2022, 3, 30), MEETING))
        row = store._conn.execute("SELECT df, seq FROM doc_freq WHERE term = 'talks'").fetchone()
    assert row == (4, 1)


def _worker(path: str, aid: str) -> str:
    with SqliteStoryStore(path) as store:
        return store.assign(feat(aid, dt.date(2022, 3, 30), MEETING)).story_id


def test_two_processes_share_one_story(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.sqlite3")
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        ids = pool.starmap(_worker, [(path, "p1"), (path, "p2")])
    # Whichever process commits first founds the story; the other must join it, not found a second.
    assert ids[0] == ids[1] and ids[0] in ("story-p1", "story-p2")


def _undated(aid: str, terms: dict[str, float], dates: frozenset[str]) -> StoryFeatures:
    f = feat(aid, dt.date(2026, 1, 1), terms, published=False, dates=dates)
    return dataclasses.replace(f, years=frozenset({2022}))


def test_publication_date_against_an_undated_story_uses_mentioned_dates() -> None:
    # Ingested in 2026, mentions "March 30 and 31, 2022": a report published 2022-03-31 is not gated
    # by the ingestion date, and a matching mentioned date helps while a far one counts strongly against.
    story = new_story(_undated("a", MEETING, frozenset({"03-30", "03-31"})), "story-a")
    idf = idf_function({}, 1)
    match = similarity(feat("b", dt.date(2022, 3, 31), MEETING), story, idf)
    plain = similarity(
        feat("b", dt.date(2022, 3, 31), MEETING), new_story(_undated("a", MEETING, frozenset()), "s"), idf
    )
    far = similarity(feat("b", dt.date(2022, 5, 10), MEETING), story, idf)
    assert match is not None and plain is not None and far is not None
    assert match > plain > far and plain - far >= 0.2


def test_ingestion_date_gates_only_a_proven_gap() -> None:
    story = new_story(_undated("a", MEETING, frozenset()), "story-a")  # ingested 2026-01-01
    idf = idf_function({}, 1)
    assert similarity(feat("b", dt.date(2025, 6, 1), MEETING), story, idf) is not None
    assert similarity(feat("b", dt.date(2026, 3, 1), MEETING), story, idf) is None


def test_quote_echo_counts_both_directions() -> None:
    quote = "we will move together towards a multipolar and democratic world order"
    quoted = dataclasses.replace(feat("a", None, MEETING), quote_shingles=frozenset(shingles(quote)))
    quoted = dataclasses.replace(quoted, text_shingles=quoted.quote_shingles)
    plain = dataclasses.replace(feat("b", None, MEETING), text_shingles=frozenset(shingles("He said " + quote)))
    story = new_story(quoted, "story-a")
    assert echo_count(plain, story, 0) == len(shingles(quote))
    # The other way round the store supplies the hits from its shingle index.
    mem = InMemoryStoryStore()
    mem.assign(plain)
    assert mem.scores(quoted)["story-b"] is not None
    assert mem._quote_hits(quoted)["story-b"] == len(shingles(quote))


def test_sqlite_reads_states_of_the_earlier_format(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with SqliteStoryStore(path) as store:
        old = (
            '{"first_day":"2022-03-30","last_day":"2022-03-31","days_published":true,"n_articles":2,'
            '"years":[],"event_dates":[],"entities":{"person:wang-yi":2},"places":{},"terms":{"talks":2.0},'
            '"quote_shingles":["move together with"]}'
        )
        store._conn.execute("INSERT INTO stories (story_id, seq, state) VALUES ('story-old', 1, ?)", (old,))
        store._conn.execute("INSERT INTO story_keys (key, story_id) VALUES ('person:wang-yi', 'story-old')")
        x = feat("x", dt.date(2022, 3, 30), MEETING)
        state = store.recent_states(store.stories_with_keys(x.entities | x.places, open_window(x)), 10)[0]
    assert (state.published_first, state.published_last) == (dt.date(2022, 3, 30), dt.date(2022, 3, 31))
    assert state.ingested_first is None and state.quote_shingles == set()


def test_a_state_cache_smaller_than_the_candidates_still_decides_as_in_memory(tmp_path: Path) -> None:
    """Eviction happens before candidates are read, never while the cache is filled with them: a clear
    there would drop a candidate reported fresh, and reading it would fail."""
    # Eight unrelated stories sharing one place (so each is a candidate of every later article), then
    # an article that joins the first.
    seq = [
        feat(f"s{i}", dt.date(2022, 3, 30), {f"topic{i}": 2.0, f"detail{i}": 1.5}, ents=frozenset({f"person:p{i}"}))
        for i in range(8)
    ]
    seq.append(feat("again", dt.date(2022, 3, 31), {"topic0": 2.0, "detail0": 1.5}, ents=frozenset({"person:p0"})))
    mem = InMemoryStoryStore()
    expected = [mem.assign(f).story_id for f in seq]
    assert expected[-1] == "story-s0" and len(set(expected)) == 8
    with SqliteStoryStore(tmp_path / "small.sqlite3") as sql:
        sql._cache = StoryStateCache(max_states=3)
        assert [d.story_id for d in sql.assign_batch(seq[:4])] == expected[:4]
        assert [d.story_id for d in sql.assign_batch(seq[4:])] == expected[4:]


def test_sqlite_files_with_shingles_under_story_ids_are_upgraded(tmp_path: Path) -> None:
    """A file of the layout before story numbers: its text 4-grams still find their story, and stories
    founded afterwards are numbered past the old ones."""
    import sqlite3

    quote = "we will move together towards a multipolar and democratic world order"
    path = tmp_path / "old-shingles.sqlite3"
    with sqlite3.connect(path) as old:
        old.execute("CREATE TABLE stories (story_id TEXT PRIMARY KEY, seq INTEGER NOT NULL, state TEXT NOT NULL)")
        old.execute(
            "CREATE TABLE story_shingles (shingle INTEGER NOT NULL, story_id TEXT NOT NULL,"
            " PRIMARY KEY (shingle, story_id)) WITHOUT ROWID"
        )
        old.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID")
        for n, story_id in enumerate(("story-first", "story-echoed"), start=1):
            state = '{"n_articles":1,"years":[],"event_dates":[],"entities":{},"places":{},"terms":{"talks":1.0}}'
            old.execute("INSERT INTO stories VALUES (?, ?, ?)", (story_id, n, state))
        old.executemany("INSERT INTO story_shingles VALUES (?, 'story-echoed')", [(h,) for h in shingles(quote)])
        old.execute("INSERT INTO meta VALUES ('seq', 2), ('n_docs', 2)")
    with SqliteStoryStore(path) as store:
        assert store.quote_hits(frozenset(shingles(quote)), EVERY_STORY) == {"story-echoed": len(shingles(quote))}
        store.assign(feat("new", dt.date(2022, 3, 30), OTHER, ents=frozenset({"person:nobody"})))
        numbers = dict(store._conn.execute("SELECT story_id, n FROM stories").fetchall())
        tables = {r[0] for r in store._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert numbers["story-new"] > max(numbers["story-first"], numbers["story-echoed"])
    assert len(set(numbers.values())) == 3
    assert "story_shingles" not in tables


def _story_with_ranges(published: tuple[int, int] | None, ingested: tuple[int, int] | None) -> StoryState:
    base = dt.date(2022, 3, 1)

    def day(n: int | None) -> dt.date | None:
        return None if n is None else base + dt.timedelta(days=n)

    p, i = published or (None, None), ingested or (None, None)
    return StoryState("story-x", day(p[0]), day(p[1]), day(i[0]), day(i[1]), n_articles=1)


def test_the_window_a_store_queries_with_admits_exactly_the_stories_not_gated() -> None:
    """Issue 15: the stores apply the time gates in their candidate queries (OpenWindow); it must admit
    exactly what ``_gated`` lets through, or a store would drop a story the scoring would have joined."""
    spans = [None] + [(a, b) for a in range(0, 100, 9) for b in range(a, 100, 13)]
    states = [_story_with_ranges(p, i) for p in spans for i in spans[::3]]
    checked = 0
    for offset in range(-60, 160, 7):
        for published in (True, False):
            f = feat("a", dt.date(2022, 3, 1) + dt.timedelta(days=offset), MEETING, published=published)
            window = open_window(f)
            for s in states:
                assert window.admits(s) == (not _gated(f, s)), (f.day, published, s)
                last = latest_day(s)
                if window.admits(s) and last is not None:  # the indexed bound never drops an open story
                    assert last >= window.latest_at_least
                checked += 1
    assert checked > 50_000
    undated = feat("u", None, MEETING)
    assert all(open_window(undated).admits(s) for s in states)


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_the_candidate_limit_counts_only_stories_in_the_time_window(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A story sharing an entity but months away must not take a candidate place from an open one: with
    room for one candidate, an article still joins its event's story although a later-updated story of
    the same people, half a year earlier, shares its keys."""
    monkeypatch.setattr(stories_module, "MAX_CANDIDATES", 1)
    event = feat("m1", dt.date(2022, 3, 30), MEETING)
    months_earlier = feat("old", dt.date(2021, 9, 1), OTHER)
    again = feat("m2", dt.date(2022, 3, 31), MEETING)
    store = InMemoryStoryStore() if kind == "memory" else SqliteStoryStore(tmp_path / "stories.sqlite3")
    decisions = [store.assign(f) for f in (event, months_earlier, again)]
    assert [d.story_id for d in decisions] == ["story-m1", "story-old", "story-m1"]
    assert decisions[2].joined


def test_sqlite_files_without_story_date_columns_are_upgraded(tmp_path: Path) -> None:
    """A file written before the date columns (stories' ranges, story_keys' last day): they are filled
    from the states, so its stories are still found in their window and not outside it."""
    import sqlite3

    path = tmp_path / "no-dates.sqlite3"
    with SqliteStoryStore(path) as store:
        store.assign(feat("m1", dt.date(2022, 3, 30), MEETING))
    with sqlite3.connect(path) as old:  # back to the layout before them
        old.execute("DROP INDEX stories_window_by_id")
        old.execute("DROP INDEX stories_window_by_n")
        old.execute("DROP INDEX story_keys_by_day")
        old.execute("ALTER TABLE story_keys DROP COLUMN last_day")
        for column in ("published_first", "published_last", "ingested_first", "ingested_last"):
            old.execute(f"ALTER TABLE stories DROP COLUMN {column}")
    with SqliteStoryStore(path) as store:
        row = store._conn.execute("SELECT published_first, published_last, ingested_last FROM stories").fetchone()
        near = feat("m2", dt.date(2022, 4, 2), MEETING)
        far = feat("m3", dt.date(2022, 6, 2), MEETING)
        keys = near.entities | near.places
        assert row == ("2022-03-30", "2022-03-30", None)
        assert store._conn.execute("SELECT DISTINCT last_day FROM story_keys").fetchall() == [("2022-03-30",)]
        assert store.stories_with_keys(keys, open_window(near)) == {"story-m1"}
        assert store.stories_with_keys(keys, open_window(far)) == set()
        assert store.assign(near).story_id == "story-m1"


def test_a_member_that_moves_a_storys_latest_date_moves_its_indexed_keys(tmp_path: Path) -> None:
    """story_keys keeps each story's latest date beside its keys for the window's index range; a member
    that extends the story must update it, or a later article in reach of that member only (not of the
    founder) would not find the story by its keys."""
    founder = feat("m1", dt.date(2022, 3, 1), MEETING)
    later = feat("m2", dt.date(2022, 3, 6), MEETING)
    latest = feat("m3", dt.date(2022, 3, 12), MEETING)  # 11 days after the founder, 6 after m2
    with SqliteStoryStore(tmp_path / "stories.sqlite3") as store:
        assert [store.assign(f).story_id for f in (founder, later, latest)] == ["story-m1"] * 3
        days = store._conn.execute("SELECT DISTINCT last_day FROM story_keys").fetchall()
    assert days == [("2022-03-12",)]
