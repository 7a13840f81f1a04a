"""GET /v1/usage: local-time buckets (DST, half-hour offsets), group-by, formats, finality."""

from __future__ import annotations

import csv
import io
import json

import pyarrow.parquet as pq
import pytest

from streammeter.ingest.importer import import_file
from streammeter.model.catalog import Asset
from streammeter.query import usage as q
from tests.conftest import write_ndjson


def _import(store, tenant, tmp_path, name, records):
    return import_file(store, tenant.env.env_key, write_ndjson(tmp_path / name, records))


def _rec(ts, duration, asset="a", tier="720p", **extra):
    return {"timestamp": ts, "asset_id": asset, "duration": duration, "tier": tier, **extra}


def _get(server, tenant, **params):
    with server.client(tenant.read) as http:
        response = http.get("/v1/usage", params=params)
    assert response.status_code == 200, response.text
    return response


def _by_bucket(body):
    return [(r["bucket_start"], r["bucket_end"], r["delivered_seconds"]) for r in body["data"]]


def test_new_york_dst_day_has_23_hours(tmp_path, store, tenant, server, monkeypatch):
    monkeypatch.setenv("STREAMMETER_NOW", "2026-04-01T00:00:00Z")
    _import(store, tenant, tmp_path, "ny.ndjson", [
        _rec("2026-03-08T04:30:00Z", 1),     # Sat 7 23:30 EST
        _rec("2026-03-08T05:00:00Z", 2),     # Sun 8 00:00 EST
        _rec("2026-03-09T03:59:59Z", 4),     # Sun 8 23:59:59 EDT
        _rec("2026-03-09T04:00:00Z", 8),     # Mon 9 00:00 EDT
    ])  # fmt: skip
    body = _get(
        server, tenant, **{"from": "2026-03-07T00:00:00-05:00", "to": "2026-03-10T00:00:00-04:00",
                           "granularity": "day", "timezone": "America/New_York"},
    ).json()  # fmt: skip
    assert _by_bucket(body) == [
        ("2026-03-07T00:00:00-05:00", "2026-03-08T00:00:00-05:00", 1.0),
        ("2026-03-08T00:00:00-05:00", "2026-03-09T00:00:00-04:00", 6.0),
        ("2026-03-09T00:00:00-04:00", "2026-03-10T00:00:00-04:00", 8.0),
    ]
    assert {r["status"] for r in body["data"]} == {"final"}
    assert body["data"][1]["delivered_seconds_by_tier"] == {"720p": 6.0}


def test_kolkata_half_hour_offset_splits_utc_hours(tmp_path, store, tenant, server, monkeypatch):
    monkeypatch.setenv("STREAMMETER_NOW", "2026-11-22T00:00:00Z")
    _import(store, tenant, tmp_path, "in.ndjson", [
        _rec("2026-11-19T18:10:00Z", 1),     # 19 Nov 23:40 IST
        _rec("2026-11-19T18:40:00Z", 2),     # 20 Nov 00:10 IST (same UTC hour as above)
        _rec("2026-11-20T10:00:00Z", 16),    # 20 Nov 15:30 IST (a whole UTC hour)
        _rec("2026-11-20T18:29:00Z", 4),     # 20 Nov 23:59 IST
        _rec("2026-11-20T18:31:00Z", 8),     # 21 Nov 00:01 IST
    ])  # fmt: skip
    body = _get(
        server, tenant, **{"from": "2026-11-19T00:00:00+05:30", "to": "2026-11-22T00:00:00+05:30",
                           "granularity": "day", "timezone": "Asia/Kolkata"},
    ).json()  # fmt: skip
    assert _by_bucket(body) == [
        ("2026-11-19T00:00:00+05:30", "2026-11-20T00:00:00+05:30", 1.0),
        ("2026-11-20T00:00:00+05:30", "2026-11-21T00:00:00+05:30", 22.0),
        ("2026-11-21T00:00:00+05:30", "2026-11-22T00:00:00+05:30", 8.0),
    ]
    # 20 Nov IST ends 18:30Z on the 20th; +24 h settle < now. 21 Nov IST ends 18:30Z on the 21st.
    assert [r["status"] for r in body["data"]] == ["final", "final", "provisional"]
    hourly = _get(
        server, tenant, **{"from": "2026-11-19T23:00:00+05:30", "to": "2026-11-20T01:00:00+05:30",
                           "granularity": "hour", "timezone": "Asia/Kolkata"},
    ).json()  # fmt: skip
    assert _by_bucket(hourly) == [
        ("2026-11-19T23:00:00+05:30", "2026-11-20T00:00:00+05:30", 1.0),
        ("2026-11-20T00:00:00+05:30", "2026-11-20T01:00:00+05:30", 2.0),
    ]


