"""`streammeter demo` builds a store whose numbers are real and queryable at once."""

from __future__ import annotations

import os

from streammeter.demo import DEMO_END, build_demo, guide
from streammeter.store import open_store
from tests.conftest import LiveServer


def test_demo_store_is_queryable_through_the_api(tmp_path, monkeypatch):
    monkeypatch.delenv("STREAMMETER_NOW", raising=False)
    built = build_demo(str(tmp_path / "demo.duckdb"), assets=40, days=3, seed=1)
    monkeypatch.setenv("STREAMMETER_NOW", os.environ["STREAMMETER_NOW"])  # restored after
    assert built.now == DEMO_END + 12 * 3600
    text = guide(built, "127.0.0.1", 8000)
    assert f"{built.token_id}:{built.token_secret}" in text
    assert "Dashboard: http://127.0.0.1:8000/ " in text and "http://127.0.0.1:8000/docs" in text
    token = (built.token_id, built.token_secret)
    with open_store(built.db) as store, LiveServer(store) as server, server.client(token) as client:
        day = client.get(
            "/video/v1/delivery-usage",
            params={"timeframe[]": [str(built.end - 86_400), str(built.end)], "limit": 1000},
        ).json()
        default = client.get("/video/v1/delivery-usage").json()
        receipts = client.get("/v1/receipts").json()["data"]
    assert day["total_row_count"] == len(day["data"]) > 5
    seconds = [row["delivered_seconds"] for row in day["data"]]
    assert seconds == sorted(seconds, reverse=True)
    for row in day["data"]:
        assert round(sum(row["delivered_seconds_by_resolution"].values()), 6) == row[
            "delivered_seconds"
        ]
    assert default["timeframe"] == [built.end - 3600, built.end]  # the last hour is open
    assert default["total_row_count"] > 0  # and has deliveries
    assert receipts[0]["rejected"] > 0  # the sample has malformed lines, quarantined
