"""The Mux docs example (shared/seeds/001, vendor-apis.md fixture M1), reproduced exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from streammeter.ingest.importer import import_file
from streammeter.sources.catalog import read_assets

FIXTURES = Path(__file__).parent / "fixtures"
WINDOW = [1607817600, 1607990400]
NOW = WINDOW[1] + 12 * 3600  # the earliest clock at which Mux serves this window


@pytest.fixture
def example(store, tenant, monkeypatch):
    monkeypatch.setenv("STREAMMETER_NOW", str(NOW))
    store.upsert_assets(tenant.env.env_key, read_assets(FIXTURES / "mux_example_assets.ndjson"))
    receipt = import_file(store, tenant.env.env_key, FIXTURES / "mux_example_records.ndjson")
    return receipt


def test_receipt_accounts_for_every_line(example):
    assert (example.lines_read, example.accepted, example.duplicate, example.rejected) == (
        56, 54, 1, 1,
    )  # fmt: skip


def test_api_returns_the_docs_example_field_by_field(example, server, tenant):
    expected = json.loads((FIXTURES / "mux_docs_example.json").read_text())
    with server.client(tenant.read) as client:
        response = client.get(
            "/video/v1/delivery-usage",
            params=[("timeframe[]", str(WINDOW[0])), ("timeframe[]", str(WINDOW[1]))],
        )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body == expected
    # Whole seconds stay integers, as in the docs example.
    assert '"tier_1080p":100,' in response.text
    assert '"delivered_seconds":206.366667' in response.text


def test_window_boundaries_are_half_open(example, server, tenant, monkeypatch):
    """The record at t0-1 and the one at exactly the window end are outside."""
    monkeypatch.setenv("STREAMMETER_NOW", str(NOW + 3600))
    with server.client(tenant.read) as client:
        body = client.get(
            "/video/v1/delivery-usage",
            params={"timeframe[]": [str(WINDOW[0] - 3600), str(WINDOW[1] + 3600)]},
        ).json()
    qlb = next(row for row in body["data"] if row["asset_id"].startswith("Qlb"))
    assert qlb["delivered_seconds_by_resolution"] == {
        "tier_1080p": 30, "tier_720p": 10, "tier_audio_only": 10,
    }  # fmt: skip
    assert qlb["delivered_seconds"] == 50
