"""The Mux delivery-usage query: parameter rules and the response shape (vendor-apis.md 2).

Unaligned `timeframe` values are floored to the hour, both start and end: consecutive windows
that share a boundary then share the same hour boundary, so tiling windows never count an hour
twice or skip one (docs/api/mux-delivery-usage.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from streammeter.config import Settings
from streammeter.model.tiers import TIER_FIELDS
from streammeter.model.times import US_PER_SECOND
from streammeter.store.base import Store, UsageRow

HOUR = 3_600
_HOUR = HOUR
_INT32_MAX = 2_147_483_647


class InvalidParameters(ValueError):
    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages


@dataclass(frozen=True)
class UsageQuery:
    start: int  # epoch seconds, on the hour
    end: int
    page: int
    limit: int
    asset_id: str | None
    live_stream_id: str | None


def _positive_int(
    name: str, raw: str | None, default: int, maximum: int | None
) -> tuple[int, str | None]:
    if raw is None:
        return default, None
    bound = f" from 1 to {maximum}" if maximum else " >= 1"
    try:
        value = int(raw)
    except ValueError:
        return default, f"{name} must be an integer{bound}, got {raw!r}"
    if value < 1 or (maximum is not None and value > maximum):
        return default, f"{name} must be an integer{bound}, got {value}"
    return value, None


def widest_window(now_s: int, settings: Settings) -> tuple[int, int]:
    """Hours [start, end) of the widest window the API accepts at `now_s`: the store keeps one
    total per asset over it (`Store.set_rolling_window`, docs/design/rollups.md)."""
    earliest_start = (now_s - settings.history_days * 86_400) // _HOUR
    latest_end = (now_s - settings.settle_lag_hours * _HOUR) // _HOUR
    return earliest_start, latest_end


def parse_query(params: Sequence[tuple[str, str]], now_s: int, settings: Settings) -> UsageQuery:
    """Validate the query string; raise InvalidParameters with one message per problem."""
    errors: list[str] = []
    single: dict[str, str] = {}
    timeframe: list[str] = []
    for key, value in params:
        if key in ("timeframe[]", "timeframe"):
            timeframe.append(value)
        else:
            single.setdefault(key, value)
    # The spec types page as int32; an unbounded page would overflow the store's OFFSET.
    page, error = _positive_int("page", single.get("page"), 1, _INT32_MAX)
    errors += [error] if error else []
    limit, error = _positive_int("limit", single.get("limit"), 100, settings.max_limit)
    errors += [error] if error else []
    asset_id = single.get("asset_id") or None
    live_stream_id = single.get("live_stream_id") or None
    if asset_id and live_stream_id:
        errors.append("Cannot specify both asset_id and live_stream_id; pass one of them")

    latest_end = now_s - settings.settle_lag_hours * _HOUR
    earliest_start = (now_s - settings.history_days * 86_400) // _HOUR * _HOUR
    start, end = latest_end // _HOUR * _HOUR - _HOUR, latest_end // _HOUR * _HOUR
    if timeframe:
        bounds: list[int] = []
        if len(timeframe) != 2:
            errors.append(
                f"timeframe needs exactly two values, got {len(timeframe)}: "
                "timeframe[]=START&timeframe[]=END in Unix epoch seconds"
            )
        for position, raw in enumerate(timeframe[:2]):
            try:
                bounds.append(int(raw))
            except ValueError:
                errors.append(f"timeframe[{position}] must be Unix epoch seconds, got {raw!r}")
        if len(bounds) == 2 and len(timeframe) == 2:
            raw_start, raw_end = bounds
            if raw_end <= raw_start:
                errors.append(f"timeframe end ({raw_end}) must be after its start ({raw_start})")
            if raw_start < earliest_start:
                errors.append(
                    f"timeframe start ({raw_start}) is older than {settings.history_days} days; "
                    f"the earliest allowed start is {earliest_start}"
                )
            if raw_end > latest_end:
                errors.append(
                    f"timeframe end ({raw_end}) is within the last {settings.settle_lag_hours} "
                    f"hours, which are not settled yet; the latest allowed end is {latest_end}"
                )
            start, end = raw_start // _HOUR * _HOUR, raw_end // _HOUR * _HOUR
    if errors:
        raise InvalidParameters(errors)
    return UsageQuery(start, end, page, limit, asset_id, live_stream_id)


def _seconds(us: int) -> int | float:
    """Microseconds as seconds with 6 decimals; whole seconds stay integers (as Mux shows)."""
    whole, rest = divmod(us, US_PER_SECOND)
    return whole if rest == 0 else round(us / US_PER_SECOND, 6)


def report(row: UsageRow) -> dict[str, Any]:
    """One DeliveryReport: optional fields left out when absent, timestamps as strings."""
    asset = row.asset
    out: dict[str, Any] = {}
    if asset.get("live_stream_id"):
        out["live_stream_id"] = asset["live_stream_id"]
    out["asset_id"] = asset["asset_id"]
    if asset.get("passthrough") is not None:
        out["passthrough"] = asset["passthrough"]
    out["created_at"] = str(asset["created_at"])
    if asset.get("deleted_at") is not None:
        out["deleted_at"] = str(asset["deleted_at"])
    out["asset_state"] = asset["asset_state"]
    if asset.get("asset_duration") is not None:
        out["asset_duration"] = asset["asset_duration"]
    out["asset_resolution_tier"] = asset["asset_resolution_tier"]
    for name in ("asset_encoding_tier", "asset_video_quality"):
        if asset.get(name):
            out[name] = asset[name]
    out["delivered_seconds"] = _seconds(row.total_us)
    out["delivered_seconds_by_resolution"] = {
        field: _seconds(row.tiers_us[code])
        for code, field in TIER_FIELDS.items()
        if code in row.tiers_us
    }
    return out


def list_delivery_usage(store: Store, env_key: int, query: UsageQuery) -> dict[str, Any]:
    rows, total = store.delivery_usage(
        env_key,
        query.start // _HOUR,
        query.end // _HOUR,
        asset_id=query.asset_id,
        live_stream_id=query.live_stream_id,
        limit=query.limit,
        offset=(query.page - 1) * query.limit,
    )
    return {
        "data": [report(row) for row in rows],
        "total_row_count": total,
        "timeframe": [query.start, query.end],
        "page": query.page,
        "limit": query.limit,
    }
