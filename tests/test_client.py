"""streammeter.client: retries, errors, page iterators (against the live server)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from streammeter.client import ApiError, AsyncClient, Client, ConnectionFailed
from streammeter.ingest.importer import import_file
from streammeter.model.catalog import Asset
from tests.conftest import write_ndjson


def _flaky(statuses):
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        status = statuses[min(len(calls) - 1, len(statuses) - 1)]
        if status != 200:
            return httpx.Response(
                status, headers={"retry-after": "0"},
                json={"error": {"type": "unavailable", "messages": ["busy"]}},
            )  # fmt: skip
        return httpx.Response(200, json={"data": [], "revision": 7, "next_cursor": None})

    return handler, calls


def test_retries_503_then_succeeds():
    handler, calls = _flaky([503, 503, 200])
    with Client("http://sm.test", ("id", "secret"), backoff=0.001,
                transport=httpx.MockTransport(handler)) as client:  # fmt: skip
        changes, revision = client.changes(since=3)
    assert (changes, revision, len(calls)) == ([], 7, 3)
    assert calls[-1].url.params["since"] == "3"
    assert calls[-1].headers["authorization"].startswith("Basic ")


def test_gives_up_with_a_clear_error():
    handler, calls = _flaky([503])
    client = Client("http://sm.test", retries=2, backoff=0.001,
                    transport=httpx.MockTransport(handler))  # fmt: skip
    with client, pytest.raises(ApiError) as info:
        client.changes()
    assert (info.value.status, info.value.type, info.value.messages) == (
        503, "unavailable", ["busy"],
    )  # fmt: skip
    assert len(calls) == 3 and "503 unavailable: busy" in str(info.value)

    def refuse(request):
        raise httpx.ConnectError("refused", request=request)

    client = Client("http://sm.test", retries=1, backoff=0.001,
                    transport=httpx.MockTransport(refuse))  # fmt: skip
    with client, pytest.raises(ConnectionFailed, match="refused"):
        client.changes()


def test_async_client_retries():
    handler, calls = _flaky([429, 200])

    async def main():
        async with AsyncClient("http://sm.test", backoff=0.001,
                               transport=httpx.MockTransport(handler)) as client:  # fmt: skip
            return await client.changes()

    assert asyncio.run(main()) == ([], 7) and len(calls) == 2


def test_iterators_against_the_server(tmp_path, store, tenant, server, monkeypatch):
    monkeypatch.setenv("STREAMMETER_NOW", "2026-11-22T00:00:00Z")
    key = tenant.env.env_key
    store.upsert_assets(key, [Asset(asset_id=f"a{i}", asset_resolution_tier="720p")
                              for i in range(3)])  # fmt: skip
    import_file(store, key, write_ndjson(tmp_path / "r.ndjson", [
        {"timestamp": "2026-11-20T10:00:00Z", "asset_id": f"a{i}", "duration": i + 1}
        for i in range(3)
    ]))  # fmt: skip
    with Client(server.url, tenant.read) as client:
        rows = list(client.iter_usage("2026-11-20T00:00:00Z", "2026-11-21T00:00:00Z",
                                      group_by=["asset"], page_size=2))  # fmt: skip
        assert [(r.asset_id, r.delivered_seconds, r.status) for r in rows] == [
            ("a0", 1.0, "final"), ("a1", 2.0, "final"), ("a2", 3.0, "final"),
        ]  # fmt: skip
        mux = list(client.iter_delivery_usage((1795132800, 1795219200), page_size=2))
        assert sorted((r.asset_id, r.delivered_seconds) for r in mux) == [
            ("a0", 1.0), ("a1", 2.0), ("a2", 3.0),
        ]  # fmt: skip
        changes, revision = client.changes()
        assert [c.hour for c in changes] == ["2026-11-20T10:00:00Z"] and revision >= 1
        explained = client.explain("a1", "2026-11-20T10:00:00Z")
        assert explained["delivered_seconds"] == 2.0
        with pytest.raises(ApiError) as info:
            list(client.iter_usage("soon", "2026-11-21T00:00:00Z"))
        assert info.value.status == 400 and info.value.type == "invalid_parameters"

    async def main():
        async with AsyncClient(server.url, tenant.read) as client:
            return [r async for r in client.iter_usage(
                "2026-11-20T00:00:00Z", "2026-11-21T00:00:00Z", granularity="total")]

    assert [r.delivered_seconds for r in asyncio.run(main())] == [6.0]
