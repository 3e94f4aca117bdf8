-- Articles of an object version that a newer version of the same source (uri and record) replaced: the
-- rows are deleted from `articles`, and kept here so "has everything arrived" (newsflow run, dev) counts a
-- published article that was superseded as arrived.
CREATE TABLE superseded_articles (
    article_id     text PRIMARY KEY,
    superseded_by  text        NOT NULL,
    uri            text        NOT NULL,
    superseded_at  timestamptz NOT NULL DEFAULT now()
);
