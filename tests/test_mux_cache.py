"""The delivery-usage response cache (query/mux_cache.py): equal to the uncached answer, and
never stale — an import into the window or a catalog change shows at once."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from streammeter.api import create_app
from streammeter.config import Settings
from streammeter.ingest.importer import import_batch, import_file
from streammeter.model.catalog import Asset
from streammeter.query.mux_cache import UsageCache
from streammeter.sources.catalog import read_assets
from streammeter.store import generations

# The cache is off on ClickHouse (write_generations() is None there).
pytestmark = pytest.mark.duckdb_only

FIXTURES = Path(__file__).parent / "fixtures"
WINDOW = [1607817600, 1607990400]
NOW = WINDOW[1] + 12 * 3600
PARAMS = {"timeframe[]": [str(WINDOW[0]), str(WINDOW[1])]}
FRESH = "fresh-asset-0001"


def _records(first: int, n: int, ts: int, asset_id: str = FRESH, height: int = 720) -> bytes:
    return "\n".join(
        json.dumps(
            {
                "id": f"cache-{first + i}",
                "timestamp": ts + 6 * i,
                "asset_id": asset_id,
                "duration": 6,
                "width": height * 16 // 9,
                "height": height,
                "bytes": 1000,
            }
        )
        for i in range(n)
    ).encode()


@pytest.fixture
def example(store, tenant, monkeypatch):
    monkeypatch.setenv("STREAMMETER_NOW", str(NOW))
    env = tenant.env.env_key
    store.upsert_assets(env, read_assets(FIXTURES / "mux_example_assets.ndjson"))
    store.upsert_assets(
        env,
        [
            Asset.model_validate(
                {
                    "asset_id": FRESH,
                    "created_at": WINDOW[0] - 86_400,
                    "asset_state": "ready",
                    "asset_duration": 60.0,
                    "asset_resolution_tier": "720p",
                }
            )
        ],
    )
    import_file(store, env, FIXTURES / "mux_example_records.ndjson")
    import_batch(store, env, _records(0, 10, WINDOW[0] + 7_200))
    return store


def _apps(store):
    cached = create_app(store, Settings())
    plain = create_app(store, Settings(mux_cache_mb=0))
    return TestClient(cached), TestClient(plain), cached


def _get(client, token, **extra):
    response = client.get("/video/v1/delivery-usage", params=PARAMS | extra, auth=token)
    assert response.status_code == 200, response.text
    return response


def _cache(app) -> UsageCache:
    return app.state.mux_usage_cache


def test_cached_answers_equal_uncached(example, tenant):
    cached, plain, app = _apps(example)
    for extra in ({}, {"limit": "1"}, {"limit": "1", "page": "2"}, {"asset_id": FRESH},
                  {"page": "9"}):  # fmt: skip
        first = _get(cached, tenant.read, **extra)
        again = _get(cached, tenant.read, **extra)
        reference = _get(plain, tenant.read, **extra)
        assert first.content == again.content == reference.content
        assert first.headers["content-type"] == reference.headers["content-type"]
    stats = _cache(app).stats
    assert (stats.misses, stats.hits) == (5, 5)
    assert not hasattr(plain.app.state, "mux_usage_cache")


def test_an_import_into_the_window_shows_at_once(example, tenant):
    cached, plain, app = _apps(example)
    before = _get(cached, tenant.read).json()
    _get(cached, tenant.read)
    import_batch(example, tenant.env.env_key, _records(100, 5, WINDOW[0] + 3_600, height=1080))
    after = _get(cached, tenant.read)
    assert after.content == _get(plain, tenant.read).content
    fresh = lambda body: next(r for r in body["data"] if r["asset_id"] == FRESH)  # noqa: E731
    assert fresh(after.json())["delivered_seconds"] == fresh(before)["delivered_seconds"] + 30
    assert fresh(after.json())["delivered_seconds_by_resolution"]["tier_1080p"] == 30


def test_an_import_through_the_api_shows_at_once(example, tenant):
    cached, plain, _ = _apps(example)
    _get(cached, tenant.read)
    response = cached.post(
        "/v1/events", content=_records(200, 3, WINDOW[1] - 60), auth=tenant.ingest
    )
    assert response.status_code == 200, response.text
    assert _get(cached, tenant.read).content == _get(plain, tenant.read).content


def test_an_import_outside_the_window_keeps_the_entry(example, tenant):
    cached, _, app = _apps(example)
    first = _get(cached, tenant.read)
    checks = _cache(app).stats.revision_checks
    import_batch(example, tenant.env.env_key, _records(300, 5, NOW - 600))  # current traffic
    assert _get(cached, tenant.read).content == first.content
    stats = _cache(app).stats
    assert (stats.misses, stats.hits) == (1, 1)
    # The import's floor (the lowest hour it changed) is after the window: nothing re-read.
    assert stats.revision_checks == checks


def test_writes_not_remembered_make_the_revisions_read_again(example, tenant, monkeypatch):
    """More writes than are remembered since the window was checked: their floors are not
    known, so the window's revisions are read again (and the entry kept: they did not move)."""
    monkeypatch.setattr(generations, "RECENT_WRITES", 3)  # 256: too many imports for a test
    cached, _, app = _apps(example)
    first = _get(cached, tenant.read)
    checks = _cache(app).stats.revision_checks
    for n in range(3):
        import_batch(example, tenant.env.env_key, _records(1000 + n, 1, NOW - 600))
    assert _get(cached, tenant.read).content == first.content
    assert _cache(app).stats.revision_checks == checks  # three: still remembered
    for n in range(4):
        import_batch(example, tenant.env.env_key, _records(2000 + n, 1, NOW - 600))
    assert _get(cached, tenant.read).content == first.content
    assert _cache(app).stats.revision_checks == checks + 1


