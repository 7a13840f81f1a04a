-- streammeter embedded store (DuckDB). Times are integer microseconds or hours since the epoch.
CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR);

CREATE TABLE IF NOT EXISTS accounts (
    account_id VARCHAR PRIMARY KEY,
    created_at BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS environments (
    env_key INTEGER PRIMARY KEY,
    environment_id VARCHAR NOT NULL UNIQUE,
    name VARCHAR NOT NULL,
    account_id VARCHAR NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS tokens (
    token_id VARCHAR PRIMARY KEY,
    env_key INTEGER NOT NULL,
    secret_sha256 VARCHAR NOT NULL,
    scopes VARCHAR NOT NULL,          -- comma-separated: read,ingest,admin
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

-- Integer keys for assets and live streams (known to the catalog or only seen in records).
CREATE SEQUENCE IF NOT EXISTS entity_key_seq START 1;
CREATE TABLE IF NOT EXISTS entity_keys (
    entity_key INTEGER PRIMARY KEY,
    env_key INTEGER NOT NULL,
    kind VARCHAR NOT NULL,            -- 'asset' | 'live_stream'
    external_id VARCHAR NOT NULL,
    UNIQUE (env_key, kind, external_id)
);

CREATE TABLE IF NOT EXISTS assets (
    asset_key INTEGER PRIMARY KEY,
    env_key INTEGER NOT NULL,
    asset_id VARCHAR NOT NULL,
    live_stream_id VARCHAR,
    live_stream_key INTEGER,
    passthrough VARCHAR,
    created_at BIGINT,
    deleted_at BIGINT,
    asset_state VARCHAR NOT NULL,
    asset_duration DOUBLE,
    asset_resolution_tier VARCHAR NOT NULL,
    asset_encoding_tier VARCHAR,
    asset_video_quality VARCHAR,
    updated_at BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS playback_ids (
    env_key INTEGER NOT NULL,
    playback_id VARCHAR NOT NULL,
    policy VARCHAR NOT NULL,
    asset_key INTEGER NOT NULL,
    PRIMARY KEY (env_key, playback_id)
);

CREATE TABLE IF NOT EXISTS receipts (
    receipt_id VARCHAR PRIMARY KEY,
    env_key INTEGER NOT NULL,
    source VARCHAR NOT NULL,          -- 'file' | 'batch'
    name VARCHAR NOT NULL,            -- path of a file, 'POST /v1/events' for a batch
    format VARCHAR NOT NULL,
    content_sha256 VARCHAR NOT NULL,  -- of the (decompressed) content imported so far
    root_sha256 VARCHAR NOT NULL,     -- identity of the lines: the first import of this file
    parent_receipt_id VARCHAR,        -- the earlier import this one continues (a grown file)
    byte_size BIGINT NOT NULL,
    line_offset INTEGER NOT NULL,     -- lines before this import (grown files)
    lines_read INTEGER NOT NULL,
    accepted INTEGER NOT NULL,
    duplicate INTEGER NOT NULL,
    rejected INTEGER NOT NULL,
    notes VARCHAR NOT NULL,           -- JSON object: reason -> count (unmapped, inferred tier...)
    first_ts_us BIGINT,
    last_ts_us BIGINT,
    bytes_measure VARCHAR NOT NULL,
    imported_at BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS quarantine (
    receipt_id VARCHAR NOT NULL,
    line_no INTEGER NOT NULL,
    reason VARCHAR NOT NULL,
    raw VARCHAR NOT NULL
);

-- The source of truth: every accepted record, with what it earned before attribution.
CREATE TABLE IF NOT EXISTS records (
    env_key INTEGER NOT NULL,
    receipt_id VARCHAR NOT NULL,
    line_no INTEGER NOT NULL,
    request_id VARCHAR,
    ts_us BIGINT NOT NULL,
    hour INTEGER NOT NULL,
    asset_key INTEGER,
    playback_id VARCHAR,
    live_stream_key INTEGER,
    kind VARCHAR NOT NULL,
    track VARCHAR NOT NULL,
    tier_hint TINYINT,
    duration_us BIGINT,
    bytes BIGINT NOT NULL,
    method VARCHAR NOT NULL,
    status SMALLINT NOT NULL,
    body_bytes BIGINT,
    object_bytes BIGINT,
    session_id VARCHAR,
    earned_us BIGINT NOT NULL,        -- what counts (after LL-HLS part/segment dedupe)
    media_us BIGINT NOT NULL,         -- d x f of this record alone
    rendition_id VARCHAR,
    media_sequence BIGINT,            -- LL-HLS: the segment number (a part's parent's)
    part_index INTEGER,               -- LL-HLS: part number within its segment; NULL = whole
    live BOOLEAN NOT NULL,            -- from a live playlist: resource 'transcoders'
    origin BOOLEAN NOT NULL,          -- an origin-log record: egress, not viewing
    client_ip VARCHAR,
    user_agent VARCHAR,
    target_key INTEGER,               -- delivery target (stream target) that served or pulled it
    additional_target BOOLEAN NOT NULL -- origin pull by a target other than the primary one
);

-- Every record's request id as a 64-bit key (DuckDB's hash()), with its instant: what the
-- request-id dedupe probes first, key matches then confirmed against records.request_id
-- (store/request_keys.py, docs/design/request-keys.md).
CREATE TABLE IF NOT EXISTS request_keys (
    env_key INTEGER NOT NULL,
    request_key UBIGINT NOT NULL,
    ts_us BIGINT NOT NULL
);

-- Rollups: append-only deltas, always read with SUM(...) GROUP BY. `bucket` is the first hour
-- of the bucket (an hour, a UTC day, a UTC calendar month). asset_key NULL = unmapped bytes.
-- delivered_us/bytes: viewing (edge records); egress_us/egress_bytes: origin-log records (all
-- targets); egress_additional_*: the part pulled by targets other than the primary one.
-- usage_minute (bucket = minutes since the epoch) is kept for the last 30 days (Wowza trends).
CREATE TABLE IF NOT EXISTS usage_hour (
    env_key INTEGER NOT NULL, bucket INTEGER NOT NULL, asset_key INTEGER,
    live_stream_key INTEGER, tier TINYINT NOT NULL, live BOOLEAN NOT NULL, target_key INTEGER,
    delivered_us BIGINT NOT NULL, bytes BIGINT NOT NULL, requests BIGINT NOT NULL,
    egress_us BIGINT NOT NULL, egress_bytes BIGINT NOT NULL,
    egress_additional_us BIGINT NOT NULL, egress_additional_bytes BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS usage_day (
    env_key INTEGER NOT NULL, bucket INTEGER NOT NULL, asset_key INTEGER,
    live_stream_key INTEGER, tier TINYINT NOT NULL, live BOOLEAN NOT NULL, target_key INTEGER,
    delivered_us BIGINT NOT NULL, bytes BIGINT NOT NULL, requests BIGINT NOT NULL,
    egress_us BIGINT NOT NULL, egress_bytes BIGINT NOT NULL,
    egress_additional_us BIGINT NOT NULL, egress_additional_bytes BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS usage_month (
    env_key INTEGER NOT NULL, bucket INTEGER NOT NULL, asset_key INTEGER,
    live_stream_key INTEGER, tier TINYINT NOT NULL, live BOOLEAN NOT NULL, target_key INTEGER,
    delivered_us BIGINT NOT NULL, bytes BIGINT NOT NULL, requests BIGINT NOT NULL,
    egress_us BIGINT NOT NULL, egress_bytes BIGINT NOT NULL,
    egress_additional_us BIGINT NOT NULL, egress_additional_bytes BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS usage_minute (
    env_key INTEGER NOT NULL, bucket INTEGER NOT NULL, asset_key INTEGER,
    live_stream_key INTEGER, tier TINYINT NOT NULL, live BOOLEAN NOT NULL, target_key INTEGER,
    delivered_us BIGINT NOT NULL, bytes BIGINT NOT NULL, requests BIGINT NOT NULL,
    egress_us BIGINT NOT NULL, egress_bytes BIGINT NOT NULL,
    egress_additional_us BIGINT NOT NULL, egress_additional_bytes BIGINT NOT NULL
);

-- Per-asset rollups read by the Mux delivery-usage query (docs/design/rollups.md): viewing
-- seconds of media tiers per (environment, bucket, asset), one column per tier, at day,
-- week (Monday 00:00 UTC) and month level. Append-only deltas, read with SUM like the others.
CREATE TABLE IF NOT EXISTS asset_usage_day (
    env_key INTEGER NOT NULL, bucket INTEGER NOT NULL, asset_key INTEGER NOT NULL,
    total_us BIGINT NOT NULL, t1_us BIGINT NOT NULL, t2_us BIGINT NOT NULL,
    t3_us BIGINT NOT NULL, t4_us BIGINT NOT NULL, t5_us BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS asset_usage_week (
    env_key INTEGER NOT NULL, bucket INTEGER NOT NULL, asset_key INTEGER NOT NULL,
    total_us BIGINT NOT NULL, t1_us BIGINT NOT NULL, t2_us BIGINT NOT NULL,
    t3_us BIGINT NOT NULL, t4_us BIGINT NOT NULL, t5_us BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS asset_usage_month (
    env_key INTEGER NOT NULL, bucket INTEGER NOT NULL, asset_key INTEGER NOT NULL,
    total_us BIGINT NOT NULL, t1_us BIGINT NOT NULL, t2_us BIGINT NOT NULL,
    t3_us BIGINT NOT NULL, t4_us BIGINT NOT NULL, t5_us BIGINT NOT NULL
);
-- The same per-asset sums over one interval of hours, `rolling_window` (the widest Mux window,
-- advanced hourly by the server: docs/design/rollups.md); `bucket` is always 0.
CREATE TABLE IF NOT EXISTS asset_usage_rolling (
    env_key INTEGER NOT NULL, bucket INTEGER NOT NULL, asset_key INTEGER NOT NULL,
    total_us BIGINT NOT NULL, t1_us BIGINT NOT NULL, t2_us BIGINT NOT NULL,
    t3_us BIGINT NOT NULL, t4_us BIGINT NOT NULL, t5_us BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS rolling_window (
    id INTEGER PRIMARY KEY, start_hour INTEGER NOT NULL, end_hour INTEGER NOT NULL
);
INSERT OR IGNORE INTO rolling_window VALUES (1, 0, 0);
