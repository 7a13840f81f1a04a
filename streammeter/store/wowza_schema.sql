-- Wowza-compatible usage API (docs/api/wowza-usage.md): account settings, legacy key pairs,
-- delivery (stream) targets. Executed by DuckDBWowzaMixin._migrate_wowza after schema.sql.

-- Billing anchor per account: `last_bill_date` is the latest date anchor + k x cycle_months
-- (k any integer) on or before today; cycle_months 0 means the anchor date itself.
CREATE TABLE IF NOT EXISTS account_settings (
    account_id VARCHAR PRIMARY KEY,
    bill_anchor DATE,
    cycle_months INTEGER NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Wowza Streaming Cloud keys (accepted on /api/v1.8 only). The api key is kept in clear: it
-- is the HMAC key of `wsc-signature`.
CREATE TABLE IF NOT EXISTS legacy_keys (
    access_key VARCHAR PRIMARY KEY,
    api_key VARCHAR NOT NULL,
    account_id VARCHAR NOT NULL,
    created_at BIGINT NOT NULL
);

-- Delivery targets of an environment (Wowza "stream targets"). Rules tell origin pullers
-- apart: exact or wildcard host, client IP range, user-agent substring. One primary at most.
CREATE TABLE IF NOT EXISTS delivery_targets (
    env_key INTEGER NOT NULL,
    target_id VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    is_primary BOOLEAN NOT NULL,
    hosts VARCHAR[] NOT NULL,
    cidrs VARCHAR[] NOT NULL,
    user_agents VARCHAR[] NOT NULL,
    created_at BIGINT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (env_key, target_id)
);
