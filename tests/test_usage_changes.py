"""Revisions and the change feed (counting.md 8), and explaining a number."""

from __future__ import annotations

from streammeter.ingest.importer import import_file
from streammeter.model.catalog import Asset
from tests.conftest import write_ndjson

H10 = "2026-11-20T10:00:00Z"


def _import(store, tenant, tmp_path, name, records):
    return import_file(store, tenant.env.env_key, write_ndjson(tmp_path / name, records))


def _changes(server, tenant, since):
    with server.client(tenant.read) as http:
        response = http.get("/v1/usage/changes", params={"since": since})
    assert response.status_code == 200, response.text
    return response.json()


def test_late_import_into_a_final_hour_is_in_the_change_feed(
    tmp_path, store, tenant, server, monkeypatch
):
    key = tenant.env.env_key
    monkeypatch.setenv("STREAMMETER_NOW", "2026-11-20T12:00:00Z")
    store.upsert_assets(key, [Asset(asset_id="a", asset_resolution_tier="720p")])
    _import(store, tenant, tmp_path, "1.ndjson", [
        {"timestamp": "2026-11-20T10:15:00Z", "asset_id": "a", "duration": 6},
        {"timestamp": "2026-11-20T11:15:00Z", "asset_id": "a", "duration": 4},
    ])  # fmt: skip
    first = _changes(server, tenant, 0)
    rev = first["revision"]
    assert [(c["hour"], c["revision"], c["status"]) for c in first["data"]] == [
        (H10, rev, "provisional"), ("2026-11-20T11:00:00Z", rev, "provisional"),
    ]  # fmt: skip
    with server.client(tenant.read) as http:
        usage = http.get("/v1/usage", params={
            "from": H10, "to": "2026-11-20T11:00:00Z", "granularity": "hour"}).json()
    assert (usage["data"][0]["status"], usage["data"][0]["revision"]) == ("provisional", rev)

    # Three days later the hour is final; a late record lands in it.
    monkeypatch.setenv("STREAMMETER_NOW", "2026-11-23T12:00:00Z")
    assert _changes(server, tenant, rev)["data"] == []
    _import(store, tenant, tmp_path, "late.ndjson", [
        {"timestamp": "2026-11-20T10:45:00Z", "asset_id": "a", "duration": 2},
    ])  # fmt: skip
    later = _changes(server, tenant, rev)
    assert later["revision"] == rev + 1
    assert [(c["hour"], c["revision"], c["status"]) for c in later["data"]] == [
        (H10, rev + 1, "final")
    ]
    with server.client(tenant.read) as http:
        usage = http.get("/v1/usage", params={
            "from": H10, "to": "2026-11-20T11:00:00Z", "granularity": "hour"}).json()
    assert [(r["status"], r["revision"], r["delivered_seconds"]) for r in usage["data"]] == [
        ("final", rev + 1, 8.0)
    ]

    # Identical numbers bump nothing: a rebuild, a catalog upsert that changes no attribution.
    store.rebuild()
    store.upsert_assets(key, [Asset(asset_id="a", asset_resolution_tier="720p", passthrough="x")])
    assert store.usage_revision() == rev + 1
    # A catalog change that moves seconds to another tier does.
    store.upsert_assets(key, [Asset(asset_id="a", asset_resolution_tier="1080p")])
    moved = _changes(server, tenant, rev + 1)
    assert [(c["hour"], c["revision"]) for c in moved["data"]] == [
        (H10, rev + 2), ("2026-11-20T11:00:00Z", rev + 2),
    ]  # fmt: skip
    # A re-import of the same file is a no-op.
    _import(store, tenant, tmp_path, "late.ndjson", [
        {"timestamp": "2026-11-20T10:45:00Z", "asset_id": "a", "duration": 2},
    ])  # fmt: skip
    assert store.usage_revision() == rev + 2


def test_changes_are_per_environment_and_paged(tmp_path, store, tenant, server, monkeypatch):
    monkeypatch.setenv("STREAMMETER_NOW", "2026-11-21T00:00:00Z")
    _import(store, tenant, tmp_path, "m.ndjson", [
        {"timestamp": f"2026-11-20T{h:02d}:00:00Z", "asset_id": "a", "duration": 1}
        for h in range(5)
    ])  # fmt: skip
    with server.client(tenant.read) as http:
        hours, cursor = [], None
        while True:
            params = {"since": 0, "limit": 2} | ({"cursor": cursor} if cursor else {})
            body = http.get("/v1/usage/changes", params=params).json()
            hours += [c["hour"] for c in body["data"]]
            cursor = body["next_cursor"]
            if not cursor:
                break
    assert hours == [f"2026-11-20T{h:02d}:00:00Z" for h in range(5)]
    other = store.create_environment("other")
    assert store.usage_changes(other.env_key, 0) == []


def test_explain_returns_the_receipts_and_lines(tmp_path, store, tenant, server, monkeypatch):
    key = tenant.env.env_key
    monkeypatch.setenv("STREAMMETER_NOW", "2026-11-21T00:00:00Z")
    store.upsert_assets(key, [
        Asset(asset_id="a", asset_resolution_tier="720p", playback_ids=["pbA"]),
        Asset(asset_id="b", asset_resolution_tier="720p"),
    ])  # fmt: skip
    one = _import(store, tenant, tmp_path, "one.ndjson", [
        {"timestamp": "2026-11-20T09:59:00Z", "asset_id": "a", "duration": 100},  # other hour
        {"timestamp": "2026-11-20T10:01:00Z", "asset_id": "a", "duration": 6, "bytes": 10},
        {"timestamp": "2026-11-20T10:02:00Z", "asset_id": "b", "duration": 6},    # other asset
        {"timestamp": "2026-11-20T10:03:00Z", "asset_id": "a", "duration": 4, "tier": "1080p"},
        {"timestamp": "2026-11-20T10:04:00Z", "playback_id": "pbA", "duration": 2, "bytes": 5},
    ])  # fmt: skip
    two = _import(store, tenant, tmp_path, "two.ndjson", [
        {"timestamp": "2026-11-20T10:30:00Z", "asset_id": "a", "duration": 3},
    ])  # fmt: skip
    with server.client(tenant.read) as http:
        body = http.get("/v1/usage/explain", params={
            "asset_id": "a", "hour": "2026-11-20T10:00:00Z", "tier": "720p"}).json()["data"]
        everything = http.get("/v1/usage/explain", params={
            "asset_id": "a", "hour": "2026-11-20T10:59:59Z"}).json()["data"]
    assert (body["delivered_seconds"], body["records"], body["bytes"]) == (11.0, 3, 15)
    assert [(r["receipt_id"], r["first_line"], r["last_line"], r["records"],
             r["delivered_seconds"]) for r in body["receipts"]] == [
        (one.receipt_id, 2, 5, 2, 8.0), (two.receipt_id, 1, 1, 1, 3.0),
    ]  # fmt: skip
    assert body["receipts"][0]["name"].endswith("one.ndjson")
    assert everything["delivered_seconds"] == 15.0 and everything["tier"] is None
    with server.client(tenant.read) as http:
        usage = http.get("/v1/usage", params={
            "from": "2026-11-20T10:00:00Z", "to": "2026-11-20T11:00:00Z", "granularity": "total",
            "group_by": ["asset", "tier"], "asset_id": "a"}).json()["data"]  # fmt: skip
    assert [(r["tier"], r["delivered_seconds"]) for r in usage] == [("720p", 11.0), ("1080p", 4.0)]
