"""The Wowza Video usage family (`/api/{version}/usage/*`): parameters, windows, trend
granularity and response shapes (vendor-apis.md 3; docs/api/wowza-usage.md).

Pure functions parse and decide; the `*_body` functions read a `Store` and build the JSON.

Rules (each documented in docs/api/wowza-usage.md):
- `from` and `to` are instants, rounded **up** to the hour (both of them, so windows that
  share a boundary share its hour: no hour is counted twice or skipped). A date alone is its
  00:00 UTC, for `to` too (`from=2026-11-01&to=2026-12-01` is November); times without an
  offset are UTC.
- `last_bill_date`: the latest billing date on or before today (UTC) of the account's anchor
  and cycle (default: the 1st of the month).
- Defaults: from = last bill date, to = end of the current UTC day; `from` alone: to =
  min(from + 90 days, end of today); `to` alone: from = max(to - 90 days, last bill date).
- Longer than 90 days: `to` is clamped to from + 90 days, and `limits` echoes it.
- Trend: one sample per minute for windows up to 3 h (per hour when the window starts more than
  30 days ago: minute buckets are kept 30 days), per hour up to 24 h, per UTC day beyond.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from streammeter.counting.rules import round_half_even
from streammeter.model.times import US_PER_HOUR, US_PER_SECOND
from streammeter.store.attribution import MINUTE_RETENTION_DAYS
from streammeter.store.base import AccountInfo, ResourceInfo, Store, UsageCell

MAX_WINDOW_HOURS = 90 * 24
MINUTE_TREND_HOURS = 3
HOUR_TREND_HOURS = 24
MAX_PER_PAGE = 1000
MAX_PAGE = 1_000_000_000  # beyond, the row offset would overflow the store's 64-bit integers
RESOURCES = ("transcoders", "vod_streams")
VERSIONS = ("v1.8", "v1.9", "v1.10", "v1.11", "v2.0", "current")
LEGACY_KEY_VERSIONS = frozenset({"v1.8"})  # 1.9 and later accept JWT only
LAST_BILL_DATE = "last_bill_date"
TARGET_TYPE = "fastly"  # the only value of Wowza's stream-target/VOD `type` enum
TRANSCODER_TYPE, BILLING_MODE = "transcoded", "pay_as_you_go"  # Wowza's defaults
_US_PER_DAY = 24 * US_PER_HOUR
_EPOCH = date(1970, 1, 1)

# -- errors (vendor-apis.md 3.6) ------------------------------------------------------------
CATALOGUE: dict[str, tuple[int, str, str]] = {
    "ERR-401-NoApiKey": (401, "No API Key Error", "No API key sent in header."),
    "ERR-401-NoAccessKey": (401, "No Access Key Error", "No access key sent in header."),
    "ERR-401-InvalidApiKey": (401, "Invalid Api Key Error", "Invalid API key."),
    "ERR-401-InvalidAccessKey": (401, "Invalid Access Key Error", "Invalid access key."),
    # The message keeps Wowza's spelling, verbatim, for scripts that compare it.
    "ERR-401-ExpiredToken": (401, "JWT is expired", "Token has exired."),
    "ERR-401-InvalidToken": (401, "JWT is invalid", "Token is invalid."),
    "ERR-403-RecordUnaccessible": (
        403, "Record Unaccessible Error", "The requested resource isn't accessible.",
    ),
    "ERR-404-RecordNotFound": (
        404, "Record Not Found Error", "The requested resource couldn't be found.",
    ),
    "ERR-422-RecordInvalid": (422, "Record Invalid Error", "The request couldn't be processed."),
    "ERR-422-InvalidTimeFormat": (422, "Invalid Time Format Error", "Invalid time format."),
}  # fmt: skip


class WowzaError(Exception):
    """An error answered in Wowza's `meta` envelope. `description` says what to fix."""

    def __init__(self, code: str, description: str = "", message: str | None = None) -> None:
        status, title, default_message = CATALOGUE[code]
        super().__init__(f"{code}: {description or default_message}")
        self.status, self.code, self.title = status, code, title
        self.message = message or default_message
        self.description = description

    def body(self) -> dict[str, Any]:
        return {
            "meta": {
                "status": self.status,
                "code": self.code,
                "title": self.title,
                "message": self.message,
                "description": self.description,
                "links": [],
            }
        }


