"""From stored records to rollup rows: attribution to asset, live stream and tier.

This SQL is the one place where the catalog meets the records (counting.md 4.4, 5, 6):
- a record naming a playback id is attributed to the asset that owns it;
- the catalog's `live_stream_id` of the asset wins over the record's;
- tier: `audio-only` track, or demuxed `audio` of an audio-only asset -> audio-only;
  other demuxed audio earns bytes only; non-media objects (playlists, keys...) have no
  tier; video uses the record's tier, else the asset's
  `asset_resolution_tier` (inferred), else tier 0 until the asset is registered.
Ingest, catalog changes and `rebuild` all use it, so they cannot disagree.
"""

from __future__ import annotations

from streammeter.model.times import now_us

MINUTE_RETENTION_DAYS = 30

LEVELS: dict[str, str] = {
    # rollup table -> its bucket from `hour` (hours since the epoch) or `ts_us`
    "usage_minute": "CAST(ts_us // 60000000 AS INTEGER)",
    "usage_hour": "hour",
    "usage_day": "hour - hour % 24",
    "usage_month": (
        "CAST(epoch(date_trunc('month', make_timestamp(hour::BIGINT * 3600000000)))"
        " // 3600 AS INTEGER)"
    ),
}

_TIER_OF_RESOLUTION = (
    "CASE a.asset_resolution_tier WHEN '720p' THEN 1 WHEN '1080p' THEN 2 WHEN '1440p' THEN 3 "
    "WHEN '2160p' THEN 4 WHEN 'audio-only' THEN 5 END"
)


def attributed_sql(source: str) -> str:
    """SELECT of (env_key, hour, asset_key, live_stream_key, tier, live, seconds_us, bytes,
    origin) over `source`, a table or subquery with the `records` columns."""
    audio_only_asset = "a.asset_resolution_tier = 'audio-only'"
    return f"""
        SELECT r.env_key, r.hour, r.ts_us, r.target_key, r.additional_target,
               COALESCE(r.asset_key, pb.asset_key) AS asset_key,
               COALESCE(a.live_stream_key, r.live_stream_key) AS live_stream_key,
               CAST(CASE
                   WHEN r.kind NOT IN ('segment', 'part') THEN 0
                   WHEN r.track = 'audio-only' THEN 5
                   WHEN r.track = 'audio' AND {audio_only_asset} THEN 5
                   WHEN r.track = 'audio' THEN 0
                   ELSE COALESCE(r.tier_hint, {_TIER_OF_RESOLUTION}, 0)
               END AS TINYINT) AS tier,
               r.live,
               CASE WHEN r.track = 'audio' AND NOT coalesce({audio_only_asset}, false)
                    THEN 0 ELSE r.earned_us END AS seconds_us,
               r.bytes, r.origin
        FROM {source} r
        LEFT JOIN playback_ids pb
               ON r.asset_key IS NULL AND pb.env_key = r.env_key
              AND pb.playback_id = r.playback_id
        LEFT JOIN assets a ON a.asset_key = COALESCE(r.asset_key, pb.asset_key)
    """


def rollup_insert_sql(table: str, attributed: str, sign: int = 1) -> str:
    """INSERT of the rollup deltas of `attributed` (rows of `attributed_sql`, e.g. a temporary
    table of them) into `table` (sign -1 retracts them).

    Minute buckets are written only for the last MINUTE_RETENTION_DAYS (by the service clock).
    """
    bucket = LEVELS[table]
    minute_window = ""
    if table == "usage_minute":
        oldest = (now_us() - MINUTE_RETENTION_DAYS * 86_400 * 1_000_000) // 60_000_000 * 60_000_000
        minute_window = f"WHERE ts_us >= {oldest}"
    return f"""
        INSERT INTO {table}
        SELECT env_key, {bucket} AS bucket, asset_key, live_stream_key, tier, live, target_key,
               {sign} * coalesce(sum(seconds_us) FILTER (WHERE NOT origin), 0),
               {sign} * coalesce(sum(bytes) FILTER (WHERE NOT origin), 0),
               {sign} * count(*),
               {sign} * coalesce(sum(seconds_us) FILTER (WHERE origin), 0),
               {sign} * coalesce(sum(bytes) FILTER (WHERE origin), 0),
               {sign} * coalesce(sum(seconds_us) FILTER (WHERE origin AND additional_target), 0),
               {sign} * coalesce(sum(bytes) FILTER (WHERE origin AND additional_target), 0)
        FROM {attributed}
        {minute_window}
        GROUP BY ALL
    """


#: Per-asset rollups for the Mux delivery-usage query (docs/design/rollups.md): one wide row
#: per (environment, bucket, asset) with the viewing seconds of every media tier as columns,
#: at the levels a long window is mostly made of. Weeks start on Monday 00:00 UTC
#: (`query.windows.week_start_hour`).
ASSET_LEVELS: dict[str, str] = {
    "asset_usage_day": "hour - hour % 24",
    "asset_usage_week": "hour - (hour + 72) % 168",
    "asset_usage_month": LEVELS["usage_month"],
}

TIER_CODES = (1, 2, 3, 4, 5)


ROLLING_TABLE = "asset_usage_rolling"


def asset_rollup_insert_sql(
    table: str, attributed: str, sign: int = 1, *, hours: tuple[int, int] | None = None
) -> str:
    """INSERT of the per-asset rollup deltas of `attributed` (rows of `attributed_sql`) into
    `table` (sign -1 retracts): a level of ASSET_LEVELS, or ROLLING_TABLE with the rolling
    window's `hours` [start, end).

    Exactly the rows the Mux query reads from the narrow levels: viewing (not origin) seconds
    of media tiers (tier > 0) attributed to an asset."""
    tiers = ", ".join(
        f"{sign} * coalesce(sum(seconds_us) FILTER (WHERE tier = {code}), 0)" for code in TIER_CODES
    )
    if table == ROLLING_TABLE:
        assert hours is not None
        bucket, within = "0", f" AND hour >= {int(hours[0])} AND hour < {int(hours[1])}"
    else:
        bucket, within = ASSET_LEVELS[table], ""
    return f"""
        INSERT INTO {table}
        SELECT env_key, {bucket} AS bucket, asset_key,
               {sign} * sum(seconds_us), {tiers}
        FROM {attributed}
        WHERE NOT origin AND tier > 0 AND asset_key IS NOT NULL{within}
        GROUP BY ALL
    """
