"""Attribution and rollup SQL for ClickHouse: the same rules as store/attribution.py (which is
the DuckDB text), written in the dialect of clickhouse-server 18.16 and later.

Joins nest (one JOIN per SELECT on old servers) and every join's left side is a subquery, so
on a cluster the reads of Distributed tables are distributed and the join runs where the
query was sent. Keys use 0 for "none" (sort keys cannot be Nullable on old servers).
"""

from __future__ import annotations

from streammeter.model.times import now_us
from streammeter.store.attribution import MINUTE_RETENTION_DAYS
from streammeter.store.clickhouse.schema import MEASURES, ROLLUP_KEY

LEVELS: dict[str, str] = {
    "usage_minute": "toInt32(intDiv(ts_us, 60000000))",
    "usage_hour": "hour",
    "usage_day": "intDiv(hour, 24) * 24",
    "usage_month": (
        "toInt32(intDiv(toUInt32(toDateTime(toStartOfMonth("
        "toDateTime(toInt64(hour) * 3600, 'UTC')), 'UTC')), 3600))"
    ),
}

# Current catalog: the highest version of each key (exact before and after merges).
CURRENT_ASSETS = (
    "SELECT * FROM assets WHERE env_key IN %(envs)s "
    "ORDER BY version DESC LIMIT 1 BY env_key, asset_key"
)
CURRENT_PLAYBACK = (
    "SELECT env_key, playback_id, policy, asset_key FROM ("
    " SELECT env_key, playback_id, policy, asset_key, deleted FROM playback_ids"
    " WHERE env_key IN %(envs)s ORDER BY version DESC LIMIT 1 BY env_key, playback_id"
    ") WHERE deleted = 0"
)
# Records count only once their import committed (its receipt row exists).
COMMITTED = "receipt_id GLOBAL IN (SELECT receipt_id FROM receipts WHERE env_key IN %(envs)s)"

_TIER_OF_RESOLUTION = (
    "multiIf(a_tier = '720p', 1, a_tier = '1080p', 2, a_tier = '1440p', 3, "
    "a_tier = '2160p', 4, a_tier = 'audio-only', 5, 0)"
)


def attributed_sql(where: str, carry: tuple[str, ...] = ()) -> str:
    """SELECT of (env_key, hour, ts_us, target_key, additional_target, asset_key,
    live_stream_key, tier, live, seconds_us, bytes, origin) over the records matching `where`
    (committed ones only). Parameter `envs`: the environments involved. `carry`: record
    columns passed through unchanged as `carried_<name>` (explain: receipt and line)."""
    picked = "".join(f", {name} AS carried_{name}" for name in carry)
    passed = "".join(f", carried_{name}" for name in carry)
    records = (
        "SELECT env_key, hour, ts_us, target_key, additional_target, asset_key, "
        "live_stream_key AS rec_live_stream_key, ifNull(playback_id, '') AS pb_id, kind, "
        f"track, tier_hint, live, earned_us, bytes, origin{picked} "
        f"FROM records WHERE env_key IN %(envs)s AND ({where}) AND {COMMITTED}"
    )
    with_playback = f"""
        SELECT env_key, hour, ts_us, target_key, additional_target, rec_live_stream_key,
               kind, track, tier_hint, live, earned_us, bytes, origin{passed},
               if(asset_key != 0, asset_key, pb_asset_key) AS eff_asset_key
        FROM ({records}) AS r
        ANY LEFT JOIN (
            SELECT env_key, playback_id AS pb_id, asset_key AS pb_asset_key
            FROM ({CURRENT_PLAYBACK})
        ) AS pb USING (env_key, pb_id)
    """
    return f"""
        SELECT env_key, hour, ts_us, target_key, additional_target,
               eff_asset_key AS asset_key,
               if(a_live_stream_key != 0, a_live_stream_key, rec_live_stream_key)
                   AS live_stream_key,
               toInt8(multiIf(
                   kind NOT IN ('segment', 'part'), 0,
                   track = 'audio-only', 5,
                   track = 'audio' AND a_tier = 'audio-only', 5,
                   track = 'audio', 0,
                   ifNull(tier_hint, {_TIER_OF_RESOLUTION}))) AS tier,
               live,
               if(track = 'audio' AND a_tier != 'audio-only', 0, earned_us) AS seconds_us,
               bytes, origin{passed}
        FROM ({with_playback}) AS rp
        ANY LEFT JOIN (
            SELECT env_key, asset_key AS eff_asset_key, live_stream_key AS a_live_stream_key,
                   asset_resolution_tier AS a_tier
            FROM ({CURRENT_ASSETS})
        ) AS a USING (env_key, eff_asset_key)
    """


def rollup_insert_sql(table: str, where: str, sign: int = 1) -> str:
    """INSERT of the rollup deltas of the records matching `where` (sign -1 retracts them)."""
    bucket = LEVELS[table]
    minute_window = "1"
    if table == "usage_minute":
        oldest = (now_us() - MINUTE_RETENTION_DAYS * 86_400 * 1_000_000) // 60_000_000 * 60_000_000
        minute_window = f"ts_us >= {oldest}"
    s = int(sign)
    return f"""
        INSERT INTO {table} ({", ".join(ROLLUP_KEY)}, {", ".join(MEASURES)})
        SELECT env_key, {bucket} AS bucket, asset_key, live_stream_key, tier, live, target_key,
               {s} * sumIf(seconds_us, origin = 0),
               {s} * sumIf(bytes, origin = 0),
               {s} * toInt64(count()),
               {s} * sumIf(seconds_us, origin = 1),
               {s} * sumIf(bytes, origin = 1),
               {s} * sumIf(seconds_us, origin = 1 AND additional_target = 1),
               {s} * sumIf(bytes, origin = 1 AND additional_target = 1)
        FROM ({attributed_sql(where)}) AS attributed
        WHERE {minute_window}
        GROUP BY env_key, bucket, asset_key, live_stream_key, tier, live, target_key
    """


def retract_all_sql(table: str, where: str = "1") -> str:
    """INSERT of the negation of the summed rows matching `where`: the table then sums to zero
    there (rebuild without DDL: no TRUNCATE or mutation on every shard needed)."""
    keys = ", ".join(ROLLUP_KEY)
    return f"""
        INSERT INTO {table} ({keys}, {", ".join(MEASURES)})
        SELECT {keys}, {", ".join(f"-sum({m})" for m in MEASURES)}
        FROM (SELECT * FROM {table} WHERE {where}) AS current
        GROUP BY {keys}
        HAVING {" OR ".join(f"sum({m}) != 0" for m in MEASURES)}
    """