def invalid(detail: str) -> WowzaError:
    """ERR-422-RecordInvalid with Wowza's message form: "The request couldn't be processed. …"."""
    message = f"The request couldn't be processed. {detail}"
    return WowzaError("ERR-422-RecordInvalid", detail, message)


# -- instants -------------------------------------------------------------------------------
_TIME = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:[Tt ](?P<hour>\d{2})"
    r"(?::(?P<minute>\d{2})(?::(?P<second>\d{2})(?:[.,](?P<frac>\d{1,9}))?)?)?"
    r"\s*(?P<tz>[Zz]|[+-]\d{2}(?::?\d{2})?)?)?"
)
# An offset whose `+` arrived unencoded in a query string, so it reads as a space.
_SPACE_OFFSET = re.compile(
    r"(?P<head>.*[Tt ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?) (?P<off>\d{2}:?\d{2})"
)


@dataclass(frozen=True, slots=True)
class Instant:
    us: int  # microseconds since the epoch, UTC
    date_only: bool  # given as YYYY-MM-DD


def parse_time(value: str) -> Instant:
    """A `from`/`to` value in any form seen in the wild (vendor-apis.md 3.2):
    `YYYY-MM-DD HH:00:00`, `YYYY-MM-DD`, ISO 8601 with `Z` or an offset (`.sss` allowed).
    Without an offset the time is UTC. Raises WowzaError ERR-422-InvalidTimeFormat."""
    text = value.strip()
    spaced = _SPACE_OFFSET.fullmatch(text)
    if spaced:
        text = f"{spaced['head']}+{spaced['off']}"
    match = _TIME.fullmatch(text)
    if match is None:
        raise _bad_time(value)
    try:
        day = date.fromisoformat(match["date"])
    except ValueError:
        raise _bad_time(value) from None
    if match["hour"] is None:
        if not 2000 <= day.year < 2100:
            raise _bad_time(value)
        return Instant((day - _EPOCH).days * _US_PER_DAY, True)
    frac = (match["frac"] or "").ljust(6, "0")[:6]
    try:
        moment = datetime(
            day.year, day.month, day.day, int(match["hour"]), int(match["minute"] or 0),
            int(match["second"] or 0), int(frac or 0), tzinfo=UTC,
        )  # fmt: skip
    except ValueError:
        raise _bad_time(value) from None
    offset_us = 0
    tz = match["tz"]
    if tz and tz not in "Zz":
        digits = tz[1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:] or 0)
        if hours > 23 or minutes > 59:
            raise _bad_time(value)
        offset_us = (1 if tz[0] == "+" else -1) * (hours * 3600 + minutes * 60) * US_PER_SECOND
    us = (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) - offset_us
    if not 2000 <= moment.year < 2100:
        raise _bad_time(value)
    return Instant(us, False)


def _bad_time(value: str) -> WowzaError:
    return WowzaError(
        "ERR-422-InvalidTimeFormat",
        f"{value!r}: use YYYY-MM-DD HH:00:00 (UTC), YYYY-MM-DD, ISO 8601 with Z or an offset "
        f"(2026-11-22T10:00:00Z), or {LAST_BILL_DATE}",
    )


