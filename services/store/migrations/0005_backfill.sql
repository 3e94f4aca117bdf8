-- Backfills (`newsflow reenrich`, `newsflow reingest`): the selection of a run is recorded before anything is published, so a
-- run that crashed resumes where it stopped, and the stored event of each article as it was when selected
-- is kept (`before`) so the diff report of a completed run can be computed from Postgres alone.
CREATE TABLE backfill_runs (
    run_id          text PRIMARY KEY,
    kind            text        NOT NULL CONSTRAINT backfill_runs_kind_check CHECK (kind IN ('reenrich', 'reingest')),
    -- The options the run was started with (where_version_below, since, story, limit), for display.
    selection       jsonb       NOT NULL,
    target_version  text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    -- Set once the broker acknowledged every item: the run no longer resumes.
    published_at    timestamptz
);

CREATE TABLE backfill_items (
    run_id        text        NOT NULL REFERENCES backfill_runs (run_id) ON DELETE CASCADE,
    position      integer     NOT NULL,
    -- Not a foreign key: the diff report must still read a run whose article was since deleted.
    article_id    text        NOT NULL,
    before        jsonb       NOT NULL,
    -- Where the republished cleaned form landed (topic[partition]@offset), once acknowledged.
    published_to  text,
    -- When the item was handled: acknowledged by the broker, or skipped (see outcome).
    published_at  timestamptz,
    -- republished | same_id | new_id | source_gone | still_refused (the last two publish nothing).
    outcome       text,
    detail        text,
    -- reingest: the id of the re-extracted article when its body (so its id) changed.
    new_article_id text,
    PRIMARY KEY (run_id, position),
    UNIQUE (run_id, article_id)
);
CREATE INDEX backfill_items_pending_idx ON backfill_items (run_id, position) WHERE published_at IS NULL;

-- reingest: an article re-extracted by a better cleaner whose body changed has a new id; the old article
-- stays stored (nothing is lost) and is linked to the new one here.
CREATE TABLE article_links (
    old_article_id  text        NOT NULL,
    new_article_id  text        NOT NULL,
    run_id          text        NOT NULL REFERENCES backfill_runs (run_id) ON DELETE CASCADE,
    linked_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (old_article_id, new_article_id)
);
CREATE INDEX article_links_new_idx ON article_links (new_article_id);
