-- Trace ids on stored rows (the newsflow-trace-id header: the same id from ingest to here), and the
-- redrive state of dead letters: `open` until `newsflow redrive` republished it once its cause was fixed.
ALTER TABLE articles ADD COLUMN trace_id text;

ALTER TABLE dead_letters ADD COLUMN trace_id text;
-- The newsflow-seen-at header (epoch ms), kept so a redriven event carries it on unchanged.
ALTER TABLE dead_letters ADD COLUMN seen_at_ms bigint;
ALTER TABLE dead_letters ADD COLUMN state text NOT NULL DEFAULT 'open'
    CONSTRAINT dead_letters_state_check CHECK (state IN ('open', 'redriven'));
ALTER TABLE dead_letters ADD COLUMN redriven_at timestamptz;
-- Where the redriven event went: topic[partition]@offset.
ALTER TABLE dead_letters ADD COLUMN redriven_to text;
CREATE INDEX dead_letters_open_idx ON dead_letters (stage, reason, occurred_at) WHERE state = 'open';
