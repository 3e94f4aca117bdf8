-- newsflow store schema, version 2: entities across articles.
-- entity_aliases: every form an entity is written in, per article (names, spellings, short forms such as
--   "US"/"United States", "Lavrov"/"Sergei Lavrov"/"Sergey Lavrov"), with how often and whether the article
--   chose it as the entity's name. Rows go with their article, so re-storing an article never counts twice.
-- canonical_entities: one row per canonical_id with the name every article shares: the most frequent
--   full form over all stored articles (see README, "Entities across articles"). The store keeps
--   entities.canonical equal to it, so grouping by id or by name gives the same answer.

CREATE TABLE entity_aliases (
    article_id    text    NOT NULL REFERENCES articles (article_id) ON DELETE CASCADE,
    canonical_id  text    NOT NULL,
    alias         text    NOT NULL,
    mentions      integer NOT NULL,
    is_canonical  boolean NOT NULL,
    PRIMARY KEY (canonical_id, alias, article_id)
);
CREATE INDEX entity_aliases_article_id_idx ON entity_aliases (article_id);
CREATE INDEX entity_aliases_alias_idx ON entity_aliases (lower(alias));

CREATE TABLE canonical_entities (
    canonical_id  text PRIMARY KEY,
    name          text        NOT NULL,
    label         text        NOT NULL,
    articles      integer     NOT NULL,
    mentions      integer     NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX canonical_entities_name_idx ON canonical_entities (name);

-- Entities stored before this migration: their article-level name and most frequent surface are aliases.
INSERT INTO entity_aliases (article_id, canonical_id, alias, mentions, is_canonical)
SELECT article_id, canonical_id, alias, max(mentions), bool_or(is_canonical)
FROM (
    SELECT article_id, canonical_id, canonical AS alias, count AS mentions, true AS is_canonical FROM entities
    UNION ALL
    SELECT article_id, canonical_id, text, count, false FROM entities
) AS forms
GROUP BY article_id, canonical_id, alias;

-- The one place the shared name is chosen, for the ids a write touched (the store calls it once per batch,
-- under an advisory lock, after the batch's entities and aliases are in). A name is a "full form" when it
-- has several words or is not all capitals ("United States" over "US", "Sergey Lavrov" over "LAVROV");
-- among full forms the one most articles chose as the entity's name wins, then more words, more mentions,
-- and the alphabetically first, so every store process picks the same one.
CREATE FUNCTION refresh_canonical_entities(ids text[]) RETURNS void LANGUAGE sql AS $$
    DELETE FROM canonical_entities c
    WHERE c.canonical_id = ANY(ids) AND NOT EXISTS (SELECT 1 FROM entities e WHERE e.canonical_id = c.canonical_id);

    INSERT INTO canonical_entities AS c (canonical_id, name, label, articles, mentions)
    SELECT s.canonical_id, n.alias, s.label, s.articles, s.mentions
    FROM (
        SELECT canonical_id, mode() WITHIN GROUP (ORDER BY label) AS label, count(*)::integer AS articles,
            sum(count)::integer AS mentions
        FROM entities WHERE canonical_id = ANY(ids) GROUP BY canonical_id
    ) AS s
    CROSS JOIN LATERAL (
        SELECT a.alias FROM entity_aliases a WHERE a.canonical_id = s.canonical_id
        GROUP BY a.alias
        ORDER BY (a.alias ~ '\s' OR a.alias <> upper(a.alias)) DESC,
            count(*) FILTER (WHERE a.is_canonical) DESC,
            array_length(regexp_split_to_array(a.alias, '\s+'), 1) DESC,
            sum(a.mentions) DESC,
            a.alias COLLATE "C"
        LIMIT 1
    ) AS n
    ON CONFLICT (canonical_id) DO UPDATE SET
        name = EXCLUDED.name, label = EXCLUDED.label, articles = EXCLUDED.articles, mentions = EXCLUDED.mentions,
        updated_at = CASE WHEN c.name = EXCLUDED.name AND c.label = EXCLUDED.label THEN c.updated_at ELSE now() END;

    UPDATE entities e SET canonical = c.name
    FROM canonical_entities c
    WHERE c.canonical_id = ANY(ids) AND e.canonical_id = c.canonical_id AND e.canonical <> c.name;
$$;

SELECT refresh_canonical_entities(array_agg(DISTINCT canonical_id)) FROM entities;
