"""The ClickHouse schema (docs/design/clickhouse.md), written for clickhouse-server 18.16 on.

Every table is written once here as (columns, engine, order key, partition, shard key). On a
single node each is a plain table under its name. With a cluster, each node gets the table as
`<name>_local` and a Distributed table `<name>` over the cluster's `<name>_local` tables,
sharded by the shard key: environment and asset for records and rollups. Queries name only
`<name>`, so the same SQL runs on one node and on a cluster.

Old-server constraints: no Nullable in sort keys (keys use 0 / '' for "none"), no sub-second
DateTime (times are Int64 microseconds, hours Int32), no window functions, no multiple JOINs
in one SELECT (joins nest), no ON CLUSTER (needs ZooKeeper): DDL runs on every node.
"""

from __future__ import annotations

from dataclasses import dataclass

SCHEMA_VERSION = 1

MEASURES = (
    "delivered_us", "bytes", "requests", "egress_us", "egress_bytes",
    "egress_additional_us", "egress_additional_bytes",
)  # fmt: skip
#: usage_rolling: delivered µs of segments and parts of registered-or-not assets, in total and
#: per resolution tier (1..5), as the Mux query sums them.
ROLLING_MEASURES = ("total", "t1", "t2", "t3", "t4", "t5")
ROLLUP_KEY = ("env_key", "bucket", "asset_key", "live_stream_key", "tier", "live", "target_key")


@dataclass(frozen=True)
class Table:
    name: str
    columns: str
    engine: str
    order_by: str
    shard_by: str
    partition_by: str | None = None

    def local_ddl(self, name: str) -> str:
        partition = f" PARTITION BY {self.partition_by}" if self.partition_by else ""
        return (
            f"CREATE TABLE IF NOT EXISTS {name} ({self.columns}) ENGINE = {self.engine}"
            f"{partition} ORDER BY {self.order_by}"
        )


def _rollup(name: str, partition: str) -> Table:
    columns = (
        "env_key Int32, bucket Int32, asset_key Int64, live_stream_key Int64, tier Int8, "
        "live UInt8, target_key Int64, " + ", ".join(f"{m} Int64" for m in MEASURES)
    )
    return Table(
        name,
        columns,
        f"SummingMergeTree(({', '.join(MEASURES)}))",
        f"({', '.join(ROLLUP_KEY)})",
        "cityHash64(env_key, asset_key)",
        partition,
    )


