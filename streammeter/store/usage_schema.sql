-- Native usage API: revisions of hours (counting.md 8, docs/api/usage.md).
-- One global counter; a write transaction that changes the numbers of any hour takes the next
-- value (once per transaction: `txn` names the transaction that took it).
CREATE TABLE IF NOT EXISTS usage_revision (
    id INTEGER NOT NULL,              -- always 1
    revision BIGINT NOT NULL,
    txn VARCHAR NOT NULL
);
-- Per (environment, hour): the revision at which its numbers last changed, and a fingerprint of
-- its usage_hour rows (so a rebuild or a no-op re-attribution that gives identical numbers does
-- not bump it). base_* is the state before transaction `txn` (undo within one transaction).
CREATE TABLE IF NOT EXISTS usage_hour_revisions (
    env_key INTEGER NOT NULL,
    hour INTEGER NOT NULL,
    revision BIGINT NOT NULL,
    fingerprint VARCHAR NOT NULL,
    base_revision BIGINT,
    base_fingerprint VARCHAR,
    txn VARCHAR NOT NULL,
    changed_at BIGINT NOT NULL        -- service clock, microseconds
);
