-- enrich's story state, shared by every enrich replica on any host (services/enrich/postgres_story_store.py).
-- Written only under the advisory lock of an assignment, so reads inside it see a consistent state.
-- No foreign keys: prune deletes a story's keys, shingles and assignments with it, in one statement.

CREATE TABLE story_states (
    story_id    text PRIMARY KEY,
    seq         bigint      NOT NULL,  -- from story_seq at each update: candidates are ranked by it
    state       text        NOT NULL,  -- services.enrich.stories.state_to_json
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX story_states_updated_at_idx ON story_states (updated_at);
CREATE SEQUENCE story_seq;

CREATE TABLE story_keys (
    key       text NOT NULL,
    story_id  text NOT NULL,
    PRIMARY KEY (key, story_id)
);
CREATE INDEX story_keys_story_id_idx ON story_keys (story_id);

CREATE TABLE story_shingles (
    shingle   bigint NOT NULL,
    story_id  text   NOT NULL,
    PRIMARY KEY (shingle, story_id)
);
CREATE INDEX story_shingles_story_id_idx ON story_shingles (story_id);

-- A redelivered article gets its recorded story back; pruned with its story.
CREATE TABLE story_assignments (
    article_id  text PRIMARY KEY,
    story_id    text NOT NULL
);
CREATE INDEX story_assignments_story_id_idx ON story_assignments (story_id);

-- Document frequencies over every article ever assigned (IDF), and the number of those articles.
-- `seq` (from story_doc_freq_seq at each change) lets replicas read only what changed since they last looked.
CREATE TABLE story_doc_freq (
    term  text PRIMARY KEY,
    df    bigint NOT NULL,
    seq   bigint NOT NULL
);
CREATE INDEX story_doc_freq_seq_idx ON story_doc_freq (seq);
CREATE SEQUENCE story_doc_freq_seq;
CREATE TABLE story_counters (
    name   text PRIMARY KEY,
    value  bigint NOT NULL
);
INSERT INTO story_counters (name, value) VALUES ('n_docs', 0);
