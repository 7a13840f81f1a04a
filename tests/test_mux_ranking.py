"""The Mux query's ranking and paging: total descending, then asset_id, with ties.

On ClickHouse each shard ranks its own assets by total and the store orders ties by asset_id
itself (store/clickhouse/delivery.py); thirty assets with equal totals, spread over the
shards, page exactly as the naive order, at every offset, for several page sizes, with and
without the rolling window.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from streammeter.ingest.importer import import_file
from streammeter.model.catalog import Asset
from streammeter.store import open_store

START = int(datetime(2025, 10, 6, tzinfo=UTC).timestamp())
HOURS = 48
RANKED = [f"A{n:02d}" for n in range(40)]
TIERS = ["720p", "1080p", "1440p", "2160p", "audio-only"]


def _records() -> list[dict]:
    records = []

    def segment(asset: str, second: int, duration: float, tier: str) -> None:
        records.append({
            "id": f"r{len(records)}", "timestamp": START + second, "asset_id": asset,
            "duration": duration, "bytes": 1000, "tier": tier,
        })  # fmt: skip

    for k in range(10):  # A00..A09: 12 s .. 48 s, distinct
        for n in range(k + 3):
            segment(RANKED[k], 3600 * n + k, 4, TIERS[n % 5])
    for k in range(10, 40):  # A10..A39: 2 s each, all tied
        segment(RANKED[k], 7 * 3600 + k, 2, TIERS[k % 5])
        segment(RANKED[k], HOURS * 3600 + 60, 6, "720p")  # after the window: not counted
    for n in range(10):  # usage of an asset never registered: never listed
        segment("unregistered", 3600 * n, 6, "720p")
    return records


def _expected() -> list[tuple[str, int]]:
    distinct = [(RANKED[k], (k + 3) * 4_000_000) for k in range(10)]
    return sorted(distinct, key=lambda r: -r[1]) + [(RANKED[k], 2_000_000) for k in range(10, 40)]


@pytest.fixture
def ranked(store, tmp_path: Path):
    env = store.create_environment("prod")
    store.upsert_assets(
        env.env_key, [Asset(asset_id=a, asset_resolution_tier="1080p") for a in RANKED]
    )
    path = tmp_path / "records.ndjson"
    path.write_text("".join(json.dumps(r) + "\n" for r in _records()))
    import_file(store, env.env_key, path)
    return store, env.env_key


def _assert_every_page(store, env_key: int) -> None:
    expected = _expected()
    first = START // 3600
    for limit in (1, 4, 7, 25, 100):
        for offset in range(0, len(expected) + 2):
            rows, count = store.delivery_usage(
                env_key, first, first + HOURS, limit=limit, offset=offset
            )
            assert count == len(expected)
            page = [(r.asset["asset_id"], r.total_us) for r in rows]
            assert page == expected[offset : offset + limit], (limit, offset)
            assert all(sum(r.tiers_us.values()) == r.total_us for r in rows)


def test_ties_are_ordered_by_asset_id_on_every_page(ranked) -> None:
    store, env_key = ranked
    _assert_every_page(store, env_key)


def test_pages_are_the_same_through_the_rolling_window(ranked) -> None:
    store, env_key = ranked
    first = START // 3600
    assert store.set_rolling_window(first, first + HOURS)
    _assert_every_page(store, env_key)
    assert store.set_rolling_window(first + 1, first + HOURS - 2)  # read with edges
    _assert_every_page(store, env_key)


def test_a_catalog_change_elsewhere_shows_in_the_next_page(ranked) -> None:
    """ClickHouse keeps catalog rows of pages by (asset, version): a change written by another
    process (here another store object) is a new version, read at once."""
    store, env_key = ranked
    first = START // 3600
    rows, _ = store.delivery_usage(env_key, first, first + HOURS, limit=2)
    assert [r.asset["passthrough"] for r in rows] == [None, None]
    other = open_store(store.url.redacted()) if hasattr(store, "url") else store
    changed = Asset(asset_id="A08", asset_resolution_tier="1080p", passthrough="renamed")
    other.upsert_assets(env_key, [changed])
    rows, _ = store.delivery_usage(env_key, first, first + HOURS, limit=2)
    assert [(r.asset["asset_id"], r.asset["passthrough"]) for r in rows] == [
        ("A09", None),
        ("A08", "renamed"),
    ]
    if other is not store:
        other.close()


def test_a_live_stream_filter_with_sql_characters_is_only_a_value(ranked) -> None:
    """ClickHouse writes the value into SQL text (%-formatted): `%`, quotes and backslashes
    stay a value that matches nothing."""
    store, env_key = ranked
    first = START // 3600
    for value in ("100%", "x%s", "a'b", "\\", "%(e)s"):
        assert store.delivery_usage(env_key, first, first + HOURS, live_stream_id=value) == ([], 0)
