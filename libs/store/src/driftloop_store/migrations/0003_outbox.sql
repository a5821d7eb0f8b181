-- The transactional outbox: events written in the same transaction as the rows they
-- announce. A service commits its rows and their events together, publishes after the
-- commit and then deletes the events; a crash in between leaves them here, and a later
-- sweep (claim_stale) publishes them. Delivery is at least once: consumers dedupe by
-- event id where it matters.
CREATE TABLE outbox (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    topic      text NOT NULL,
    key        bytea,
    payload    jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_created_at_idx ON outbox (created_at);
