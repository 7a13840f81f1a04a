"""`GET /video/v1/delivery-usage` parameter rules against a live server (vendor-apis.md 2).

The clock is fixed at NOW = 2020-12-15T12:35:00Z (1608035700). By hand:
- now - 12 h = 1607992500 (00:35Z): the latest allowed end; floor_hour of it = 1607990400.
- default window = [floor_hour(now - 13 h), floor_hour(now - 12 h)] = [1607986800, 1607990400].
- now - 90 days = 1600259700; floor_hour of it = 1600257600: the earliest allowed start.
"""

from __future__ import annotations

import pytest

from streammeter.ingest.importer import import_file
from streammeter.model.catalog import Asset
from tests.conftest import write_ndjson

PATH = "/video/v1/delivery-usage"
NOW = 1607990400 + 12 * 3600 + 2100  # 1608035700
LATEST_END = 1607992500
DEFAULT_WINDOW = [1607986800, 1607990400]
EARLIEST_START = 1600257600
JSON = "application/json"


@pytest.fixture
def seeded(store, tenant, tmp_path, monkeypatch):
    """Three registered assets; usage in the default window and in the hour before it."""
    monkeypatch.setenv("STREAMMETER_NOW", str(NOW))
    env = tenant.env.env_key
    store.upsert_assets(
        env,
        [
            Asset(asset_id="asset-A", asset_resolution_tier="1080p", created_at=1607900000),
            Asset(asset_id="asset-B", asset_resolution_tier="720p", created_at=1607900000),
            Asset(
                asset_id="asset-C", asset_resolution_tier="2160p", created_at=1607900000,
                live_stream_id="live-C",
            ),
        ],
    )  # fmt: skip
    write_ndjson(
        tmp_path / "usage.ndjson",
        [
            # In the default window's hour [1607986800, 1607990400):
            {"id": "a1", "timestamp": 1607987000, "asset_id": "asset-A", "duration": 6},
            {"id": "b1", "timestamp": 1607987001, "asset_id": "asset-B", "duration": 4},
            {"id": "c1", "timestamp": 1607990399, "asset_id": "asset-C", "duration": "1.5"},
            # In the hour before it, [1607983200, 1607986800):
            {"id": "a0", "timestamp": 1607983250, "asset_id": "asset-A", "duration": "2.5"},
            # At the default window's end: outside it.
            {"id": "a2", "timestamp": 1607990400, "asset_id": "asset-A", "duration": 100},
        ],
    )
    receipt = import_file(store, env, tmp_path / "usage.ndjson")
    assert receipt.accepted == 5


def get(server, tenant, params=None, url=PATH):
    with server.client(tenant.read) as client:
        return client.get(url, params=params)


def assert_invalid(response, *fragments):
    """400 invalid_parameters with exactly one message per fragment, in order."""
    assert response.status_code == 400, response.text
    assert JSON in response.headers["content-type"]
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["type"] == "invalid_parameters"
    messages = body["error"]["messages"]
    assert len(messages) == len(fragments), messages
    for message, fragment in zip(messages, fragments, strict=True):
        assert fragment in message, (fragment, message)
    return messages


def tf(start, end):
    return [("timeframe[]", str(start)), ("timeframe[]", str(end))]


# -- the default window and echoes ----------------------------------------------------------
def test_default_window_is_the_13th_to_12th_hour_before_now(seeded, server, tenant):
    response = get(server, tenant)
    assert response.status_code == 200
    assert JSON in response.headers["content-type"]
    body = response.json()
    assert body["timeframe"] == DEFAULT_WINDOW
    assert (body["page"], body["limit"], body["total_row_count"]) == (1, 100, 3)
    assert [(r["asset_id"], r["delivered_seconds"]) for r in body["data"]] == [
        ("asset-A", 6), ("asset-B", 4), ("asset-C", 1.5),
    ]  # fmt: skip
    assert body["data"][2]["delivered_seconds_by_resolution"] == {"tier_2160p": 1.5}
    assert body["data"][2]["live_stream_id"] == "live-C"
    assert '"timeframe":[1607986800,1607990400]' in response.text


def test_default_window_follows_the_clock(seeded, server, tenant, monkeypatch):
    # One hour later the default window is the next hour: only the record at its start.
    monkeypatch.setenv("STREAMMETER_NOW", str(NOW + 3600))
    body = get(server, tenant).json()
    assert body["timeframe"] == [1607990400, 1607994000]
    assert [(r["asset_id"], r["delivered_seconds"]) for r in body["data"]] == [("asset-A", 100)]
    # RFC 3339 clock: at 12:59:59Z the window has not moved yet; at 13:00:00Z it has.
    monkeypatch.setenv("STREAMMETER_NOW", "2020-12-15T12:59:59Z")
    assert get(server, tenant).json()["timeframe"] == DEFAULT_WINDOW
    monkeypatch.setenv("STREAMMETER_NOW", "2020-12-15T13:00:00Z")
    assert get(server, tenant).json()["timeframe"] == [1607990400, 1607994000]