def test_lord_howe_half_hour_dst_shift(tmp_path, store, tenant, server, monkeypatch):
    monkeypatch.setenv("STREAMMETER_NOW", "2026-05-01T00:00:00Z")
    # 5 Apr 2026 02:00 LHDT (+11) -> 01:30 LHST (+10:30): a 24.5-hour local day.
    _import(store, tenant, tmp_path, "lh.ndjson", [
        _rec("2026-04-04T12:59:00Z", 1),     # 4 Apr 23:59 +11
        _rec("2026-04-04T13:00:00Z", 2),     # 5 Apr 00:00 +11
        _rec("2026-04-05T13:15:00Z", 4),     # 5 Apr 23:45 +10:30
        _rec("2026-04-05T13:45:00Z", 8),     # 6 Apr 00:15 +10:30
    ])  # fmt: skip
    body = _get(
        server, tenant, **{"from": "2026-04-04T00:00:00+11:00", "to": "2026-04-07T00:00:00+10:30",
                           "granularity": "day", "timezone": "Australia/Lord_Howe"},
    ).json()  # fmt: skip
    assert _by_bucket(body) == [
        ("2026-04-04T00:00:00+11:00", "2026-04-05T00:00:00+11:00", 1.0),
        ("2026-04-05T00:00:00+11:00", "2026-04-06T00:00:00+10:30", 6.0),
        ("2026-04-06T00:00:00+10:30", "2026-04-07T00:00:00+10:30", 8.0),
    ]
    total = _get(
        server, tenant, **{"from": "2026-04-04T00:00:00+11:00", "to": "2026-04-07T00:00:00+10:30",
                           "granularity": "total", "timezone": "Australia/Lord_Howe"},
    ).json()  # fmt: skip
    assert _by_bucket(total) == [
        ("2026-04-04T00:00:00+11:00", "2026-04-07T00:00:00+10:30", 15.0)
    ]


def test_plan_reads_whole_hours_from_rollups_and_edges_from_records():
    params = q.parse_params(
        "2026-11-19T00:00:00+05:30", "2026-11-21T00:00:00+05:30", "day", "Asia/Kolkata",
        [], [], [], [],
    )  # fmt: skip
    plan = q.plan(params)
    assert len(plan.buckets) == 2
    half = 1_800_000_000
    # each bucket: 18:30-19:00Z from records, whole hours from rollups, 18:00-18:30Z from records
    assert [(lo % (2 * half), hi - lo, idx) for lo, hi, idx in plan.partials] == [
        (half, half, 0), (0, half, 0), (half, half, 1), (0, half, 1)
    ]
    assert {table for table, *_ in plan.ranges} == {"usage_hour"}
    ny = q.boundaries(
        q.parse_params("2026-11-01T00:00:00-04:00", "2026-11-02T00:00:00-05:00", "day",
                       "America/New_York", [], [], [], []).start_us,
        q.parse_params("2026-11-01T00:00:00-04:00", "2026-11-02T00:00:00-05:00", "day",
                       "America/New_York", [], [], [], []).end_us,
        "day", "America/New_York",
    )  # fmt: skip
    assert (ny[1] - ny[0]) // 3_600_000_000 == 25


@pytest.fixture
def grouped(tmp_path, store, tenant, monkeypatch):
    monkeypatch.setenv("STREAMMETER_NOW", "2026-11-22T00:00:00Z")
    store.upsert_assets(tenant.env.env_key, [
        Asset(asset_id="a", asset_resolution_tier="720p"),
        Asset(asset_id="b", asset_resolution_tier="1080p", live_stream_id="ls1"),
    ])  # fmt: skip
    _import(store, tenant, tmp_path, "g.ndjson", [
        _rec("2026-11-20T10:00:00Z", 6, "a", "720p", bytes=100),
        _rec("2026-11-20T10:05:00Z", 4, "a", "1080p", bytes=50),
        _rec("2026-11-20T11:00:00Z", 2, "b", "1080p", bytes=10, live=True),
        _rec("2026-11-21T09:00:00Z", 3, "b", "2160p", bytes=7, live=True),
        {"timestamp": "2026-11-21T09:30:00Z", "asset_id": "a", "duration": 5, "tier": "720p",
         "kind": "egress", "bytes": 1000},
    ])  # fmt: skip
    return {"from": "2026-11-20T00:00:00Z", "to": "2026-11-22T00:00:00Z"}


def test_group_by_combinations(server, tenant, grouped):
    body = _get(server, tenant, **grouped, granularity="total", group_by="asset").json()
    rows = {r["asset_id"]: r for r in body["data"]}
    assert rows["a"]["delivered_seconds"] == 10.0
    assert rows["a"]["delivered_seconds_by_tier"] == {"720p": 6.0, "1080p": 4.0}
    assert (rows["a"]["bytes"], rows["a"]["egress_seconds"], rows["a"]["egress_bytes"]) == (
        150, 5.0, 1000,
    )  # fmt: skip
    assert rows["a"]["requests"] == 3
    assert rows["b"]["delivered_seconds_by_tier"] == {"1080p": 2.0, "2160p": 3.0}

    body = _get(server, tenant, **grouped, group_by=["tier", "resource"]).json()
    got = [(r["bucket_start"], r["tier"], r["resource"], r["delivered_seconds"])
           for r in body["data"] if r["delivered_seconds"]]  # fmt: skip
    assert got == [
        ("2026-11-20T00:00:00Z", "720p", "vod_streams", 6.0),
        ("2026-11-20T00:00:00Z", "1080p", "transcoders", 2.0),
        ("2026-11-20T00:00:00Z", "1080p", "vod_streams", 4.0),
        ("2026-11-21T00:00:00Z", "2160p", "transcoders", 3.0),
    ]
    assert all("delivered_seconds_by_tier" not in r for r in body["data"])

    body = _get(
        server, tenant, **grouped, granularity="total",
        group_by="live_stream,environment", tier=["1080p", "2160p"],
    ).json()  # fmt: skip
    assert [(r["live_stream_id"], r["environment"], r["delivered_seconds"])
            for r in body["data"]] == [
        (None, tenant.env.environment_id, 4.0), ("ls1", tenant.env.environment_id, 5.0),
    ]  # fmt: skip

    body = _get(server, tenant, **grouped, granularity="total", asset_id="b").json()
    assert [r["delivered_seconds"] for r in body["data"]] == [5.0]
    body = _get(server, tenant, **grouped, granularity="total", live_stream_id="ls1").json()
    assert [r["delivered_seconds"] for r in body["data"]] == [5.0]