def iso_ms(seconds: int) -> str:
    """Epoch seconds as Wowza writes instants: `2021-01-07T00:00:00.000Z`."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


# -- billing dates --------------------------------------------------------------------------
def _add_months(day: date, months: int, anchor_day: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(anchor_day, last))


def last_bill_date(anchor: str | None, cycle_months: int, today: date) -> date:
    """The latest billing date on or before `today`: anchor + k x cycle months (k any integer;
    day of month clamped to the month's length). No anchor: the 1st of today's month. A cycle
    of 0 months: the anchor itself."""
    if anchor is None:
        return today.replace(day=1)
    start = date.fromisoformat(anchor)
    if cycle_months <= 0:
        return start
    elapsed = (today.year - start.year) * 12 + today.month - start.month
    k = elapsed // cycle_months
    candidate = _add_months(start, k * cycle_months, start.day)
    while candidate > today:
        k -= 1
        candidate = _add_months(start, k * cycle_months, start.day)
    return candidate


# -- windows --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Window:
    start_hour: int  # hours since the epoch; [start_hour, end_hour)
    end_hour: int
    clamped: bool = False  # `to` was cut to from + 90 days

    @property
    def hours(self) -> int:
        return self.end_hour - self.start_hour


def _ceil_hour(us: int) -> int:
    return -(-us // US_PER_HOUR)


def resolve_window(
    raw_from: str | None,
    raw_to: str | None,
    account: AccountInfo,
    now_us: int,
) -> Window:
    """The applied window of a request (rules in the module docstring)."""
    today = _EPOCH + timedelta(days=now_us // _US_PER_DAY)
    end_of_today = ((today - _EPOCH).days + 1) * 24
    bill = (last_bill_date(account.bill_anchor, account.bill_cycle_months, today) - _EPOCH).days
    bill_hour = bill * 24

    def bound(raw: str) -> int:
        if raw.strip().lower() == LAST_BILL_DATE:
            return bill_hour
        return _ceil_hour(parse_time(raw).us)  # a date alone is its 00:00 UTC: already whole

    start = bound(raw_from) if raw_from else None
    end = bound(raw_to) if raw_to else None
    if start is None and end is None:
        start, end = bill_hour, end_of_today
    elif end is None:
        assert start is not None
        end = min(start + MAX_WINDOW_HOURS, end_of_today)
        if end <= start:
            raise invalid(
                f"from ({iso_ms(start * 3600)}) is after the end of the current day; "
                "pass to as well to look ahead"
            )
    elif start is None:
        # "the past 90 days or from your last invoice date, whichever is shorter"
        start = max(end - MAX_WINDOW_HOURS, bill_hour) if bill_hour < end else None
        start = end - MAX_WINDOW_HOURS if start is None else start
    if end <= start:
        raise invalid(
            f"to ({iso_ms(end * 3600)}) must be after from ({iso_ms(start * 3600)}); both are "
            "rounded up to the hour"
        )
    if end - start > MAX_WINDOW_HOURS:
        return Window(start, start + MAX_WINDOW_HOURS, clamped=True)
    return Window(start, end)


def trend_step(window: Window, now_us: int) -> str:
    """'minute' (up to 3 h, within the minute retention), 'hour' (up to 24 h) or 'day'."""
    if window.hours <= MINUTE_TREND_HOURS:
        oldest_minute_us = now_us - MINUTE_RETENTION_DAYS * _US_PER_DAY
        return "minute" if window.start_hour * US_PER_HOUR >= oldest_minute_us else "hour"
    if window.hours <= HOUR_TREND_HOURS:
        return "hour"
    return "day"


def sample_starts(window: Window, step: str) -> list[int]:
    """First second of every trend sample in the window. Day samples are UTC days; the first
    one starts at `from` when `from` is not midnight."""
    first, last = window.start_hour * 3600, window.end_hour * 3600
    if step == "minute":
        return list(range(first, last, 60))
    if step == "hour":
        return list(range(first, last, 3600))
    starts, day = [first], (first // 86_400 + 1) * 86_400
    while day < last:
        starts.append(day)
        day += 86_400
    return starts


# -- parameters -----------------------------------------------------------------------------
_FILTER_KEY = re.compile(r"filter\[(\d+)\]\[(\w+)\]")


def parse_resources(params: Sequence[tuple[str, str]]) -> tuple[str, ...]:
    """The resources `filter[N][field]=resource` with `eq` or `in` selects (all by default;
    several filters intersect). Raises ERR-422-RecordInvalid on any other filter."""
    filters: dict[int, dict[str, str]] = {}
    for key, value in params:
        if not key.startswith("filter"):
            continue
        match = _FILTER_KEY.fullmatch(key)
        if match is None:
            raise invalid(
                f"{key}: filters are filter[N][field]=resource with filter[N][eq]=transcoders "
                "(or vod_streams), or filter[N][in]=transcoders,vod_streams"
            )
        entry = filters.setdefault(int(match[1]), {})
        if match[2] in entry:
            raise invalid(f"{key} is given twice")
        entry[match[2]] = value
    selected = set(RESOURCES)
    for index in sorted(filters):
        entry = filters[index]
        if entry.get("field") != "resource":
            raise invalid(f"filter[{index}][field] must be resource, got {entry.get('field')!r}")
        operators = sorted(set(entry) - {"field"})
        if operators not in (["eq"], ["in"]):
            raise invalid(f"filter[{index}] needs exactly one operator, eq or in")
        raw = entry[operators[0]]
        values = [v.strip() for v in raw.split(",")] if operators == ["in"] else [raw.strip()]
        unknown = [v for v in values if v not in RESOURCES]
        if unknown or not values:
            raise invalid(
                f"filter[{index}][{operators[0]}]: {raw!r} is not "
                + ("transcoders or vod_streams" if operators == ["eq"] else "a list of them")
            )
        selected &= set(values)
    return tuple(r for r in RESOURCES if r in selected)


def parse_include(raw: str | None) -> bool:
    """Whether `include` asks for the trend (its only valid value)."""
    if raw is None or not raw.strip():
        return False
    values = {v.strip() for v in raw.split(",") if v.strip()}
    unknown = sorted(values - {"trend"})
    if unknown:
        raise invalid(f"include: {', '.join(unknown)} is not valid; the only value is trend")
    return True


def _positive(name: str, raw: str | None, default: int, maximum: int | None = None) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1 or (maximum is not None and value > maximum):
        bound = f"from 1 to {maximum}" if maximum else "1 or more"
        raise invalid(f"{name} must be an integer {bound}, got {raw!r}")
    return value


@dataclass(frozen=True, slots=True)
class Paging:
    per_page: int
    page: int
    next_page_key: str | None


def parse_paging(params: dict[str, str]) -> Paging:
    return Paging(
        _positive("per_page", params.get("per_page"), MAX_PER_PAGE, MAX_PER_PAGE),
        _positive("page", params.get("page"), 1, MAX_PAGE),
        params.get("next_page_key") or None,
    )


@dataclass(frozen=True, slots=True)
class UsageRequest:
    window: Window
    trend: bool
    step: str


def parse_request(
    params: dict[str, str], account: AccountInfo, now_us: int, *, trend_allowed: bool = True
) -> UsageRequest:
    """`from`, `to` and `include` of any usage endpoint."""
    window = resolve_window(params.get("from"), params.get("to"), account, now_us)
    trend = parse_include(params.get("include")) if trend_allowed else False
    return UsageRequest(window, trend, trend_step(window, now_us))


# -- numbers --------------------------------------------------------------------------------
def seconds(us: int) -> int:
    """Microseconds as whole seconds, half to even (sums are rounded once, never per row)."""
    return round_half_even(us, US_PER_SECOND)


def average_seconds(total_us: int, sessions: int) -> int:
    """counting.md 10: viewing seconds / viewer sessions, rounded half to even; 0 when none."""
    return round_half_even(total_us, sessions * US_PER_SECOND) if sessions else 0


def _live(resources: Sequence[str]) -> bool | None:
    if len(resources) == len(RESOURCES):
        return None
    return resources[0] == "transcoders"


def _limits(window: Window) -> dict[str, str]:
    return {"from": iso_ms(window.start_hour * 3600), "to": iso_ms(window.end_hour * 3600)}


def _trend(
    store: Store,
    account: AccountInfo,
    request: UsageRequest,
    *,
    live: bool | None = None,
    kind: str | None = None,
    ids: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    window, step = request.window, request.step
    cells = store.account_usage(
        account.env_keys, window.start_hour, window.end_hour, live=live, kind=kind, ids=ids,
        step=step,
    )  # fmt: skip
    first = window.start_hour * 3600
    by_start = {max(cell.sample_s or 0, first): cell for cell in cells}
    return [
        {
            "sampled_at": iso_ms(start),
            "viewing_seconds": seconds(by_start[start].delivered_us) if start in by_start else 0,
            "viewing_bytes": by_start[start].bytes if start in by_start else 0,
        }
        for start in sample_starts(window, step)
    ]


def _total(cells: list[UsageCell]) -> UsageCell:
    return cells[0] if cells else UsageCell()


# -- /usage/account -------------------------------------------------------------------------
def account_body(
    store: Store,
    account: AccountInfo,
    params: dict[str, str],
    multi: Sequence[tuple[str, str]],
    now_us: int,
) -> dict[str, Any]:
    """`GET /usage/account`: totals of the account's environments, optionally with the trend."""
    request = parse_request(params, account, now_us)
    resources = parse_resources(multi)
    window = request.window
    usage, sessions = UsageCell(), 0
    if resources and account.env_keys:
        live = _live(resources)
        usage = _total(
            store.account_usage(account.env_keys, window.start_hour, window.end_hour, live=live)
        )
        sessions = store.viewer_sessions(
            account.env_keys, window.start_hour, window.end_hour, live=live
        )
    body: dict[str, Any] = {
        "id": account.account_id,
        "viewing_seconds": seconds(usage.delivered_us),
        "avg_viewing_seconds": average_seconds(usage.delivered_us, sessions),
        "viewing_bytes": usage.bytes,
        "egress_seconds": seconds(usage.egress_us),
        "egress_seconds_additional_targets": seconds(usage.egress_additional_us),
        "egress_bytes": usage.egress_bytes,
    }
    if request.trend:
        body["trend"] = (
            _trend(store, account, request, live=_live(resources))
            if resources
            else [
                {"sampled_at": iso_ms(s), "viewing_seconds": 0, "viewing_bytes": 0}
                for s in sample_starts(window, request.step)
            ]
        )
    return {"account": body, "limits": {"resources": list(resources), **_limits(window)}}


# -- the family -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Family:
    """How one Wowza resource maps onto our model (docs/api/wowza-usage.md)."""

    path: str  # URL segment: stream_targets, transcoders, vod_streams
    kind: str  # store resource kind: target, live_stream, asset
    live: bool | None  # usage counted: transcoders only (True), VOD only (False), all (None)
    list_key: str
    item_key: str
    keyset: bool  # next_page_key paging (else page / page_first_index)
    payload_version: str


FAMILIES = {
    "stream_targets": Family(
        "stream_targets", "target", None, "stream_targets", "stream_target", True, "2.0"
    ),
    "transcoders": Family(
        "transcoders", "live_stream", True, "transcoders", "transcoder", False, "1.0"
    ),
    "vod_streams": Family("vod_streams", "asset", False, "vod_streams", "vod_stream", True, "2.0"),
}


def _zones(viewing_bytes: int) -> list[dict[str, Any]]:
    return [{"name": "global", "type": TARGET_TYPE, "viewing_bytes": viewing_bytes}]


def _item(family: Family, resource: ResourceInfo, usage: UsageCell, single: bool) -> dict:
    item: dict[str, Any] = {
        "id": resource.resource_id,
        "name": resource.name,
        "archived": resource.archived,
    }
    if family.path == "transcoders":
        item |= {
            "transcoder_type": TRANSCODER_TYPE,
            "billing_mode": BILLING_MODE,
            "egress_bytes": usage.egress_bytes,
            "egress_seconds": seconds(usage.egress_us),
            "egress_seconds_additional_targets": seconds(usage.egress_additional_us),
        }
        if single:
            item |= {"viewing_seconds": seconds(usage.delivered_us), "viewing_bytes": usage.bytes}
        return item
    item |= {
        "type": TARGET_TYPE,
        "viewing_seconds": seconds(usage.delivered_us),
        "viewing_bytes": usage.bytes,
    }
    if single and family.path == "vod_streams":
        item |= {"egress_bytes": usage.egress_bytes, "egress_seconds": seconds(usage.egress_us)}
    return item


def list_body(
    store: Store, family: Family, account: AccountInfo, params: dict[str, str], now_us: int
) -> dict[str, Any]:
    """`GET /usage/{family}`: every known resource of the account, ordered by id, paged."""
    request = parse_request(params, account, now_us, trend_allowed=False)
    paging = parse_paging(params)
    window, per_page = request.window, paging.per_page
    env_keys = account.env_keys
    if family.keyset and paging.next_page_key is not None:
        rows, total = store.account_resources(
            env_keys, family.kind, from_id=paging.next_page_key, limit=per_page + 1
        )
        offset = None
    else:
        offset = (paging.page - 1) * per_page
        rows, total = store.account_resources(
            env_keys, family.kind, limit=per_page + 1, offset=offset
        )
    page, following = rows[:per_page], rows[per_page:]
    usage: dict[str | None, UsageCell] = {}
    if page:
        cells = store.account_usage(
            env_keys, window.start_hour, window.end_hour, live=family.live, kind=family.kind,
            ids=[r.resource_id for r in page], by_resource=True,
        )  # fmt: skip
        usage = {cell.resource_id: cell for cell in cells}
    items = [_item(family, r, usage.get(r.resource_id, UsageCell()), False) for r in page]
    pagination: dict[str, Any] = {"payload_version": family.payload_version}
    total_pages = -(-total // per_page)
    if family.keyset:
        pagination |= {
            "total_records": total,
            "next_page_key": following[0].resource_id if following else None,
            "per_page": per_page,
            "total_pages": total_pages,
        }
    else:
        first = offset or 0
        pagination |= {
            "total_records": total,
            "page": paging.page,
            "per_page": per_page,
            "total_pages": total_pages,
            "page_first_index": first if items else None,
            "page_last_index": first + len(items) - 1 if items else None,
        }
    return {family.list_key: items, "pagination": pagination, "limits": _limits(window)}


def item_body(
    store: Store,
    family: Family,
    account: AccountInfo,
    resource_id: str,
    params: dict[str, str],
    now_us: int,
) -> dict[str, Any]:
    """`GET /usage/{family}/{id}`; ERR-404-RecordNotFound when the account has no such id."""
    request = parse_request(params, account, now_us)
    found, _ = store.account_resources(account.env_keys, family.kind, ids=[resource_id])
    if not found:
        raise WowzaError(
            "ERR-404-RecordNotFound",
            f"no {family.item_key.replace('_', ' ')} {resource_id!r} in this account",
        )
    window = request.window
    usage = _total(
        store.account_usage(
            account.env_keys, window.start_hour, window.end_hour, live=family.live,
            kind=family.kind, ids=[resource_id],
        )
    )  # fmt: skip
    item = _item(family, found[0], usage, True)
    if request.trend:
        item["trend"] = _trend(
            store, account, request, live=family.live, kind=family.kind, ids=[resource_id]
        )
    if family.path == "stream_targets":
        item["zones"] = _zones(usage.bytes)
    return {family.item_key: item, "limits": _limits(window)}


def summary_body(
    store: Store, family: Family, account: AccountInfo, params: dict[str, str], now_us: int
) -> dict[str, Any]:
    """`GET /usage/{family}/summary`: the sum over every resource of the family."""
    request = parse_request(params, account, now_us, trend_allowed=False)
    window = request.window
    usage = _total(
        store.account_usage(
            account.env_keys, window.start_hour, window.end_hour, live=family.live,
            kind=family.kind,
        )
    )  # fmt: skip
    summary: dict[str, Any]
    if family.path == "stream_targets":
        summary = {
            "viewing_seconds": seconds(usage.delivered_us),
            "viewing_bytes": usage.bytes,
            "zones": _zones(usage.bytes),
        }
    elif family.path == "transcoders":
        egress = {"egress_bytes": usage.egress_bytes, "egress_seconds": seconds(usage.egress_us)}
        summary = egress | {
            "configurations": [
                {"transcoder_type": TRANSCODER_TYPE, "billing_mode": BILLING_MODE} | egress
            ]
        }
    else:
        summary = {
            "viewing_seconds": seconds(usage.delivered_us),
            "viewing_bytes": usage.bytes,
            "egress_seconds": seconds(usage.egress_us),
            "egress_bytes": usage.egress_bytes,
        }
    return {"summary": summary, "limits": _limits(window)}
