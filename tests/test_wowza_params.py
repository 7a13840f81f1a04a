"""Wowza usage parameters, without a server: `from`/`to` forms and rounding, `last_bill_date`,
defaults, the 90-day clamp, filters, `include`, trend granularity (docs/api/wowza-usage.md)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from streammeter.query.wowza import (
    Window,
    WowzaError,
    iso_ms,
    last_bill_date,
    parse_include,
    parse_paging,
    parse_resources,
    parse_time,
    resolve_window,
    sample_starts,
    trend_step,
)
from streammeter.store.base import AccountInfo

NOW = datetime(2026, 11, 22, 12, 30, tzinfo=UTC)
NOW_US = int(NOW.timestamp()) * 1_000_000
ACCOUNT = AccountInfo("acme", 0, "2026-01-15", 1, ("env",), (1,))
NO_ANCHOR = AccountInfo("acme", 0, None, 1, ("env",), (1,))


def hour(text: str) -> int:
    """Hours since the epoch of an ISO instant (UTC)."""
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()) // 3600


def window(raw_from: str | None, raw_to: str | None, account: AccountInfo = ACCOUNT) -> Window:
    return resolve_window(raw_from, raw_to, account, NOW_US)


def limits(w: Window) -> tuple[str, str]:
    return iso_ms(w.start_hour * 3600), iso_ms(w.end_hour * 3600)


# -- from / to forms ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-11-20 10:00:00", "2026-11-20T10:00:00.000Z"),  # the reference's form (UTC)
        ("2026-11-20+10:00:00", None),  # `+` for a space would be decoded before; not a form
        ("2026-11-20T10:00:00Z", "2026-11-20T10:00:00.000Z"),
        ("2026-11-20T10:00:00.000Z", "2026-11-20T10:00:00.000Z"),
        ("2026-11-20T10:00:00z", "2026-11-20T10:00:00.000Z"),
        ("2026-11-20T10:00:00", "2026-11-20T10:00:00.000Z"),  # no offset: UTC
        ("2026-11-20T05:00:00-05:00", "2026-11-20T10:00:00.000Z"),  # Java SDK's offset form
        ("2026-11-20T15:30:00+05:30", "2026-11-20T10:00:00.000Z"),
        ("2026-11-20T15:00:00 05:00", "2026-11-20T10:00:00.000Z"),  # unencoded `+` -> space
        ("2026-11-20T15:00:00+0500", "2026-11-20T10:00:00.000Z"),
        ("2026-11-20 10:00", "2026-11-20T10:00:00.000Z"),
    ],
)
def test_time_forms(raw, expected):
    if expected is None:
        with pytest.raises(WowzaError) as caught:
            parse_time(raw)
        assert caught.value.code == "ERR-422-InvalidTimeFormat"
        return
    instant = parse_time(raw)
    assert not instant.date_only
    assert iso_ms(instant.us // 1_000_000) == expected


def test_date_only_form():
    instant = parse_time("2022-04-07")
    assert instant.date_only
    assert iso_ms(instant.us // 1_000_000) == "2022-04-07T00:00:00.000Z"


@pytest.mark.parametrize(
    "raw",
    ["yesterday", "1700000000", "2026-13-01", "2026-02-30", "2026-11-20T25:00:00Z",
     "2026-11-20T10:00:00+24:00", "2026-11-20T10:61:00Z", "1999-12-31", "2026/11/20", ""],
)  # fmt: skip
def test_bad_times_are_422_invalid_time_format(raw):
    with pytest.raises(WowzaError) as caught:
        parse_time(raw)
    assert (caught.value.status, caught.value.code) == (422, "ERR-422-InvalidTimeFormat")
    body = caught.value.body()["meta"]
    assert body["title"] == "Invalid Time Format Error"
    assert body["message"] == "Invalid time format."
    assert body["links"] == []


# -- rounding -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw_from", "raw_to", "expected"),
    [
        # Whole hours stay.
        ("2026-11-20 10:00:00", "2026-11-20 12:00:00",
         ("2026-11-20T10:00:00.000Z", "2026-11-20T12:00:00.000Z")),
        # Minutes and seconds round UP to the hour, on both ends.
        ("2026-11-20 10:00:01", "2026-11-20 12:59:59",
         ("2026-11-20T11:00:00.000Z", "2026-11-20T13:00:00.000Z")),
        ("2026-11-20T10:30:00Z", "2026-11-20T12:30:00.000Z",
         ("2026-11-20T11:00:00.000Z", "2026-11-20T13:00:00.000Z")),
        # A date alone is its midnight, on both ends: from=Nov 20 & to=Nov 21 is one day.
        ("2026-11-20", "2026-11-21",
         ("2026-11-20T00:00:00.000Z", "2026-11-21T00:00:00.000Z")),
        ("2026-11-20", "2026-11-20 10:00:00",
         ("2026-11-20T00:00:00.000Z", "2026-11-20T10:00:00.000Z")),
        # Offsets are converted before rounding.
        ("2026-11-20T10:15:00+05:30", "2026-11-20T12:00:00-01:00",
         ("2026-11-20T05:00:00.000Z", "2026-11-20T13:00:00.000Z")),
    ],
)  # fmt: skip
def test_rounding(raw_from, raw_to, expected):
    assert limits(window(raw_from, raw_to)) == expected


def test_consecutive_windows_tile_hours():
    """Windows that share a boundary share its (rounded) hour: nothing twice, nothing lost."""
    edges = ["2026-11-19", "2026-11-20", "2026-11-20T09:10:00Z", "2026-11-20T10:45:00Z",
             "2026-11-20 13:00:00", "2026-11-20T14:00:01+00:00", "2026-11-21"]  # fmt: skip
    windows = [window(a, b) for a, b in zip(edges, edges[1:], strict=False)]
    covered = [h for w in windows for h in range(w.start_hour, w.end_hour)]
    assert covered == list(range(hour("2026-11-19T00:00:00Z"), hour("2026-11-21T00:00:00Z")))


def test_window_collapsing_to_nothing_is_422_record_invalid():
    with pytest.raises(WowzaError) as caught:
        window("2026-11-20T10:10:00Z", "2026-11-20T10:50:00Z")  # both round up to 11:00
    assert caught.value.code == "ERR-422-RecordInvalid"
    assert caught.value.message.startswith("The request couldn't be processed.")
    for raw_from, raw_to in (("2026-11-21", "2026-11-20"), ("2026-11-20", "2026-11-20")):
        with pytest.raises(WowzaError) as caught:
            window(raw_from, raw_to)
        assert caught.value.code == "ERR-422-RecordInvalid"


# -- last_bill_date -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("anchor", "cycle", "today", "expected"),
    [
        (None, 1, date(2026, 11, 22), date(2026, 11, 1)),  # default: the 1st of the month
        ("2026-01-15", 1, date(2026, 11, 22), date(2026, 11, 15)),
        ("2026-01-15", 1, date(2026, 11, 14), date(2026, 10, 15)),
        ("2026-01-15", 1, date(2026, 11, 15), date(2026, 11, 15)),
        ("2026-01-31", 1, date(2026, 3, 5), date(2026, 2, 28)),  # clamped to the month's end
        ("2026-01-31", 1, date(2026, 3, 31), date(2026, 3, 31)),
        ("2027-03-10", 1, date(2026, 11, 22), date(2026, 11, 10)),  # anchor ahead: cycles back
        ("2026-02-10", 3, date(2026, 11, 22), date(2026, 11, 10)),  # quarterly
        ("2026-02-10", 3, date(2026, 11, 9), date(2026, 8, 10)),
        ("2026-09-03", 0, date(2026, 11, 22), date(2026, 9, 3)),  # no cycle: the date itself
    ],
)
def test_last_bill_date(anchor, cycle, today, expected):
    assert last_bill_date(anchor, cycle, today) == expected


def test_last_bill_date_as_from_and_as_to():
    # As `from` (anchor 2026-01-15: last bill date 2026-11-15).
    assert limits(window("last_bill_date", "2026-11-20 00:00:00")) == (
        "2026-11-15T00:00:00.000Z", "2026-11-20T00:00:00.000Z",
    )  # fmt: skip
    # As `to`.
    assert limits(window("2026-11-01", "last_bill_date")) == (
        "2026-11-01T00:00:00.000Z", "2026-11-15T00:00:00.000Z",
    )  # fmt: skip
    # On both sides: an empty window.
    with pytest.raises(WowzaError) as caught:
        window("last_bill_date", "last_bill_date")
    assert caught.value.code == "ERR-422-RecordInvalid"
    # Without an anchor: the 1st of the month.
    assert limits(window("last_bill_date", None, NO_ANCHOR))[0] == "2026-11-01T00:00:00.000Z"


# -- defaults and the 90-day maximum --------------------------------------------------------
def test_defaults_are_last_bill_date_to_end_of_today():
    assert limits(window(None, None)) == ("2026-11-15T00:00:00.000Z", "2026-11-23T00:00:00.000Z")
    assert limits(window("", "")) == ("2026-11-15T00:00:00.000Z", "2026-11-23T00:00:00.000Z")


def test_from_alone_runs_90_days_or_to_end_of_today():
    assert limits(window("2026-11-20 00:00:00", None))[1] == "2026-11-23T00:00:00.000Z"
    assert limits(window("2026-05-01", None)) == (
        "2026-05-01T00:00:00.000Z", "2026-07-30T00:00:00.000Z",  # 90 days
    )  # fmt: skip
    with pytest.raises(WowzaError) as caught:
        window("2026-12-01", None)  # after the end of today, with nothing to end it
    assert caught.value.code == "ERR-422-RecordInvalid"


def test_to_alone_starts_at_last_bill_date_or_90_days_before():
    assert limits(window(None, "2026-11-20 06:00:00")) == (
        "2026-11-15T00:00:00.000Z", "2026-11-20T06:00:00.000Z",
    )  # fmt: skip
    assert limits(window(None, "2026-11-10 00:00:00")) == (  # before the last bill date
        "2026-08-12T00:00:00.000Z", "2026-11-10T00:00:00.000Z",
    )  # fmt: skip


def test_longer_than_90_days_is_clamped_and_echoed():
    w = window("2026-01-01", "2026-12-31")
    assert w.clamped and w.hours == 90 * 24
    assert limits(w) == ("2026-01-01T00:00:00.000Z", "2026-04-01T00:00:00.000Z")
    exactly = window("2026-08-25", "2026-11-23")  # 90 whole days
    assert not exactly.clamped and exactly.hours == 90 * 24


# -- filters and include --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ([], ("transcoders", "vod_streams")),
        ([("filter[0][field]", "resource"), ("filter[0][eq]", "vod_streams")], ("vod_streams",)),
        ([("filter[0][field]", "resource"), ("filter[0][eq]", "transcoders")], ("transcoders",)),
        ([("filter[0][field]", "resource"), ("filter[0][in]", "transcoders,vod_streams")],
         ("transcoders", "vod_streams")),
        ([("filter[0][field]", "resource"), ("filter[0][in]", "vod_streams")], ("vod_streams",)),
        ([("filter[0][field]", "resource"), ("filter[0][in]", "transcoders,vod_streams"),
          ("filter[1][field]", "resource"), ("filter[1][eq]", "transcoders")], ("transcoders",)),
        ([("filter[0][field]", "resource"), ("filter[0][eq]", "transcoders"),
          ("filter[1][field]", "resource"), ("filter[1][eq]", "vod_streams")], ()),
        ([("from", "2026-11-01"), ("per_page", "3")], ("transcoders", "vod_streams")),
    ],
)  # fmt: skip
def test_filters(params, expected):
    assert parse_resources(params) == expected


@pytest.mark.parametrize(
    "params",
    [
        [("filter[0][field]", "name"), ("filter[0][eq]", "vod_streams")],
        [("filter[0][field]", "resource"), ("filter[0][eq]", "assets")],
        [("filter[0][field]", "resource"), ("filter[0][eq]", "transcoders,vod_streams")],
        [("filter[0][field]", "resource"), ("filter[0][in]", "transcoders,live")],
        [("filter[0][field]", "resource"), ("filter[0][gt]", "transcoders")],
        [("filter[0][field]", "resource")],
        [("filter[0][eq]", "transcoders")],
        [("filter[0][field]", "resource"), ("filter[0][eq]", "transcoders"),
         ("filter[0][in]", "vod_streams")],
        [("filter0", "resource"), ("filter0", "vod_streams")],  # the mangled docs rendering
        [("filter", "vod_streams")],
    ],
)  # fmt: skip
def test_bad_filters_are_422_record_invalid(params):
    with pytest.raises(WowzaError) as caught:
        parse_resources(params)
    assert (caught.value.status, caught.value.code) == (422, "ERR-422-RecordInvalid")


def test_include():
    assert parse_include(None) is False
    assert parse_include("") is False
    assert parse_include("trend") is True
    assert parse_include("trend, trend") is True
    with pytest.raises(WowzaError) as caught:
        parse_include("trend,zones")
    assert caught.value.code == "ERR-422-RecordInvalid"


def test_paging_bounds():
    assert parse_paging({}).per_page == 1000
    assert parse_paging({"per_page": "1000", "page": "3"}).page == 3
    for bad in ({"per_page": "1001"}, {"per_page": "0"}, {"page": "0"}, {"page": "two"}):
        with pytest.raises(WowzaError) as caught:
            parse_paging(bad)
        assert caught.value.code == "ERR-422-RecordInvalid"


# -- trend granularity ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw_from", "raw_to", "step", "samples"),
    [
        ("2026-11-22 09:00:00", "2026-11-22 12:00:00", "minute", 180),  # 3 h
        ("2026-11-22 09:00:00", "2026-11-22T12:00:01Z", "hour", 4),  # 3 h + 1 s -> 13:00
        ("2026-11-21 12:00:00", "2026-11-22 12:00:00", "hour", 24),  # 24 h
        ("2026-11-21 12:00:00", "2026-11-22T12:00:01Z", "day", 2),  # 24 h + 1 s -> 25 h
        ("2026-08-25", "2026-11-23", "day", 90),  # 90 days
        ("2026-10-01 09:00:00", "2026-10-01 12:00:00", "hour", 3),  # older than 30 days
    ],
)
def test_trend_granularity(raw_from, raw_to, step, samples):
    w = window(raw_from, raw_to)
    assert trend_step(w, NOW_US) == step
    starts = sample_starts(w, step)
    assert len(starts) == samples
    assert starts[0] == w.start_hour * 3600
    assert all(s < w.end_hour * 3600 for s in starts)


def test_day_samples_start_at_from_then_midnights():
    w = window("2026-11-20 15:00:00", "2026-11-22 06:00:00")
    assert [iso_ms(s) for s in sample_starts(w, "day")] == [
        "2026-11-20T15:00:00.000Z", "2026-11-21T00:00:00.000Z", "2026-11-22T00:00:00.000Z",
    ]  # fmt: skip


def test_minute_trend_within_retention_only():
    thirty_days_ago = hour("2026-10-23T12:00:00Z")  # NOW - 30 days, rounded down
    inside = Window(thirty_days_ago + 1, thirty_days_ago + 4)
    outside = Window(thirty_days_ago - 1, thirty_days_ago + 2)
    assert trend_step(inside, NOW_US) == "minute"
    assert trend_step(outside, NOW_US) == "hour"