def test_explicit_window_equal_to_the_default(seeded, server, tenant):
    body = get(server, tenant, tf(*DEFAULT_WINDOW)).json()
    assert body["timeframe"] == DEFAULT_WINDOW
    assert body["total_row_count"] == 3


def test_unaligned_timeframe_is_floored_to_the_hour(seeded, server, tenant):
    # 1607983300 floors to 1607983200 (so asset-A's 2.5 s at 1607983250 count);
    # 1607992000 floors to 1607990400 (so asset-A's 100 s at 1607990400 do not).
    response = get(server, tenant, tf(1607983300, 1607992000))
    assert response.status_code == 200
    body = response.json()
    assert body["timeframe"] == [1607983200, 1607990400]
    assert body["data"][0]["asset_id"] == "asset-A"
    assert body["data"][0]["delivered_seconds"] == 8.5
    assert body["data"][0]["delivered_seconds_by_resolution"] == {"tier_1080p": 8.5}


def test_latest_allowed_end_is_now_minus_12_hours(seeded, server, tenant):
    response = get(server, tenant, tf(DEFAULT_WINDOW[0], LATEST_END))
    assert response.status_code == 200
    assert response.json()["timeframe"] == DEFAULT_WINDOW
    assert_invalid(
        get(server, tenant, tf(DEFAULT_WINDOW[0], LATEST_END + 1)),
        "timeframe end (1607992501) is within the last 12 hours",
    )


def test_earliest_allowed_start_is_floor_hour_of_now_minus_90_days(seeded, server, tenant):
    response = get(server, tenant, tf(EARLIEST_START, DEFAULT_WINDOW[1]))
    assert response.status_code == 200
    body = response.json()
    assert body["timeframe"] == [EARLIEST_START, DEFAULT_WINDOW[1]]
    assert body["total_row_count"] == 3
    assert body["data"][0] == body["data"][0] | {"asset_id": "asset-A", "delivered_seconds": 8.5}
    messages = assert_invalid(
        get(server, tenant, tf(EARLIEST_START - 1, DEFAULT_WINDOW[1])),
        "timeframe start (1600257599) is older than 90 days",
    )
    assert "1600257600" in messages[0]


def test_page_past_the_end_is_empty_with_the_total(seeded, server, tenant):
    second = get(server, tenant, [*tf(*DEFAULT_WINDOW), ("limit", "2"), ("page", "2")]).json()
    assert [r["asset_id"] for r in second["data"]] == ["asset-C"]
    assert (second["total_row_count"], second["page"], second["limit"]) == (3, 2, 2)
    response = get(server, tenant, [*tf(*DEFAULT_WINDOW), ("limit", "2"), ("page", "3")])
    assert response.status_code == 200
    assert response.json() == {
        "data": [], "total_row_count": 3, "timeframe": DEFAULT_WINDOW, "page": 3, "limit": 2,
    }  # fmt: skip
    far = get(server, tenant, [("page", "1000")]).json()
    assert (far["data"], far["total_row_count"], far["page"]) == ([], 3, 1000)
    last = get(server, tenant, [("page", "2147483647"), ("limit", "1000")]).json()
    assert (last["data"], last["total_row_count"], last["page"]) == ([], 3, 2147483647)


def test_limit_and_page_are_echoed_as_integers(seeded, server, tenant):
    response = get(server, tenant, [("limit", "1"), ("page", "2")])
    body = response.json()
    assert (body["limit"], body["page"]) == (1, 2)
    assert type(body["limit"]) is int and type(body["page"]) is int
    assert '"page":2' in response.text and '"limit":1' in response.text
    assert all(type(v) is int for v in body["timeframe"])
    assert [r["asset_id"] for r in body["data"]] == ["asset-B"]
    assert get(server, tenant, [("limit", "1000")]).json()["limit"] == 1000


def test_percent_encoded_literal_and_bare_timeframe_forms(seeded, server, tenant):
    a, b = 1607983200, 1607990400
    forms = {
        "encoded": f"{PATH}?timeframe%5B%5D={a}&timeframe%5B%5D={b}",
        "literal": f"{PATH}?timeframe[]={a}&timeframe[]={b}",
        "bare": f"{PATH}?timeframe={a}&timeframe={b}",
    }
    bodies = {}
    for name, url in forms.items():
        response = get(server, tenant, url=url)
        assert response.status_code == 200, (name, response.text)
        bodies[name] = response.json()
    assert get(server, tenant, url=forms["literal"]).request.url.raw_path.endswith(
        f"timeframe[]={b}".encode()
    )
    assert bodies["encoded"] == bodies["literal"] == bodies["bare"]
    assert bodies["encoded"]["timeframe"] == [a, b]
    assert bodies["encoded"]["data"][0]["delivered_seconds"] == 8.5


