-- ingest's ledger for deployments, shared by every ingest replica (services/ingest/postgres_ledger.py).
-- A row is an object version claimed by one replica for `lease_until`; `done_at` is set only after
-- everything it produced was acknowledged by Kafka. A replica that dies leaves its lease to expire and
-- another one claims the version.

CREATE TABLE ingest_objects (
    uri              text NOT NULL,
    version          text NOT NULL,
    owner            text NOT NULL,
    lease_until      timestamptz NOT NULL,
    sha256           text,
    outcome          text,
    article_ids      jsonb,
    dead_letter_ids  jsonb,
    done_at          timestamptz,
    PRIMARY KEY (uri, version)
);
CREATE INDEX ingest_objects_content_idx ON ingest_objects (uri, sha256) WHERE done_at IS NOT NULL;

-- Near-duplicate signatures of every published article; replicas read the new ones at each scan.
CREATE TABLE ingest_signatures (
    seq         bigserial UNIQUE,
    article_id  text PRIMARY KEY,
    signature   bytea NOT NULL,
    added_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ingest_checkpoints (
    name   text PRIMARY KEY,
    value  text NOT NULL
);
