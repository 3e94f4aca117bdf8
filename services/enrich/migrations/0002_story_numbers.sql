-- Every story gets a number, and its text 4-grams are indexed under it instead of its text id: about 800
-- rows an article, so a bigint in place of a 38-byte id makes the index (and every batch's writes) a
-- fraction of the size (bench/results/story_state.md).

CREATE SEQUENCE story_number_seq;
ALTER TABLE story_states ADD COLUMN n bigint;
UPDATE story_states SET n = nextval('story_number_seq');
ALTER TABLE story_states ALTER COLUMN n SET DEFAULT nextval('story_number_seq'), ALTER COLUMN n SET NOT NULL;
CREATE UNIQUE INDEX story_states_n_idx ON story_states (n);

CREATE TABLE story_text_shingles (
    shingle  bigint NOT NULL,
    story    bigint NOT NULL,  -- story_states.n
    PRIMARY KEY (shingle, story)
);
CREATE INDEX story_text_shingles_story_idx ON story_text_shingles (story);
INSERT INTO story_text_shingles (shingle, story)
    SELECT sh.shingle, st.n FROM story_shingles sh JOIN story_states st USING (story_id)
    ON CONFLICT DO NOTHING;
DROP TABLE story_shingles;