def test_filters(seeded, server, tenant):
    body = get(server, tenant, [("asset_id", "asset-B")]).json()
    assert [r["asset_id"] for r in body["data"]] == ["asset-B"]
    assert body["total_row_count"] == 1
    body = get(server, tenant, [("live_stream_id", "live-C")]).json()
    assert [r["asset_id"] for r in body["data"]] == ["asset-C"]
    body = get(server, tenant, [("asset_id", "no-such-asset")]).json()
    assert (body["data"], body["total_row_count"]) == ([], 0)


# -- 400 invalid_parameters -----------------------------------------------------------------
def test_both_filters(seeded, server, tenant):
    assert_invalid(
        get(server, tenant, [("asset_id", "asset-A"), ("live_stream_id", "live-C")]),
        "Cannot specify both asset_id and live_stream_id",
    )


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        (["1607986800"], "timeframe needs exactly two values, got 1"),
        (["1607983200", "1607986800", "1607990400"], "timeframe needs exactly two values, got 3"),
    ],
)
def test_timeframe_needs_exactly_two_values(seeded, server, tenant, values, fragment):
    assert_invalid(get(server, tenant, [("timeframe[]", v) for v in values]), fragment)


@pytest.mark.parametrize(
    ("start", "end", "fragments"),
    [
        ("abc", "1607990400", ["timeframe[0] must be Unix epoch seconds, got 'abc'"]),
        ("1607986800", "soon", ["timeframe[1] must be Unix epoch seconds, got 'soon'"]),
        ("1607986800.5", "1607990400", ["timeframe[0] must be Unix epoch seconds"]),
        ("", "", ["timeframe[0] must be Unix epoch seconds", "timeframe[1] must be Unix"]),
    ],
)
def test_timeframe_values_must_be_integers(seeded, server, tenant, start, end, fragments):
    assert_invalid(get(server, tenant, tf(start, end)), *fragments)


@pytest.mark.parametrize(
    ("start", "end"), [(1607986800, 1607986800), (1607990400, 1607986800)]
)
def test_timeframe_end_must_be_after_start(seeded, server, tenant, start, end):
    assert_invalid(
        get(server, tenant, tf(start, end)),
        f"timeframe end ({end}) must be after its start ({start})",
    )


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("limit", "0", "limit must be an integer from 1 to 1000, got 0"),
        ("limit", "1001", "limit must be an integer from 1 to 1000, got 1001"),
        ("limit", "-5", "limit must be an integer from 1 to 1000, got -5"),
        ("limit", "ten", "limit must be an integer from 1 to 1000, got 'ten'"),
        ("page", "0", "page must be an integer from 1 to 2147483647, got 0"),
        ("page", "x", "page must be an integer from 1 to 2147483647, got 'x'"),
        # int32 in the spec; larger pages used to overflow the store's OFFSET (a 500).
        ("page", "2147483648", "page must be an integer from 1 to 2147483647, got 2147483648"),
        ("page", "9223372036854775807", "page must be an integer from 1 to 2147483647"),
    ],
)
def test_bad_limit_or_page(seeded, server, tenant, name, value, fragment):
    assert_invalid(get(server, tenant, [(name, value)]), fragment)


def test_two_problems_give_two_messages(seeded, server, tenant):
    # A window that ends before it starts AND starts more than 90 days ago.
    assert_invalid(
        get(server, tenant, tf(1500000000, 1400000000)),
        "timeframe end (1400000000) must be after its start (1500000000)",
        "timeframe start (1500000000) is older than 90 days",
    )
    # Unrelated parameters: each reports its own problem.
    assert_invalid(
        get(
            server, tenant,
            [("page", "0"), ("limit", "5000"), ("asset_id", "a"), ("live_stream_id", "l"),
             ("timeframe[]", "1")],
        ),
        "page must be an integer from 1 to 2147483647, got 0",
        "limit must be an integer from 1 to 1000",
        "Cannot specify both asset_id and live_stream_id",
        "timeframe needs exactly two values, got 1",
    )  # fmt: skip


def test_a_window_entirely_in_the_future_reports_both_bounds(seeded, server, tenant):
    assert_invalid(
        get(server, tenant, tf(NOW, NOW + 3600)),
        f"timeframe end ({NOW + 3600}) is within the last 12 hours",
    )
    assert_invalid(
        get(server, tenant, tf(1400000000, NOW)),
        "timeframe start (1400000000) is older than 90 days",
        f"timeframe end ({NOW}) is within the last 12 hours",
    )
