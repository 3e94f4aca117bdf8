-- LSH band keys of each near-duplicate signature (services/ingest/dedup.py): a lookup reads only the
-- signatures that share a band key with the new article, so no replica holds the index in memory.
-- Filled for existing signatures by the first replica that starts with this banding (rebuild_bands).
-- Keyed by (band, seq): a lookup reads each band's earliest candidates from the index, never all of them
-- (a flood of near copies shares every band).
CREATE TABLE ingest_signature_bands (
    band_key    bigint NOT NULL,
    seq         bigint NOT NULL,  -- the signature's ingest_signatures.seq
    article_id  text NOT NULL,    -- no foreign key: a check per band row, and signatures are never deleted
    PRIMARY KEY (band_key, seq)
);
