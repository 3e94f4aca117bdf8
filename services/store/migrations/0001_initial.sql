-- newsflow store schema, version 1.
-- articles: one row per article_id; the enriched event is kept whole in `event` so exports read back
-- exactly the contract that was consumed, and the child tables make it queryable.

CREATE TABLE articles (
    article_id        text PRIMARY KEY,
    schema_version    integer     NOT NULL,
    title             text        NOT NULL,
    standfirst        text,
    body              text        NOT NULL,
    author            text,
    url               text,
    published_at      date,
    language          text,
    word_count        integer     NOT NULL,
    duplicate_of      text,
    story_id          text,
    enricher_version  text        NOT NULL,
    model             text        NOT NULL,
    ingested_at       timestamptz NOT NULL,
    enriched_at       timestamptz NOT NULL,
    stored_at         timestamptz NOT NULL DEFAULT now(),
    event             jsonb       NOT NULL
);
CREATE INDEX articles_story_id_idx ON articles (story_id);
CREATE INDEX articles_published_at_idx ON articles (published_at);

-- Exact duplicates collapse to one article; every object version that produced it is listed here.
CREATE TABLE article_sources (
    article_id  text    NOT NULL REFERENCES articles (article_id) ON DELETE CASCADE,
    uri         text    NOT NULL,
    version     text    NOT NULL,
    record      integer NOT NULL DEFAULT -1,
    format      text    NOT NULL,
    sha256      text    NOT NULL,
    PRIMARY KEY (article_id, uri, version, record)
);
CREATE INDEX article_sources_uri_idx ON article_sources (uri);

CREATE TABLE entities (
    article_id    text    NOT NULL REFERENCES articles (article_id) ON DELETE CASCADE,
    position      integer NOT NULL,
    text          text    NOT NULL,
    canonical     text    NOT NULL,
    canonical_id  text    NOT NULL,
    label         text    NOT NULL,
    count         integer NOT NULL,
    salience      real    NOT NULL,
    PRIMARY KEY (article_id, position)
);
CREATE INDEX entities_canonical_id_idx ON entities (canonical_id);

CREATE TABLE quotes (
    article_id  text    NOT NULL REFERENCES articles (article_id) ON DELETE CASCADE,
    position    integer NOT NULL,
    text        text    NOT NULL,
    speaker     text,
    speaker_id  text,
    kind        text    NOT NULL,
    confidence  real    NOT NULL,
    PRIMARY KEY (article_id, position)
);
CREATE INDEX quotes_speaker_id_idx ON quotes (speaker_id);

CREATE TABLE topics (
    article_id  text NOT NULL REFERENCES articles (article_id) ON DELETE CASCADE,
    code        text NOT NULL,
    label       text NOT NULL,
    score       real NOT NULL,
    PRIMARY KEY (article_id, code)
);
CREATE INDEX topics_code_idx ON topics (code);

-- Every dead letter of every stage, so operators can query what was refused and why.
CREATE TABLE dead_letters (
    dead_letter_id  text PRIMARY KEY,
    stage           text        NOT NULL,
    reason          text        NOT NULL,
    error           text        NOT NULL,
    article_id      text,
    source_uri      text,
    quarantine_uri  text,
    occurred_at     timestamptz NOT NULL,
    event           jsonb       NOT NULL
);
CREATE INDEX dead_letters_reason_idx ON dead_letters (reason);
CREATE INDEX dead_letters_article_id_idx ON dead_letters (article_id);
