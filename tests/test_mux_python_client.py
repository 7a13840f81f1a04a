"""Mux's official Python client (mux-python 5.1.2), unchanged, against a live server."""

from __future__ import annotations

from pathlib import Path

import mux_python
import pytest
from mux_python.exceptions import UnauthorizedException
from mux_python.rest import ApiException

from streammeter.ingest.importer import import_file
from streammeter.sources.catalog import read_assets

FIXTURES = Path(__file__).parent / "fixtures"
WINDOW = ["1607817600", "1607990400"]
W = "Ww4v2q2H4MNbHIAM2wApKb3cmrh7eHjGLUjdKohR5wM"
Q = "Qlb007on1TwN43XLIG027QJlUxm3jd01v5PRi1aXhnyFZY"
LIVE = "B65hEUWW01ErVKDDGImKcBquYhwEAkjW6Ic3lPY0299Cc"


@pytest.fixture
def api(store, tenant, server, monkeypatch):
    monkeypatch.setenv("STREAMMETER_NOW", str(1607990400 + 12 * 3600))
    store.upsert_assets(tenant.env.env_key, read_assets(FIXTURES / "mux_example_assets.ndjson"))
    import_file(store, tenant.env.env_key, FIXTURES / "mux_example_records.ndjson")
    config = mux_python.Configuration(host=server.url)
    config.username, config.password = tenant.read
    with mux_python.ApiClient(config) as client:
        yield mux_python.DeliveryUsageApi(client)


def test_timeframe(api):
    response = api.list_delivery_usage(timeframe=WINDOW)
    assert response.total_row_count == 2
    assert response.timeframe == [1607817600, 1607990400]
    assert response.limit == 100
    first, second = response.data
    assert (first.asset_id, first.live_stream_id, first.asset_state) == (W, LIVE, "deleted")
    assert first.delivered_seconds == 206.366667
    tiers = first.delivered_seconds_by_resolution
    assert (tiers.tier_1080p, tiers.tier_720p, tiers.tier_audio_only) == (100, 100, 6.366667)
    assert tiers.tier_1440p is None and tiers.tier_2160p is None
    assert (first.created_at, first.deleted_at) == ("1607939184", "1607945257")
    assert (first.asset_encoding_tier, first.asset_video_quality) == ("baseline", "basic")
    assert first.asset_duration == 154.366667
    assert (second.asset_id, second.delivered_seconds, second.asset_video_quality) == (
        Q,
        30,
        "plus",
    )
    assert second.live_stream_id is None


def test_asset_id_filter(api):
    response = api.list_delivery_usage(timeframe=WINDOW, asset_id=Q)
    assert [row.asset_id for row in response.data] == [Q]
    assert response.total_row_count == 1
    assert response.data[0].delivered_seconds_by_resolution.tier_720p == 10


def test_live_stream_id_filter(api):
    response = api.list_delivery_usage(timeframe=WINDOW, live_stream_id=LIVE)
    assert [row.asset_id for row in response.data] == [W]
    assert response.total_row_count == 1
    assert api.list_delivery_usage(timeframe=WINDOW, live_stream_id="nope").data == []


def test_paging(api):
    page1 = api.list_delivery_usage(timeframe=WINDOW, limit=1, page=1)
    page2 = api.list_delivery_usage(timeframe=WINDOW, limit=1, page=2)
    page3 = api.list_delivery_usage(timeframe=WINDOW, limit=1, page=3)
    assert [r.asset_id for r in page1.data] == [W]
    assert [r.asset_id for r in page2.data] == [Q]
    assert page3.data == []
    assert (page1.total_row_count, page2.total_row_count, page3.total_row_count) == (2, 2, 2)
    assert page2.limit == 1


def test_errors_raise_the_clients_exceptions(api, tenant):
    with pytest.raises(ApiException) as bad:
        api.list_delivery_usage(timeframe=WINDOW, asset_id=W, live_stream_id=LIVE)
    assert bad.value.status == 400
    assert '"invalid_parameters"' in bad.value.body
    api.api_client.configuration.password = "wrong"
    with pytest.raises(UnauthorizedException):
        api.list_delivery_usage(timeframe=WINDOW)
