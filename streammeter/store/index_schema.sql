-- The index (counting.md 1, docs/index.md): URL path -> asset, rendition, object kind, media
-- duration, byte range, live/VOD. Built from registered manifests; URL patterns beside it.
CREATE TABLE IF NOT EXISTS index_renditions (
    env_key INTEGER NOT NULL,
    asset_id VARCHAR NOT NULL,
    rendition_id VARCHAR NOT NULL,    -- HLS: media playlist path; DASH: AdaptationSet/Representation
    track VARCHAR NOT NULL,           -- 'video' | 'audio' | 'audio-only'
    width INTEGER,
    height INTEGER,
    bandwidth BIGINT,
    iframe BOOLEAN NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (env_key, asset_id, rendition_id)
);

CREATE TABLE IF NOT EXISTS index_objects (
    env_key INTEGER NOT NULL,
    path VARCHAR NOT NULL,            -- as the CDN logs it: absolute, no query, percent-decoded
    byte_start BIGINT NOT NULL,       -- -1 = the whole file (IndexObject.byte_start None)
    asset_id VARCHAR NOT NULL,
    rendition_id VARCHAR,
    kind VARCHAR NOT NULL,            -- segment | part | init | manifest | key | subtitle | ...
    duration_num BIGINT,              -- exact media seconds = duration_num / duration_den
    duration_den BIGINT,
    byte_length BIGINT,
    live BOOLEAN NOT NULL,
    media_sequence BIGINT,
    part_index INTEGER,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (env_key, path, byte_start)
);

-- Media playlists a master references, so one registered later by URL gets its role.
CREATE TABLE IF NOT EXISTS index_playlists (
    env_key INTEGER NOT NULL,
    path VARCHAR NOT NULL,
    asset_id VARCHAR NOT NULL,
    rendition_id VARCHAR NOT NULL,
    role VARCHAR NOT NULL,            -- 'media' | 'iframe' | 'subtitle' | 'thumbnail'
    PRIMARY KEY (env_key, path)
);

CREATE SEQUENCE IF NOT EXISTS url_pattern_seq START 1;
CREATE TABLE IF NOT EXISTS url_patterns (
    pattern_id INTEGER PRIMARY KEY,
    env_key INTEGER NOT NULL,
    regex VARCHAR NOT NULL,
    attributes VARCHAR NOT NULL,      -- JSON object of fixed attributes
    created_at BIGINT NOT NULL
);
