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


# -- the Mux delivery-usage cover: weeks and subtraction --------------------------------------

#: Weeks start on Monday 00:00 UTC; the epoch (hour 0) is a Thursday, so Mondays are the hours
#: h with (h + 72) % 168 == 0.
HOURS_PER_WEEK = 168
WEEK_OFFSET = 72


def week_start_hour(hour: int) -> int:
    return hour - (hour + WEEK_OFFSET) % HOURS_PER_WEEK


def _ceil_week(hour: int) -> int:
    start = week_start_hour(hour)
    return start if start == hour else start + HOURS_PER_WEEK


SignedPart = tuple[str, int, int, int]  # (level, first bucket hour, end bucket hour, +1 / -1)


def _days_and_weeks(lo: int, hi: int, sign: int) -> list[SignedPart]:
    """[lo, hi), both day-aligned: whole weeks, days at the edges."""
    week_lo, week_hi = _ceil_week(lo), week_start_hour(hi)
    if week_lo >= week_hi:
        return [("day", lo, hi, sign)] if lo < hi else []
    parts = [("day", lo, week_lo, sign)] if lo < week_lo else []
    parts.append(("week", week_lo, week_hi, sign))
    if week_hi < hi:
        parts.append(("day", week_hi, hi, sign))
    return parts


def _positive_cover(start: int, end: int, sign: int = 1) -> list[SignedPart]:
    """[start, end) by hours at the ragged edges, then days and weeks, then whole months."""
    if end <= start:
        return []
    day_lo, day_hi = _ceil_day(start), _floor_day(end)
    if day_lo >= day_hi:
        return [("hour", start, end, sign)]
    parts: list[SignedPart] = [("hour", start, day_lo, sign)] if start < day_lo else []
    month_lo, month_hi = _ceil_month(day_lo), month_start_hour(day_hi)
    if month_lo < month_hi:
        parts += _days_and_weeks(day_lo, month_lo, sign)
        parts.append(("month", month_lo, month_hi, sign))
        parts += _days_and_weeks(month_hi, day_hi, sign)
    else:
        parts += _days_and_weeks(day_lo, day_hi, sign)
    if day_hi < end:
        parts.append(("hour", day_hi, end, sign))
    return parts


#: The rolling window (one row per asset) is read when the hours it differs from the query's
#: window by are at most this fraction of the window: edges are read at the finer levels.
ROLLING_EDGE_FRACTION = 4


def signed_cover(
    start: int, end: int, now_hour: int, rolling: tuple[int, int] | None = None
) -> list[SignedPart]:
    """Parts whose signed sum is exactly [start, end), chosen to read few rollup rows.

    `rolling` is the interval of hours the store keeps one total per asset for (the widest
    Mux window, advanced hourly: docs/design/rollups.md). A window close to it is read as that
    total plus or minus the hours where the two differ.
    """
    if rolling is not None and _near(start, end, rolling):
        lo, hi = rolling
        parts: list[SignedPart] = [("rolling", lo, hi, 1)]
        parts += _calendar_cover(start, lo, now_hour) if start < lo else []
        parts += _negated(_calendar_cover(lo, start, now_hour)) if lo < start else []
        parts += _calendar_cover(hi, end, now_hour) if hi < end else []
        parts += _negated(_calendar_cover(end, hi, now_hour)) if end < hi else []
        return parts
    return _calendar_cover(start, end, now_hour)


TablePart = tuple[str, int, int, int]  # (rollup table or "rolling", first hour, end hour, ±1)


def rolling_split(start: int, end: int, rolling: tuple[int, int] | None) -> list[TablePart]:
    """Signed parts summing to exactly [start, end) for a store with calendar rollup tables
    and a rolling total but no per-asset levels (ClickHouse): the rolling total plus or minus
    its edges when the window is near it, else `split_window`."""
    if rolling is None or not _near(start, end, rolling):
        return [(table, lo, hi, 1) for table, lo, hi in split_window(start, end)]
    lo, hi = rolling
    parts: list[TablePart] = [("rolling", lo, hi, 1)]
    for first, last, sign in ((start, lo, 1), (lo, start, -1), (hi, end, 1), (end, hi, -1)):
        parts += [(table, a, b, sign) for table, a, b in split_window(first, last)]
    return parts


def _near(start: int, end: int, rolling: tuple[int, int]) -> bool:
    lo, hi = rolling
    if hi <= lo or end <= start:
        return False
    return (abs(start - lo) + abs(end - hi)) * ROLLING_EDGE_FRACTION <= end - start


def _negated(parts: list[SignedPart]) -> list[SignedPart]:
    return [(level, lo, hi, -sign) for level, lo, hi, sign in parts]


def _calendar_cover(start: int, end: int, now_hour: int) -> list[SignedPart]:
    """Hours, days, Monday weeks and months (signed) covering [start, end).

    Rollups are exact integer sums, so a month minus the hours of it outside the window equals
    the window's part of that month. A window's ragged first or last month is read that way
    when the part to subtract holds less data than the part to add: hours before the window's
    start in its first month, or hours from the window's end to `now_hour` (no data is expected
    after now) in its last month. A Mux window ends at least 12 hours before now, so its last
    month is typically one month row minus half a day (docs/design/rollups.md).
    """
    if end <= start:
        return []
    first_month, last_month = month_start_hour(start), month_start_hour(end - 1)
    if first_month == last_month:
        return _positive_cover(start, end)
    first_end, last_end = next_month_start_hour(start), next_month_start_hour(end - 1)
    parts: list[SignedPart] = []
    if start == first_month:
        lo = first_month
    elif start - first_month < first_end - start:
        parts.append(("month", first_month, first_end, 1))
        parts += _positive_cover(first_month, start, -1)
        lo = first_end
    else:
        lo = start
    after_end = max(0, min(last_end, now_hour + 1) - end)
    if end == last_end:
        hi = last_end
    elif after_end < end - last_month:
        hi = last_month
        parts.append(("month", last_month, last_end, 1))
        parts += _positive_cover(end, last_end, -1)
    else:
        hi = end
    return _positive_cover(lo, hi) + parts
