"""The native usage query (`GET /v1/usage`): parameters, local time buckets, and read plans.

Pure functions, no store. A window [from, to) is cut into buckets (local hours, local days,
local calendar months, or one bucket) in any IANA time zone; each bucket is read from:

- the rollups (`usage_hour`/`usage_day`/`usage_month`, via `split_window`) for the whole UTC
  hours it contains, and
- the stored records (`records`, attributed with the same SQL as the rollups) for the parts of
  UTC hours it shares with a neighbour bucket: a local day in Asia/Kolkata (+05:30) starts at
  18:30 UTC, so the UTC hour 18:00-19:00 is split at 18:30 and each half is summed from its
  records. Records are kept forever, so this is exact at any age (minute rollups are kept only
  30 days and are not used).

Finality (counting.md 8): hour `h` is final once `settle_after` (default 24 h,
`STREAMMETER_SETTLE_AFTER_HOURS`) has passed since it ended; a bucket is final when all its
hours are.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from streammeter.model.tiers import tier_from_name, tier_label
from streammeter.model.times import US_PER_HOUR, US_PER_SECOND, InvalidTime, parse_instant
from streammeter.query.windows import split_window

GRANULARITIES = ("hour", "day", "month", "total")
GROUP_BY = ("asset", "live_stream", "tier", "environment", "resource")
FORMATS = ("json", "csv", "ndjson", "parquet")
MEDIA_TYPES = {
    "json": "application/json",
    "csv": "text/csv",
    "ndjson": "application/x-ndjson",
    "parquet": "application/vnd.apache.parquet",
}
MAX_BUCKETS = 5_000
MAX_LIMIT = 10_000
DEFAULT_SETTLE_AFTER_HOURS = 24
_STEP_US = 15 * 60 * US_PER_SECOND  # every UTC offset and transition is a multiple of 15 min


class UsageQueryError(ValueError):
    """Invalid parameters; `messages` say which and why."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages


def settle_after_us() -> int:
    hours = os.environ.get("STREAMMETER_SETTLE_AFTER_HOURS")
    try:
        value = int(hours) if hours else DEFAULT_SETTLE_AFTER_HOURS
    except ValueError:
        value = DEFAULT_SETTLE_AFTER_HOURS
    return value * US_PER_HOUR


def hour_is_final(hour: int, now: int, settle_us: int | None = None) -> bool:
    settle = settle_after_us() if settle_us is None else settle_us
    return (hour + 1) * US_PER_HOUR + settle <= now


@dataclass(frozen=True)
class UsageParams:
    start_us: int
    end_us: int
    granularity: str
    timezone: str
    group_by: tuple[str, ...]
    asset_ids: tuple[str, ...] = ()
    live_stream_ids: tuple[str, ...] = ()
    tiers: tuple[int, ...] = ()

    def fingerprint(self) -> str:
        """Identity of the query (a cursor is only valid for the query that made it)."""
        text = json.dumps(
            [self.start_us, self.end_us, self.granularity, self.timezone, self.group_by,
             self.asset_ids, self.live_stream_ids, self.tiers]
        )  # fmt: skip
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class UsagePlan:
    """Buckets [(start_us, end_us)] and what to read for each (by bucket index)."""

    buckets: list[tuple[int, int]]
    ranges: list[tuple[str, int, int, int]] = field(default_factory=list)  # table, lo, hi, idx
    partials: list[tuple[int, int, int]] = field(default_factory=list)  # lo_us, hi_us, idx


def parse_params(
    start: str | None,
    end: str | None,
    granularity: str | None,
    timezone: str | None,
    group_by: list[str],
    asset_ids: list[str],
    live_stream_ids: list[str],
    tiers: list[str],
) -> UsageParams:
    errors: list[str] = []
    start_us = end_us = 0
    for name, value in (("from", start), ("to", end)):
        if value is None:
            errors.append(f"{name}: required (RFC 3339 or epoch seconds)")
            continue
        try:
            parsed = parse_instant(value)
        except InvalidTime as exc:
            errors.append(f"{name}: {exc}")
            continue
        if name == "from":
            start_us = parsed
        else:
            end_us = parsed
    gran = (granularity or "day").lower()
    if gran not in GRANULARITIES:
        errors.append(f"granularity: {granularity!r} is not one of {', '.join(GRANULARITIES)}")
    zone = timezone or "UTC"
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        errors.append(f"timezone: {zone!r} is not an IANA time zone (e.g. Europe/Paris)")
    groups: list[str] = []
    for item in group_by:
        for name in item.split(","):
            name = name.strip()
            if not name:
                continue
            if name not in GROUP_BY:
                errors.append(f"group_by: {name!r} is not one of {', '.join(GROUP_BY)}")
            elif name not in groups:
                groups.append(name)
    codes: list[int] = []
    for item in tiers:
        code = 0 if item.strip().lower() == "none" else tier_from_name(item)
        if code is None:
            errors.append(f"tier: {item!r} is not a tier (720p, 1080p, 1440p, 2160p, audio-only)")
        else:
            codes.append(code)
    if not errors and end_us <= start_us:
        errors.append("to: must be after from")
    if errors:
        raise UsageQueryError(errors)
    return UsageParams(
        start_us, end_us, gran, zone, tuple(groups), tuple(asset_ids), tuple(live_stream_ids),
        tuple(codes),
    )  # fmt: skip


