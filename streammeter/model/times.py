"""Instants: parsing epoch seconds / RFC 3339, and hour arithmetic.

Internally an instant is integer microseconds since the Unix epoch (UTC) and an hour is the
integer number of hours since the epoch, so bucketing never touches floats or time zones.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

US_PER_SECOND = 1_000_000
US_PER_HOUR = 3_600 * US_PER_SECOND
HOURS_PER_DAY = 24

# Plausible range for delivery timestamps: 2000-01-01 .. 2100-01-01.
_MIN_US = 946_684_800 * US_PER_SECOND
_MAX_US = 4_102_444_800 * US_PER_SECOND


class InvalidTime(ValueError):
    """A timestamp that cannot be read; the message says what was expected."""


def parse_instant(value: object) -> int:
    """Epoch seconds (number or numeric string) or RFC 3339 with an offset, to microseconds."""
    if isinstance(value, bool) or value is None:
        raise InvalidTime(f"expected epoch seconds or RFC 3339, got {value!r}")
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise InvalidTime(f"{value.isoformat()} has no UTC offset")
        us = _datetime_us(value)
    elif isinstance(value, int):
        us = value * US_PER_SECOND
    elif isinstance(value, float):
        us = _seconds_us(Decimal(repr(value)), value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            number = Decimal(text)
        except InvalidOperation:
            us = _parse_rfc3339(text)
        else:
            us = _seconds_us(number, value)
    else:
        raise InvalidTime(f"expected epoch seconds or RFC 3339, got {type(value).__name__}")
    if not _MIN_US <= us < _MAX_US:
        raise InvalidTime(f"timestamp {value!r} is outside 2000-01-01..2100-01-01")
    return us


def _seconds_us(seconds: Decimal, value: object) -> int:
    """Epoch seconds to microseconds; NaN, infinities and huge exponents (`1e999999999` would
    build a billion-digit integer) are refused before any conversion."""
    if not seconds.is_finite() or seconds.adjusted() > 18:
        raise InvalidTime(f"timestamp {value!r} is outside 2000-01-01..2100-01-01")
    return int((seconds * US_PER_SECOND).to_integral_value())


def _parse_rfc3339(text: str) -> int:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidTime(
            f"{text!r} is neither epoch seconds nor RFC 3339 (e.g. 2026-11-22T10:00:00Z)"
        ) from None
    if parsed.tzinfo is None:
        raise InvalidTime(f"{text!r} has no UTC offset; add Z or +00:00")
    return _datetime_us(parsed)


def _datetime_us(moment: datetime) -> int:
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * US_PER_SECOND + delta.microseconds


def hour_of(us: int) -> int:
    """The hour (hours since the epoch) that contains the instant `us`."""
    return us // US_PER_HOUR


def hour_start_seconds(hour: int) -> int:
    return hour * 3_600


def month_start_hour(hour: int) -> int:
    """The first hour of the UTC calendar month containing `hour`."""
    moment = datetime.fromtimestamp(hour * 3_600, UTC)
    first = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return int(first.timestamp()) // 3_600


def next_month_start_hour(hour: int) -> int:
    moment = datetime.fromtimestamp(month_start_hour(hour) * 3_600, UTC)
    if moment.month == 12:
        nxt = moment.replace(year=moment.year + 1, month=1)
    else:
        nxt = moment.replace(month=moment.month + 1)
    return int(nxt.timestamp()) // 3_600


def now_us() -> int:
    """The service clock: `STREAMMETER_NOW` (RFC 3339 or epoch seconds) when set, else real time."""
    fixed = os.environ.get("STREAMMETER_NOW")
    if fixed:
        return parse_instant(fixed)
    return int(datetime.now(UTC).timestamp() * US_PER_SECOND)


@contextmanager
def service_clock_at(now: str) -> Iterator[None]:
    """Run the block on the service clock `now` (what `STREAMMETER_NOW` takes), then put the
    clock back. For tests and benchmarks that work in-process beside a server on that clock."""
    saved = os.environ.get("STREAMMETER_NOW")
    os.environ["STREAMMETER_NOW"] = now
    try:
        yield
    finally:
        if saved is None:
            del os.environ["STREAMMETER_NOW"]
        else:
            os.environ["STREAMMETER_NOW"] = saved


def iso_seconds(us: int) -> str:
    return datetime.fromtimestamp(us / US_PER_SECOND, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
