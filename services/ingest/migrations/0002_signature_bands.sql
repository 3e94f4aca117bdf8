-- LSH band keys of each near-duplicate signature (services/ingest/dedup.py): a lookup reads only the
-- signatures that share a band key with the new article, so no replica holds the index in memory.
-- Filled for existing signatures by the first replica that starts with this banding (rebuild_bands).
CREATE TABLE ingest_signature_bands (
    band_key    bigint NOT NULL,
    article_id  text NOT NULL,  -- no foreign key: a check per band row, and signatures are never deleted
    PRIMARY KEY (band_key, article_id)
);
