-- A story's date ranges beside its state, so the candidate queries apply the time gates
-- (services.enrich.stories.OpenWindow) without reading states: most stories sharing an entity with an
-- article of a long-running beat are months away. NULL where the state has none (a state of the
-- earliest format keeps NULLs: always a candidate, gated in Python as before).

ALTER TABLE story_states
    ADD COLUMN published_first date,
    ADD COLUMN published_last date,
    ADD COLUMN ingested_first date,
    ADD COLUMN ingested_last date;
UPDATE story_states SET
    published_first = (state::jsonb ->> 'published_first')::date,
    published_last = (state::jsonb ->> 'published_last')::date,
    ingested_first = (state::jsonb ->> 'ingested_first')::date,
    ingested_last = (state::jsonb ->> 'ingested_last')::date;