def _local(us: int, zone: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(us / US_PER_SECOND, UTC).astimezone(zone)


def _utc_us(moment: datetime) -> int:
    delta = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * US_PER_SECOND + delta.microseconds


def _day_start(year: int, month: int, day: int, zone: ZoneInfo) -> int:
    """First instant of a local date. A midnight skipped by a DST gap maps (fold=0) to the
    transition instant, which is exactly when that date starts."""
    return _utc_us(datetime(year, month, day, tzinfo=zone))


def boundaries(start_us: int, end_us: int, granularity: str, timezone: str) -> list[int]:
    """Sorted bucket edges: start, every local hour/day/month start inside, end."""
    zone = ZoneInfo(timezone)
    edges = [start_us]
    if granularity == "hour":
        # Local hours start where the local minute is 0; step through UTC by 15 minutes.
        t = -(-start_us // _STEP_US) * _STEP_US
        while t < end_us:
            moment = _local(t, zone)
            if moment.minute == 0 and moment.second == 0 and t > start_us:
                edges.append(t)
            t += _STEP_US
    elif granularity == "day":
        day = _local(start_us, zone).date()
        while True:
            day += timedelta(days=1)
            t = _day_start(day.year, day.month, day.day, zone)
            if t >= end_us:
                break
            edges.append(t)
    elif granularity == "month":
        local = _local(start_us, zone)
        year, month = local.year, local.month
        while True:
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
            t = _day_start(year, month, 1, zone)
            if t >= end_us:
                break
            edges.append(t)
    edges.append(end_us)
    if len(edges) - 1 > MAX_BUCKETS:
        raise UsageQueryError(
            [f"the window has more than {MAX_BUCKETS} {granularity} buckets; narrow it"]
        )
    return edges


def plan(params: UsageParams) -> UsagePlan:
    edges = boundaries(params.start_us, params.end_us, params.granularity, params.timezone)
    result = UsagePlan(buckets=list(zip(edges[:-1], edges[1:], strict=True)))
    for idx, (lo, hi) in enumerate(result.buckets):
        first_whole = -(-lo // US_PER_HOUR)
        last_whole = hi // US_PER_HOUR
        if first_whole >= last_whole:
            result.partials.append((lo, hi, idx))
            continue
        if lo < first_whole * US_PER_HOUR:
            result.partials.append((lo, first_whole * US_PER_HOUR, idx))
        for table, h_lo, h_hi in split_window(first_whole, last_whole):
            result.ranges.append((table, h_lo, h_hi, idx))
        if last_whole * US_PER_HOUR < hi:
            result.partials.append((last_whole * US_PER_HOUR, hi, idx))
    return result


def bucket_hours(lo_us: int, hi_us: int) -> range:
    """The UTC hours a bucket overlaps."""
    return range(lo_us // US_PER_HOUR, -(-hi_us // US_PER_HOUR))


def local_iso(us: int, timezone: str) -> str:
    """RFC 3339 with the zone's offset at that instant (`+05:30`, `Z` for UTC)."""
    moment = _local(us, ZoneInfo(timezone))
    text = moment.isoformat(timespec="seconds")
    return text[:-6] + "Z" if text.endswith("+00:00") and timezone == "UTC" else text


def encode_cursor(offset: int, params: UsageParams) -> str:
    raw = json.dumps({"o": offset, "q": params.fingerprint()}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, params: UsageParams) -> int:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded))
        offset, query = int(data["o"]), data["q"]
    except (ValueError, KeyError, TypeError):
        raise UsageQueryError(["cursor: not a cursor returned by this endpoint"]) from None
    if query != params.fingerprint():
        raise UsageQueryError(["cursor: it belongs to a query with other parameters"])
    return offset


def tier_name(code: int) -> str:
    return tier_label(code)