def test_cursor_pagination(server, tenant, grouped):
    seen, cursor = [], None
    while True:
        params = {**grouped, "granularity": "hour", "group_by": "asset", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        body = _get(server, tenant, **params).json()
        seen += [(r["bucket_start"], r["asset_id"]) for r in body["data"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert seen == [
        ("2026-11-20T10:00:00Z", "a"), ("2026-11-20T11:00:00Z", "b"),
        ("2026-11-21T09:00:00Z", "a"), ("2026-11-21T09:00:00Z", "b"),
    ]  # fmt: skip
    assert body["total_row_count"] == 4
    with server.client(tenant.read) as http:
        bad = http.get("/v1/usage", params={**grouped, "cursor": cursor or "zzz"})
    assert bad.status_code == 400


def test_formats_agree(server, tenant, grouped):
    base = {**grouped, "granularity": "day", "group_by": "asset"}
    rows = _get(server, tenant, **base).json()["data"]
    ndjson = _get(server, tenant, **base, format="ndjson").text.splitlines()
    assert [json.loads(line) for line in ndjson] == rows
    text = _get(server, tenant, **base, format="csv").text
    table = list(csv.DictReader(io.StringIO(text)))
    assert [(r["asset_id"], float(r["delivered_seconds"]), float(r["delivered_seconds_1080p"]))
            for r in table] == [
        (r["asset_id"], r["delivered_seconds"], r["delivered_seconds_by_tier"].get("1080p", 0.0))
        for r in rows
    ]  # fmt: skip
    with server.client(tenant.read) as http:
        response = http.get("/v1/usage", params=base, headers={"accept": "application/x-ndjson"})
        assert response.headers["content-type"].startswith("application/x-ndjson")
        parquet = http.get("/v1/usage", params={**base, "format": "parquet"})
    read = pq.read_table(io.BytesIO(parquet.content)).to_pylist()
    assert [(r["asset_id"], r["delivered_seconds"], r["bytes"], r["requests"]) for r in read] == [
        (r["asset_id"], r["delivered_seconds"], r["bytes"], r["requests"]) for r in rows
    ]


def test_invalid_parameters(server, tenant):
    with server.client(tenant.read) as http:
        response = http.get("/v1/usage", params={"from": "x", "to": "2026-01-01T00:00:00Z",
                                                 "timezone": "Mars/Olympus", "group_by": "cat"})
    assert response.status_code == 400
    messages = " ".join(response.json()["error"]["messages"])
    assert "from" in messages and "timezone" in messages and "group_by" in messages


def test_months_read_month_and_day_rollups(tmp_path, store, tenant, server, monkeypatch):
    monkeypatch.setenv("STREAMMETER_NOW", "2027-02-01T00:00:00Z")
    _import(store, tenant, tmp_path, "m.ndjson", [
        _rec("2026-10-15T12:00:00Z", 1),
        _rec("2026-11-01T03:30:00Z", 2),     # 31 Oct 23:30 in New York (EDT)
        _rec("2026-11-15T12:00:00Z", 4),
        _rec("2026-12-01T04:30:00Z", 8),     # 30 Nov 23:30 in New York (EST)
    ])  # fmt: skip
    utc = {"from": "2026-09-01T00:00:00Z", "to": "2027-01-01T00:00:00Z", "granularity": "month"}
    params = q.parse_params(utc["from"], utc["to"], "month", "UTC", [], [], [], [])
    assert {table for table, *_ in q.plan(params).ranges} == {"usage_month"}
    assert [r["delivered_seconds"] for r in _get(server, tenant, **utc).json()["data"]] == [
        1.0, 6.0, 8.0,
    ]  # fmt: skip
    ny = {**utc, "from": "2026-10-01T00:00:00-04:00", "timezone": "America/New_York"}
    body = _get(server, tenant, **ny).json()
    assert _by_bucket(body) == [
        ("2026-10-01T00:00:00-04:00", "2026-11-01T00:00:00-04:00", 3.0),
        ("2026-11-01T00:00:00-04:00", "2026-12-01T00:00:00-05:00", 12.0),
    ]
