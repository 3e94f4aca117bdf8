-- Backfills (`newsflow reenrich`): the selection of a run is recorded before anything is published, so a
-- run that crashed resumes where it stopped, and the stored event of each article as it was when selected
-- is kept (`before`) so the diff report of a completed run can be computed from Postgres alone.
CREATE TABLE backfill_runs (
    run_id          text PRIMARY KEY,
    kind            text        NOT NULL CONSTRAINT backfill_runs_kind_check CHECK (kind IN ('reenrich')),
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
    published_at  timestamptz,
    PRIMARY KEY (run_id, position),
    UNIQUE (run_id, article_id)
);
CREATE INDEX backfill_items_pending_idx ON backfill_items (run_id, position) WHERE published_at IS NULL;