def test_delete_asset_shows_at_once(example, tenant):
    cached, plain, _ = _apps(example)
    before = next(r for r in _get(cached, tenant.read).json()["data"] if r["asset_id"] == FRESH)
    assert before["asset_state"] == "ready" and "deleted_at" not in before
    assert example.delete_asset(tenant.env.env_key, FRESH, NOW - 100)
    after = _get(cached, tenant.read)
    assert after.content == _get(plain, tenant.read).content
    row = next(r for r in after.json()["data"] if r["asset_id"] == FRESH)
    assert (row["asset_state"], row["deleted_at"]) == ("deleted", str(NOW - 100))


def test_asset_upsert_shows_at_once(example, tenant):
    cached, plain, _ = _apps(example)
    _get(cached, tenant.read)
    assets = read_assets(FIXTURES / "mux_example_assets.ndjson")
    changed = [a.model_copy(update={"asset_duration": 1.5, "passthrough": "p"}) for a in assets]
    example.upsert_assets(tenant.env.env_key, changed)
    after = _get(cached, tenant.read)
    assert after.content == _get(plain, tenant.read).content
    durations = {r["asset_id"]: r["asset_duration"] for r in after.json()["data"]}
    assert {durations[a.asset_id] for a in assets} == {1.5}


def test_a_revoked_token_is_refused_at_once(example, tenant):
    cached, _, _ = _apps(example)
    _get(cached, tenant.read)
    _get(cached, tenant.read)
    assert example.revoke_token(tenant.read[0])
    response = cached.get("/video/v1/delivery-usage", params=PARAMS, auth=tenant.read)
    assert response.status_code == 401
    wrong = (tenant.read[0], tenant.read[1] + "x")
    assert cached.get("/video/v1/delivery-usage", params=PARAMS, auth=wrong).status_code == 401
    refused = cached.get("/video/v1/delivery-usage", params=PARAMS, auth=tenant.ingest)
    assert refused.status_code == 403


def test_event_batches_use_the_memo_and_check_scope_and_revocation_each_time(example, tenant):
    cached, _, _ = _apps(example)
    body = b'[{"timestamp": 1607987000, "asset_id": "memo", "duration": 2}]'
    _get(cached, tenant.read)  # the read token is now remembered
    refused = cached.post("/v1/events", content=body, auth=tenant.read)
    assert refused.status_code == 403  # remembered, but without the ingest scope
    for _ in range(2):  # the second is answered from the memo
        posted = cached.post("/v1/events", content=body, auth=tenant.ingest)
        assert posted.status_code == 200
    assert posted.json()["data"]["already_imported"] is True
    assert example.revoke_token(tenant.ingest[0])
    assert cached.post("/v1/events", content=body, auth=tenant.ingest).status_code == 401


def test_the_cache_is_bounded_by_bytes(example, tenant):
    cached, plain, app = _apps(example)
    one = len(_get(plain, tenant.read, limit="1").content)
    cache = _cache_for(app, example, max_bytes=one * 3 // 2)
    for page in ("1", "2", "3", "1", "2", "3"):
        body = _get(cached, tenant.read, limit="1", page=page).content
        assert body == _get(plain, tenant.read, limit="1", page=page).content
    assert 0 < cache.size_bytes <= one * 3 // 2
    assert cache.stats.evictions >= 3 and cache.stats.hits == 0


def _cache_for(app, store, max_bytes: int) -> UsageCache:
    cache = UsageCache(store, max_bytes)
    app.state.mux_usage_cache = cache
    return cache


def test_writes_in_other_threads_are_seen(example, tenant):
    """Writes from any thread move the store's write generations; imports only the first."""
    cached, plain, app = _apps(example)
    _get(cached, tenant.read)
    generation, catalog = example.write_generations()
    worker = threading.Thread(
        target=import_batch,
        args=(example, tenant.env.env_key, _records(400, 4, WINDOW[0] + 10_800, height=2160)),
    )
    worker.start()
    worker.join()
    assert example.write_generations()[0] > generation
    assert example.write_generations()[1] == catalog
    assert _get(cached, tenant.read).content == _get(plain, tenant.read).content