CORE_TABLES: tuple[Table, ...] = (
    Table("meta", "key String, value String, version Int64",
          "ReplacingMergeTree(version)", "key", "cityHash64(key)"),
    Table("accounts", "account_id String, created_at Int64",
          "ReplacingMergeTree", "account_id", "cityHash64(account_id)"),
    Table("environments",
          "env_key Int32, environment_id String, name String, account_id String, "
          "created_at Int64",
          "MergeTree", "env_key", "env_key"),
    Table("tokens",
          "token_id String, env_key Int32, secret_sha256 String, scopes String, "
          "created_at Int64",
          "MergeTree", "token_id", "cityHash64(token_id)"),
    Table("token_revocations", "token_id String, revoked_at Int64",
          "MergeTree", "token_id", "cityHash64(token_id)"),
    # Integer keys of assets, live streams and targets: a hash of (env, kind, external id),
    # computed by the client, so no allocation (and no lock) is needed.
    Table("entity_keys",
          "env_key Int32, kind String, external_id String, entity_key Int64",
          "ReplacingMergeTree", "(env_key, kind, external_id)", "cityHash64(env_key)"),
    # Catalog: versions of each asset; the current one is the highest `version`.
    Table("assets",
          "env_key Int32, asset_key Int64, asset_id String, live_stream_id Nullable(String), "
          "live_stream_key Int64, passthrough Nullable(String), created_at Nullable(Int64), "
          "deleted_at Nullable(Int64), asset_state String, asset_duration Nullable(Float64), "
          "asset_resolution_tier String, asset_encoding_tier Nullable(String), "
          "asset_video_quality Nullable(String), updated_at Int64, version Int64",
          "ReplacingMergeTree(version)", "(env_key, asset_key)",
          "cityHash64(env_key, asset_key)"),
    Table("playback_ids",
          "env_key Int32, playback_id String, policy String, asset_key Int64, deleted UInt8, "
          "version Int64",
          "ReplacingMergeTree(version)", "(env_key, playback_id)",
          "cityHash64(env_key, playback_id)"),
    # A receipt row is the commit point of its import (docs/design/clickhouse.md).
    Table("receipts",
          "receipt_id String, env_key Int32, source String, name String, format String, "
          "content_sha256 String, root_sha256 String, parent_receipt_id Nullable(String), "
          "byte_size Int64, line_offset Int32, lines_read Int32, accepted Int32, "
          "duplicate Int32, rejected Int32, notes String, first_ts_us Nullable(Int64), "
          "last_ts_us Nullable(Int64), bytes_measure String, imported_at Int64",
          "MergeTree", "(env_key, receipt_id)", "env_key"),
    # Written once the rollups of a committed receipt are in (recovery finds the others).
    Table("receipts_rolled_up", "env_key Int32, receipt_id String, done_at Int64",
          "MergeTree", "(env_key, receipt_id)", "env_key"),
    # A catalog change that re-attributes usage: `done = 0` before its retraction, `done = 1`
    # after its re-assertion; one without `done = 1` is repaired by recomputing its environment.
    Table("catalog_changes", "env_key Int32, change_id String, done UInt8, at Int64",
          "MergeTree", "(env_key, change_id)", "env_key"),
    Table("quarantine",
          "receipt_id String, line_no Int32, reason String, raw String",
          "MergeTree", "(receipt_id, line_no)", "cityHash64(receipt_id)"),
    # The source of truth: every accepted record. Monthly partitions by request time.
    Table("records",
          "env_key Int32, receipt_id String, line_no Int32, request_id Nullable(String), "
          "ts_us Int64, hour Int32, asset_key Int64, playback_id Nullable(String), "
          "live_stream_key Int64, kind String, track String, tier_hint Nullable(Int8), "
          "duration_us Nullable(Int64), bytes Int64, method String, status Int16, "
          "body_bytes Nullable(Int64), object_bytes Nullable(Int64), "
          "session_id Nullable(String), earned_us Int64, media_us Int64, "
          "rendition_id Nullable(String), media_sequence Nullable(Int64), "
          "part_index Nullable(Int32), live UInt8, origin UInt8, client_ip Nullable(String), "
          "user_agent Nullable(String), target_key Int64, additional_target UInt8",
          "MergeTree", "(env_key, hour, asset_key)", "cityHash64(env_key, asset_key)",
          "toYYYYMM(toDateTime(intDiv(ts_us, 1000000), 'UTC'))"),
    _rollup("usage_minute", "toYYYYMM(toDateTime(toInt64(bucket) * 60, 'UTC'))"),
    _rollup("usage_hour", "toYYYYMM(toDateTime(toInt64(bucket) * 3600, 'UTC'))"),
    _rollup("usage_day", "toYYYYMM(toDateTime(toInt64(bucket) * 3600, 'UTC'))"),
    _rollup("usage_month", "toYear(toDateTime(toInt64(bucket) * 3600, 'UTC'))"),
)  # fmt: skip

# The URL index (store/clickhouse/index.py). Every registration writes its rows under one
# `version` (per environment, increasing, taken under its lock) and is visible once its
# `index_versions` row with `done = 1` exists; the current row of a key is the highest
# committed version (`ORDER BY version DESC LIMIT 1 BY key`), exact before merges.
INDEX_TABLES: tuple[Table, ...] = (
    Table("index_versions", "env_key Int32, version Int64, done UInt8",
          "MergeTree", "(env_key, version)", "env_key"),
    Table("index_renditions",
          "env_key Int32, asset_id String, rendition_id String, track String, "
          "width Nullable(Int32), height Nullable(Int32), bandwidth Nullable(Int64), "
          "iframe UInt8, updated_at Int64, version Int64",
          "ReplacingMergeTree(version)", "(env_key, asset_id, rendition_id)",
          "cityHash64(env_key, asset_id)"),
    # byte_start -1: the whole file. Sharded by path: a lookup's versions are on one shard.
    Table("index_objects",
          "env_key Int32, path String, byte_start Int64, asset_id String, "
          "rendition_id Nullable(String), kind String, duration_num Nullable(Int64), "
          "duration_den Nullable(Int64), byte_length Nullable(Int64), live UInt8, "
          "media_sequence Nullable(Int64), part_index Nullable(Int32), updated_at Int64, "
          "version Int64",
          "ReplacingMergeTree(version)", "(env_key, path, byte_start)",
          "cityHash64(env_key, path)"),
    Table("index_playlists",
          "env_key Int32, path String, asset_id String, rendition_id String, role String, "
          "version Int64",
          "ReplacingMergeTree(version)", "(env_key, path)", "cityHash64(env_key, path)"),
    # Ids from one sequence for the whole store (max + 1 under a global lock); a deleted
    # pattern keeps a row with `deleted = 1` (so its id is never given again).
    Table("url_patterns",
          "pattern_id Int64, env_key Int32, regex String, attributes String, "
          "created_at Int64, deleted UInt8",
          "ReplacingMergeTree(deleted)", "(env_key, pattern_id)", "env_key"),
)  # fmt: skip

