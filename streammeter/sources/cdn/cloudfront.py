"""AWS CloudFront access logs: standard logs (W3C, `#Fields` header) and real-time logs.

Field reference: docs/sources/cloudfront.md and docs/sources/cloudfront-realtime.md.

Both are tab-separated with `-` for an absent value. Columns are always located by name —
from the `#Fields` header (standard) or from the configured field list (real-time) — never by
position. CloudFront percent-encodes `%` itself (and spaces, quotes, non-ASCII...) in the
values it logs, so the user agent and query arrive double-encoded (`%2520` for a space): its
`%25` layer is undone first (`undo_layer`), then the value is decoded as usual.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import unquote

from streammeter.sources.cdn.cmcd import CLOUDFRONT_COLUMNS, cmcd_from_columns, request_cmcd
from streammeter.sources.cdn.common import (
    MAX_BYTES,
    NUL_REASON,
    US_PER_SECOND,
    checked_instant,
    each_line,
    epoch_text_us,
    int_value,
    line_text,
    show,
    split_target,
    status_value,
)
from streammeter.sources.cdn.request import EdgeRequest, ParsedLine
from streammeter.sources.generic import RecordError

# Our names for the columns we read, and CloudFront's names for them (standard, real-time).
_COLUMNS: dict[str, tuple[str, ...]] = {
    "date": ("date",),
    "time": ("time",),
    "timestamp": ("timestamp",),
    "status": ("sc-status",),
    "bytes": ("sc-bytes",),
    "method": ("cs-method",),
    "stem": ("cs-uri-stem",),
    "query": ("cs-uri-query",),
    "result": ("x-edge-result-type",),
    "response_result": ("x-edge-response-result-type",),
    "detailed": ("x-edge-detailed-result-type",),
    "request_id": ("x-edge-request-id",),
    "ip": ("c-ip",),
    "user_agent": ("cs(User-Agent)", "cs-user-agent"),
    "host_header": ("x-host-header",),
    "host": ("cs(Host)", "cs-host"),
    "content_len": ("sc-content-len",),
    "range_start": ("sc-range-start",),
    "range_end": ("sc-range-end",),
}
#: The columns a standard log must name for its rows to be read.
STANDARD_REQUIRED = ("date", "time", "stem", "status", "bytes")
_REALTIME_REQUIRED = ("timestamp", "stem", "status", "bytes")

#: Real-time log fields in AWS's canonical order (the order records carry them in, whatever
#: order they were configured in): the long-documented ones. Newer fields (CMCD columns and
#: later) follow these; their relative order is not checked.
REALTIME_CANONICAL = (
    "timestamp", "c-ip", "time-to-first-byte", "sc-status", "sc-bytes", "cs-method",
    "cs-protocol", "cs-host", "cs-uri-stem", "cs-bytes", "x-edge-location",
    "x-edge-request-id", "x-host-header", "time-taken", "cs-protocol-version", "c-ip-version",
    "cs-user-agent", "cs-referer", "cs-cookie", "cs-uri-query", "x-edge-response-result-type",
    "x-forwarded-for", "ssl-protocol", "ssl-cipher", "x-edge-result-type",
    "fle-encrypted-fields", "fle-status", "sc-content-type", "sc-content-len",
    "sc-range-start", "sc-range-end", "c-port", "x-edge-detailed-result-type", "c-country",
    "cs-accept-encoding", "cs-accept", "cache-behavior-path-pattern", "cs-headers",
    "cs-header-names", "cs-headers-count",
)  # fmt: skip

#: The field list assumed when none is configured: our recommended real-time log
#: configuration (docs/sources/cloudfront-realtime.md), in canonical order.
DEFAULT_REALTIME_FIELDS = (
    "timestamp", "c-ip", "sc-status", "sc-bytes", "cs-method", "cs-host", "cs-uri-stem",
    "x-edge-request-id", "x-host-header", "cs-user-agent", "x-edge-response-result-type",
    "x-edge-result-type", "sc-content-len", "sc-range-start", "sc-range-end",
    "x-edge-detailed-result-type", "cmcd-encoded-bitrate", "cmcd-object-duration",
    "cmcd-object-type", "cmcd-session-id", "cmcd-stream-type",
)  # fmt: skip


def undo_layer(text: str) -> str:
    """Remove CloudFront's own encoding of '%' (`%25xx` -> `%xx`); the result is the value as
    the viewer sent it (a query stays a valid percent-encoded query)."""
    return text.replace("%25", "%") if "%25" in text else text


@lru_cache(maxsize=4096)  # user agents repeat: decode each once
def decode_text(text: str) -> str:
    """A free-text CloudFront value (user agent, CMCD string) fully decoded."""
    text = undo_layer(text)
    return unquote(text, errors="replace") if "%" in text else text


@dataclass(slots=True)
class Layout:
    """Where each column we read sits, for one `#Fields` header or configured field list."""

    names: tuple[str, ...]
    origin: str  # for messages: "the #Fields header on line 2", "the configured field list"
    index: dict[str, int] = field(default_factory=dict)
    cmcd: tuple[tuple[str, int], ...] = ()
    missing: tuple[str, ...] = ()
    #: every key of _COLUMNS -> its position, -1 when the column is not logged
    at: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, names: Sequence[str], origin: str, required: Iterable[str]) -> Layout:
        layout = cls(tuple(names), origin)
        position: dict[str, int] = {}
        for i, name in enumerate(names):
            position.setdefault(name, i)
        for key, aliases in _COLUMNS.items():
            for alias in aliases:
                if alias in position:
                    layout.index[key] = position[alias]
                    break
        layout.cmcd = tuple((n, i) for n, i in position.items() if n in CLOUDFRONT_COLUMNS)
        layout.missing = tuple(_COLUMNS[k][0] for k in required if k not in layout.index)
        layout.at = {key: layout.index.get(key, -1) for key in _COLUMNS}
        return layout


def _columns(text: str, layout: Layout) -> list[str]:
    cols = text.split("\t")
    width = len(layout.names)
    while len(cols) > width and cols[-1] == "":
        cols.pop()  # the AWS example has a row with a trailing tab
    if len(cols) != width:
        raise RecordError(
            f"expected {width} tab-separated columns as {layout.origin} says, got {len(cols)}"
        )
    return cols


def _count(value: str | None, name: str) -> int | None:
    """`int_value(value, name)`, with a fast path for plain digits (the usual case)."""
    if value is not None and value.isdigit() and value.isascii():
        number = int(value)
        if number <= MAX_BYTES:
            return number
    return int_value(value, name)


def _request(layout: Layout, cols: list[str], ts_us: int) -> EdgeRequest:
    # Column positions, -1 when not logged (see Layout.at); '-' and '' mean absent.
    at = layout.at

    def get(key: str) -> str | None:
        i = at[key]
        if i < 0:
            return None
        value = cols[i]
        return None if value == "-" or value == "" else value

    stem = get("stem")
    if stem is None:
        raise RecordError("cs-uri-stem: missing")
    if stem[0] == "/" and "%" not in stem and "?" not in stem and not stem[-1].isspace():
        path, query = stem, ""  # what split_target(undo_layer(stem)) gives for a plain path
    else:
        path, query = split_target(undo_layer(stem), "cs-uri-stem")  # real-time: with query
    if not query and (logged := get("query")) is not None:
        query = undo_layer(logged)
    result, response_result = get("result"), get("response_result")
    if response_result is not None:
        aborted = result == "Error" and response_result != "Error"
    else:  # x-edge-response-result-type not logged: the detailed type still says it
        aborted = result == "Error" and get("detailed") == "ClientCommError"
    sent = _count(get("bytes"), "sc-bytes") or 0
    user_agent = get("user_agent")
    cmcd: dict[str, Any] = {}
    if layout.cmcd:
        cmcd = cmcd_from_columns(
            {name: decode_text(cols[i]) for name, i in layout.cmcd if cols[i] not in ("-", "")}
        )
    if not cmcd and query:
        cmcd = request_cmcd(None, query)
    status = get("status")
    if status is not None and status.isdigit() and status.isascii() and int(status) <= 999:
        status_code = int(status)
    else:
        status_code = status_value(status, "sc-status")
    return EdgeRequest(
        ts_us,
        path,
        query,
        get("method") or "GET",
        status_code,
        sent,
        sent,  # body_bytes: no body-only count: sc-bytes stands in (counting.md 4.2)
        _count(get("content_len"), "sc-content-len"),
        _count(get("range_start"), "sc-range-start"),
        _count(get("range_end"), "sc-range-end"),
        None,  # object_size
        aborted,
        get("request_id"),
        get("ip"),
        decode_text(user_agent) if user_agent is not None else None,
        get("host_header") or get("host"),
        cmcd,
    )


# --- standard logs ---------------------------------------------------------------------------

_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_TIME = re.compile(r"(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?")
_EPOCH_ORDINAL = 719_163  # date(1970, 1, 1).toordinal()


class _Dates:
    """date text -> days since the epoch, cached (a log file spans a day or two)."""

    def __init__(self) -> None:
        self._days: dict[str, int] = {}

    def days(self, text: str) -> int:
        found = self._days.get(text)
        if found is not None:
            return found
        from datetime import date

        match = _DATE.fullmatch(text)
        try:
            if not match:
                raise ValueError
            days = date(*map(int, match.groups())).toordinal() - _EPOCH_ORDINAL
        except ValueError:
            raise RecordError(f"date: expected YYYY-MM-DD, got {show(text)}") from None
        if len(self._days) > 10_000:
            self._days.clear()
        self._days[text] = days
        return days


def _standard_instant(dates: _Dates, layout: Layout, cols: list[str]) -> int:
    date_text, time_text = cols[layout.index["date"]], cols[layout.index["time"]]
    days = dates.days(date_text)
    match = _TIME.fullmatch(time_text)
    if not match:
        raise RecordError(f"time: expected HH:MM:SS, got {show(time_text)}")
    hours, minutes, seconds, fraction = match.groups()
    if int(hours) > 23 or int(minutes) > 59 or int(seconds) > 60:
        raise RecordError(f"time: expected HH:MM:SS, got {show(time_text)}")
    seconds_of_day = int(hours) * 3_600 + int(minutes) * 60 + int(seconds)
    us = (days * 86_400 + seconds_of_day) * US_PER_SECOND
    if fraction:
        us += int(fraction.ljust(6, "0"))
    return checked_instant(us, "date/time", f"{date_text} {time_text}")


def parse_cloudfront(
    lines: Iterable[tuple[int, bytes]], options: Mapping[str, Any] | None = None
) -> Iterator[ParsedLine]:
    """CloudFront standard (W3C) log lines, honouring every `#Fields` header in the file."""
    layout: Layout | None = None
    dates = _Dates()
    # Consecutive lines mostly share their second: the last (date, time) -> instant is kept.
    last_stamp: tuple[str, str, int] = ("", "", 0)
    for line_no, line in lines:
        raw = line_text(line)
        if raw.startswith("\ufeff"):
            raw = raw[1:]
        if not raw or raw.isspace():
            continue
        if raw.startswith("#"):
            if raw.startswith("#Fields:"):
                origin = f"the #Fields header on line {line_no}"
                layout = Layout.of(raw[len("#Fields:") :].split(), origin, STANDARD_REQUIRED)
            continue  # #Version, #Date, other comments
        if "\x00" in raw:
            yield line_no, raw, RecordError(NUL_REASON)
            continue
        if layout is None:
            reason = "a log row before any #Fields header: cannot tell which column is which"
            yield line_no, raw, RecordError(reason)
            continue
        if layout.missing:
            reason = f"{layout.origin} has no {', '.join(layout.missing)}"
            yield line_no, raw, RecordError(reason)
            continue
        try:
            cols = _columns(raw, layout)
            date_text, time_text = cols[layout.at["date"]], cols[layout.at["time"]]
            if date_text == last_stamp[0] and time_text == last_stamp[1]:
                ts_us = last_stamp[2]
            else:
                ts_us = _standard_instant(dates, layout, cols)
                last_stamp = (date_text, time_text, ts_us)
            yield line_no, raw, _request(layout, cols, ts_us)
        except RecordError as exc:
            yield line_no, raw, exc
        except Exception as exc:  # never let one odd line stop an import
            yield line_no, raw, RecordError(f"unreadable line ({type(exc).__name__}: {exc})")


# --- real-time logs --------------------------------------------------------------------------


def realtime_fields(options: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The configured field list (`options["fields"]`: a list, or a string separated by commas
    or spaces), checked; the documented default when none is given."""
    given = (options or {}).get("fields")
    if given is None or given == "" or given == []:
        return DEFAULT_REALTIME_FIELDS
    if isinstance(given, str):
        names = tuple(n for n in re.split(r"[\s,]+", given.strip()) if n)
    else:
        names = tuple(str(n).strip() for n in given)
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"real-time log fields: listed twice: {', '.join(duplicates)}")
    known = [n for n in names if n in REALTIME_CANONICAL]
    expected = sorted(known, key=REALTIME_CANONICAL.index)
    if known != expected:
        raise ValueError(
            "real-time log records carry their fields in AWS's canonical order, not in the "
            "order they were configured; list them in that order: " + " ".join(expected)
        )
    layout = Layout.of(names, "the configured field list", _REALTIME_REQUIRED)
    if layout.missing:
        raise ValueError(
            f"real-time log fields: the configured list lacks {', '.join(layout.missing)}, "
            "which metering needs (see docs/sources/cloudfront-realtime.md)"
        )
    return names


def parse_cloudfront_realtime(
    lines: Iterable[tuple[int, bytes]], options: Mapping[str, Any] | None = None
) -> Iterator[ParsedLine]:
    """CloudFront real-time log records (no header): columns per `options["fields"]`.

    A wrong field list raises ValueError here, before any line is read.
    """
    names = realtime_fields(options)
    origin = f"the configured field list ({len(names)} fields)"
    layout = Layout.of(names, origin, _REALTIME_REQUIRED)

    def parse_one(text: str, _line: bytes) -> EdgeRequest:
        cols = _columns(text, layout)
        stamp = cols[layout.index["timestamp"]]
        return _request(layout, cols, epoch_text_us(stamp, "timestamp"))

    return each_line(lines, parse_one)
