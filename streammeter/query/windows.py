"""Split an hour window over the rollup levels so a long window reads few buckets.

A window [start, end) of whole hours is covered by whole UTC calendar months, then whole UTC
days, then single hours at the ragged edges: a 90-day window reads about a hundred buckets per
asset instead of 2,160 (docs/design/rollups.md).
"""

from __future__ import annotations

from streammeter.model.times import HOURS_PER_DAY, month_start_hour, next_month_start_hour


def _ceil_day(hour: int) -> int:
    return -(-hour // HOURS_PER_DAY) * HOURS_PER_DAY


def _floor_day(hour: int) -> int:
    return hour - hour % HOURS_PER_DAY


def _ceil_month(hour: int) -> int:
    start = month_start_hour(hour)
    return start if start == hour else next_month_start_hour(hour)


def split_window(start: int, end: int) -> list[tuple[str, int, int]]:
    """[(rollup table, first bucket hour, end bucket hour)] covering [start, end) exactly."""
    if end <= start:
        return []
    day_lo, day_hi = _ceil_day(start), _floor_day(end)
    if day_lo >= day_hi:
        return [("usage_hour", start, end)]
    parts: list[tuple[str, int, int]] = []
    if start < day_lo:
        parts.append(("usage_hour", start, day_lo))
    month_lo, month_hi = _ceil_month(day_lo), month_start_hour(day_hi)
    if month_lo < month_hi:
        if day_lo < month_lo:
            parts.append(("usage_day", day_lo, month_lo))
        parts.append(("usage_month", month_lo, month_hi))
        if month_hi < day_hi:
            parts.append(("usage_day", month_hi, day_hi))
    else:
        parts.append(("usage_day", day_lo, day_hi))
    if day_hi < end:
        parts.append(("usage_hour", day_hi, end))
    return parts