# The Wowza family: accounts' settings, keys, delivery targets (store/clickhouse/wowza.py).
# Settings and targets are replaced by newer versions: the current row is the highest one.
WOWZA_TABLES: tuple[Table, ...] = (
    Table("account_settings",
          "account_id String, bill_anchor String, cycle_months Int32, updated_at Int64, "
          "version Int64",
          "ReplacingMergeTree(version)", "account_id", "cityHash64(account_id)"),
    Table("legacy_keys",
          "access_key String, api_key String, account_id String, created_at Int64",
          "MergeTree", "access_key", "cityHash64(access_key)"),
    # `seq`: the version that first added the target (the order targets are listed in);
    # hosts, cidrs, user_agents: JSON arrays of strings.
    Table("delivery_targets",
          "env_key Int32, target_id String, name String, is_primary UInt8, "
          "hosts String, cidrs String, user_agents String, "
          "created_at Int64, seq Int64, version Int64",
          "ReplacingMergeTree(version)", "(env_key, target_id)", "env_key"),
)  # fmt: skip

# Revisions and the change feed of the native usage API (store/clickhouse/usage.py).
USAGE_TABLES: tuple[Table, ...] = (
    # The revision counter: `done = 0` when a revision is taken (under the `revisions` lock),
    # `done = 1` once its hours are written. The next revision is above every row.
    Table("usage_revisions", "revision Int64, done UInt8, at Int64",
          "MergeTree", "revision", "revision"),
    # Versions of each hour's revision and fingerprint (groupBitXor of its rollup rows'
    # hashes); the current one is the highest revision.
    Table("hour_revisions",
          "env_key Int32, hour Int32, revision Int64, fingerprint UInt64, changed_at Int64",
          "ReplacingMergeTree(revision)", "(env_key, hour)", "env_key"),
    # A write that changes rollups of hours [lo_hour, hi_hour): `done = 0` before its rollups,
    # `done = 1` after its revisions; `recover` finishes the others.
    Table("revision_intents",
          "env_key Int32, intent_id String, lo_hour Int32, hi_hour Int32, done UInt8, at Int64",
          "MergeTree", "(env_key, intent_id)", "env_key"),
)  # fmt: skip

# The Mux query's rolling window (store/clickhouse/rolling.py): one total per asset (by tier)
# over the widest Mux window. Each position of the window is a generation `gen`; a
# generation's rows for an environment are complete once its `rolling_fills` row exists, and
# old generations are dropped by partition.
ROLLING_TABLES: tuple[Table, ...] = (
    Table("rolling_gens", "gen Int64, lo_hour Int32, hi_hour Int32, done UInt8, at Int64",
          "MergeTree", "gen", "gen"),
    Table("rolling_fills", "env_key Int32, gen Int64, lo_hour Int32, hi_hour Int32, at Int64",
          "MergeTree", "(env_key, gen)", "env_key", "gen"),
    Table("usage_rolling",
          "env_key Int32, gen Int64, asset_key Int64, "
          + ", ".join(f"{m} Int64" for m in ROLLING_MEASURES),
          f"SummingMergeTree(({', '.join(ROLLING_MEASURES)}))", "(env_key, gen, asset_key)",
          "cityHash64(env_key, asset_key)", "gen"),
)  # fmt: skip

TABLES = CORE_TABLES + INDEX_TABLES + WOWZA_TABLES + USAGE_TABLES + ROLLING_TABLES

ROLLUP_TABLES = ("usage_minute", "usage_hour", "usage_day", "usage_month")


def ddl(database: str, cluster: str | None) -> list[str]:
    """Statements that create the schema on one node (run them on every node of a cluster)."""
    statements = [f"CREATE DATABASE IF NOT EXISTS {database}"]
    for table in TABLES:
        if cluster is None:
            statements.append(table.local_ddl(f"{database}.{table.name}"))
            continue
        local = f"{database}.{table.name}_local"
        statements.append(table.local_ddl(local))
        statements.append(
            f"CREATE TABLE IF NOT EXISTS {database}.{table.name} AS {local} "
            f"ENGINE = Distributed({cluster}, {database}, {table.name}_local, {table.shard_by})"
        )
    return statements
