"""The Mux query's window cover (query/windows.signed_cover) and the per-asset rollups.

The store reads a window as signed parts: edge hours, days, Monday weeks and months, a ragged
month as the month minus its hours outside the window. These tests check the cover hour by hour,
then the store's pages against a naive GROUP BY over the hourly rows, for windows of every
shape, before and after a catalog change, `compact()`, `rebuild()` and a migration.
"""

from __future__ import annotations

import json
import random
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from streammeter.api import create_app
from streammeter.config import Settings
from streammeter.ingest.importer import import_file
from streammeter.model.catalog import Asset
from streammeter.model.times import month_start_hour, next_month_start_hour
from streammeter.query.delivery_usage import widest_window
from streammeter.query.windows import rolling_split, signed_cover, week_start_hour
from streammeter.store import open_store

_SPAN = {"hour": 1, "day": 24, "week": 168}
_LEVEL_OF = {"usage_hour": "hour", "usage_day": "day", "usage_month": "month", "rolling": "rolling"}


def _hours(parts: list[tuple[str, int, int, int]]) -> dict[int, int]:
    """How many times each hour is counted by the parts (weights that are not 0)."""
    weight: dict[int, int] = {}
    for level, lo, hi, sign in parts:
        bucket = lo
        while bucket < hi:
            if level == "rolling":  # one total over its whole interval
                end = hi
            elif level == "month":
                assert month_start_hour(bucket) == bucket
                end = next_month_start_hour(bucket)
            else:
                assert bucket % _SPAN[level] == 0 or level == "week"
                if level == "week":
                    assert week_start_hour(bucket) == bucket
                end = bucket + _SPAN[level]
            for hour in range(bucket, end):
                weight[hour] = weight.get(hour, 0) + sign
            bucket = end
        assert bucket == hi, (level, lo, hi)
    return {hour: w for hour, w in weight.items() if w}


def test_week_starts_on_monday() -> None:
    monday = int(datetime(2025, 11, 17, tzinfo=UTC).timestamp()) // 3600
    assert week_start_hour(monday) == monday
    assert week_start_hour(monday + 167) == monday
    assert week_start_hour(monday - 1) == monday - 168


def test_cover_counts_every_hour_of_the_window_exactly_once() -> None:
    rng = random.Random(7)
    base = int(datetime(2024, 12, 20, tzinfo=UTC).timestamp()) // 3600
    lengths = [1, 5, 24, 30, 200, 24 * 7, 24 * 40, 24 * 90]
    for _ in range(2_000):
        start = base + rng.randrange(24 * 400)
        end = start + rng.choice([*lengths, rng.randrange(1, 24 * 200)])
        now = end + rng.choice([0, 12, 13, 100, 24 * 30, -5])
        assert _hours(signed_cover(start, end, now)) == dict.fromkeys(range(start, end), 1)
    assert signed_cover(base, base, base) == []


def test_a_window_near_the_rolling_window_reads_it_and_its_edges_exactly() -> None:
    rng = random.Random(5)
    base = int(datetime(2025, 1, 3, 7, tzinfo=UTC).timestamp()) // 3600
    used = 0
    for _ in range(2_000):
        lo = base + rng.randrange(24 * 300)
        hi = lo + rng.choice([24 * 90 - 12, 24 * 90, rng.randrange(1, 24 * 120)])
        start = lo + rng.choice([0, 0, -1, 1, -30, 47, rng.randrange(-24 * 30, 24 * 30)])
        end = hi + rng.choice([0, 0, -1, 1, -13, 40, rng.randrange(-24 * 30, 24 * 30)])
        if end <= start:
            continue
        parts = signed_cover(start, end, end + 12, rolling=(lo, hi))
        assert _hours(parts) == dict.fromkeys(range(start, end), 1), (start, end, lo, hi)
        used += any(level == "rolling" for level, *_ in parts)
        tables = rolling_split(start, end, (lo, hi))  # ClickHouse: no per-asset levels
        assert _hours([(_LEVEL_OF[t], a, b, sign) for t, a, b, sign in tables]) == dict.fromkeys(
            range(start, end), 1
        )
        assert any(t == "rolling" for t, *_ in tables) == any(p[0] == "rolling" for p in parts)
    assert used > 500
    assert rolling_split(10, 20, None) == [("usage_hour", 10, 20, 1)]
    widest = (base, base + 24 * 90 - 12)
    assert signed_cover(*widest, widest[1] + 12, rolling=widest) == [("rolling", *widest, 1)]
    assert signed_cover(widest[0], widest[1] - 1, widest[1] + 12, rolling=widest) == [
        ("rolling", *widest, 1),
        ("hour", widest[1] - 1, widest[1], -1),
    ]  # ending an hour earlier: the total minus its last hour
    one_day = signed_cover(widest[1] - 24, widest[1], widest[1] + 12, rolling=widest)
    assert all(level != "rolling" for level, *_ in one_day)  # far from it: the calendar


def test_a_mux_window_reads_its_last_month_as_the_month_minus_half_a_day() -> None:
    end = int(datetime(2025, 11, 17, 14, tzinfo=UTC).timestamp()) // 3600
    nov, dec = month_start_hour(end), next_month_start_hour(end)
    parts = signed_cover(end - 90 * 24, end, now_hour=end + 12)
    assert ("month", nov, dec, 1) in parts
    negative = [p for p in parts if p[3] < 0]
    assert negative[0] == ("hour", end, end + 10, -1)  # to Nov 18 00:00
    assert [p[0] for p in negative[1:]] == ["day", "week"]  # Nov 18-23, then Nov 24-Dec 1
    # Long after the window, a month is subtracted from only when what lies after the window
    # is the smaller part: Nov 1-10 is added day by day, Nov 17-30 is subtracted.
    early = end - 7 * 24
    later = signed_cover(early - 90 * 24, early, dec + 24 * 60)
    assert ("month", nov, dec, 1) not in later
    assert all(sign > 0 for _, lo, _, sign in later if lo >= nov)
    assert ("month", nov, dec, 1) in signed_cover(end - 90 * 24, end, dec + 24 * 60)


BASE = int(datetime(2025, 9, 24, 5, tzinfo=UTC).timestamp())  # spans Sep, Oct, Nov
SPAN_HOURS = 24 * 75
ASSETS = [f"asset-{n:02d}" for n in range(12)]
TIERS = ["720p", "1080p", "1440p", "2160p", "audio-only"]


def _records(seed: int) -> list[dict]:
    rng = random.Random(seed)
    records = []
    for n in range(1_500):
        asset = ASSETS[min(int(rng.paretovariate(1.0)) - 1, len(ASSETS) - 1)]
        record = {
            "id": f"r{seed}-{n}",
            "timestamp": BASE + rng.randrange(SPAN_HOURS * 3600),
            "asset_id": asset,
            "duration": rng.choice([2, 4, 6, 6.006]),
            "bytes": rng.randrange(1_000, 2_000_000),
        }
        kind = rng.random()
        if kind < 0.6:
            record["tier"] = rng.choice(TIERS)
        elif kind < 0.7:
            record["track"] = "audio"
        elif kind < 0.75:
            record["kind"] = "manifest"
        elif kind < 0.8:
            record["status"] = 404
        # else: the tier is inferred from the catalog
        records.append(record)
    return records


def _catalog(tier_shift: int) -> list[Asset]:
    return [
        Asset(asset_id=asset, asset_resolution_tier=TIERS[(n + tier_shift) % len(TIERS)])
        for n, asset in enumerate(ASSETS[:-1])  # the last asset is never registered
    ]


NAIVE_SQL = """
    SELECT a.asset_id, h.t1, h.t2, h.t3, h.t4, h.t5, h.total
    FROM (
        SELECT asset_key,
               sum(delivered_us) FILTER (WHERE tier = 1) AS t1,
               sum(delivered_us) FILTER (WHERE tier = 2) AS t2,
               sum(delivered_us) FILTER (WHERE tier = 3) AS t3,
               sum(delivered_us) FILTER (WHERE tier = 4) AS t4,
               sum(delivered_us) FILTER (WHERE tier = 5) AS t5,
               sum(delivered_us) AS total
        FROM usage_hour
        WHERE env_key = ? AND bucket >= ? AND bucket < ? AND tier > 0 AND asset_key IS NOT NULL
        GROUP BY asset_key
    ) h JOIN assets a USING (asset_key)
    WHERE h.total > 0
    ORDER BY h.total DESC, a.asset_id
"""


NAIVE_CLICKHOUSE_SQL = """
    SELECT asset_id, t1, t2, t3, t4, t5, total
    FROM (
        SELECT asset_key, sumIf(delivered_us, tier = 1) AS t1, sumIf(delivered_us, tier = 2) AS t2,
               sumIf(delivered_us, tier = 3) AS t3, sumIf(delivered_us, tier = 4) AS t4,
               sumIf(delivered_us, tier = 5) AS t5, sum(delivered_us) AS total
        FROM usage_hour
        WHERE env_key = {e} AND bucket >= {s} AND bucket < {t} AND tier > 0 AND asset_key != 0
        GROUP BY asset_key HAVING total > 0
    ) AS h
    ANY INNER JOIN (SELECT DISTINCT asset_key, asset_id FROM assets WHERE env_key = {e}) AS a
    USING (asset_key)
    ORDER BY total DESC, asset_id
"""


def _naive(store, env_key: int, start: int, end: int) -> list[tuple]:
    if hasattr(store, "_q"):  # ClickHouse
        rows = store._q(NAIVE_CLICKHOUSE_SQL.format(e=env_key, s=start, t=end))
    else:
        rows = store._cursor().execute(NAIVE_SQL, [env_key, start, end]).fetchall()
    return [(r[0], *(int(v) if v else None for v in r[1:6]), int(r[6])) for r in rows]


def _ours(store, env_key: int, start: int, end: int) -> list[tuple]:
    rows, total = store.delivery_usage(env_key, start, end, limit=1_000)
    page = [
        (r.asset["asset_id"], *(r.tiers_us.get(c) for c in range(1, 6)), r.total_us) for r in rows
    ]
    assert total == len(page)
    return page


def _windows() -> list[tuple[int, int, int]]:
    """(start, end, now) hours: aligned and ragged, within a month and across months."""
    rng = random.Random(11)
    first, last = BASE // 3600, BASE // 3600 + SPAN_HOURS
    windows = [(first - 5, last + 5, last + 30), (first, last, last)]
    for _ in range(40):
        start = rng.randrange(first - 48, last)
        end = min(start + rng.choice([1, 7, 24, 24 * 8, 24 * 35, 24 * 60, 24 * 90]), last + 48)
        windows.append((start, end, end + rng.choice([0, 12, 24 * 3, 24 * 50])))
    return windows


@pytest.fixture
def populated(store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The store (DuckDB, then ClickHouse) with a catalog and two imports."""
    monkeypatch.setenv("STREAMMETER_NOW", str(BASE + SPAN_HOURS * 3600 + 13 * 3600))
    env = store.create_environment("prod")
    store.upsert_assets(env.env_key, _catalog(0))
    for seed in (1, 2):
        path = tmp_path / f"records-{seed}.ndjson"
        path.write_text("".join(json.dumps(r) + "\n" for r in _records(seed)))
        import_file(store, env.env_key, path)
    return store, env.env_key


def _assert_pages_match(store, env_key: int, monkeypatch: pytest.MonkeyPatch) -> None:
    checked = 0
    for start, end, now in _windows():
        monkeypatch.setenv("STREAMMETER_NOW", str(now * 3600))
        expected = _naive(store, env_key, start, end)
        assert _ours(store, env_key, start, end) == expected, (start, end, now)
        checked += bool(expected)
    assert checked > 30  # most windows hold usage: the comparison is not vacuous


def test_pages_equal_the_naive_query(populated, monkeypatch) -> None:
    store, env_key = populated
    _assert_pages_match(store, env_key, monkeypatch)


def test_pages_follow_catalog_changes_compaction_and_rebuild(populated, monkeypatch) -> None:
    store, env_key = populated
    store.upsert_assets(env_key, _catalog(2))  # every asset changes tier: retract, reassert
    _assert_pages_match(store, env_key, monkeypatch)
    store.compact()
    _assert_pages_match(store, env_key, monkeypatch)
    store.rebuild()
    _assert_pages_match(store, env_key, monkeypatch)


@pytest.mark.duckdb_only  # the per-asset levels of the DuckDB store
def test_rebuild_keeps_the_asset_rollups(populated) -> None:
    store, env_key = populated
    store.upsert_assets(env_key, _catalog(2))
    store.compact()
    before = store._cursor().execute("SELECT * FROM asset_usage_week ORDER BY ALL").fetchall()
    store.rebuild()
    after = store._cursor().execute("SELECT * FROM asset_usage_week ORDER BY ALL").fetchall()
    assert after == before


def test_pages_with_a_rolling_window_through_imports_changes_and_rebuild(
    populated, tmp_path, monkeypatch
) -> None:
    store, env_key = populated
    first, last = BASE // 3600, BASE // 3600 + SPAN_HOURS
    assert store.set_rolling_window(first + 20, last - 7)
    assert not store.set_rolling_window(first + 20, last - 7)  # unchanged: no write
    _assert_pages_match(store, env_key, monkeypatch)
    path = tmp_path / "records-3.ndjson"  # late and current records, inside and outside it
    path.write_text("".join(json.dumps(r) + "\n" for r in _records(3)))
    import_file(store, env_key, path)
    store.upsert_assets(env_key, _catalog(1))
    _assert_pages_match(store, env_key, monkeypatch)
    for change in (store.compact, store.rebuild):
        change()
        _assert_pages_match(store, env_key, monkeypatch)
    assert store.set_rolling_window(first + 44, last + 17)  # advanced a day
    assert store.rolling_window() == (first + 44, last + 17)
    _assert_pages_match(store, env_key, monkeypatch)
    if hasattr(store, "_q"):  # ClickHouse: generations; older than the previous are dropped
        assert store.set_rolling_window(first + 45, last + 18)
        _assert_pages_match(store, env_key, monkeypatch)
        gens = {row[0] for row in store._q("SELECT DISTINCT gen FROM usage_rolling")}
        filled = {row[0] for row in store._q("SELECT DISTINCT gen FROM rolling_fills")}
        assert gens == filled == {2, 3}
    else:
        rows = (
            store._cursor()
            .execute("SELECT count(*), count(DISTINCT asset_key) FROM asset_usage_rolling")
            .fetchone()
        )
        assert rows[0] == rows[1] > 5  # filled afresh: one row per asset
    assert store.set_rolling_window(0, 0)  # none: the calendar levels alone
    _assert_pages_match(store, env_key, monkeypatch)


@pytest.mark.duckdb_only  # the per-asset levels of the DuckDB store
def test_asset_rollups_equal_the_hourly_rows(populated) -> None:
    store, _ = populated
    cur = store._cursor()
    for table, bucket in [
        ("asset_usage_day", "bucket - bucket % 24"),
        ("asset_usage_week", "bucket - (bucket + 72) % 168"),
    ]:
        from_hours = cur.execute(
            f"SELECT env_key, {bucket} AS b, asset_key, sum(delivered_us) FROM usage_hour "
            "WHERE tier > 0 AND asset_key IS NOT NULL GROUP BY ALL HAVING sum(delivered_us) <> 0 "
            "ORDER BY ALL"
        ).fetchall()
        wide = cur.execute(
            f"SELECT env_key, bucket, asset_key, sum(total_us) FROM {table} "
            "GROUP BY ALL HAVING sum(total_us) <> 0 ORDER BY ALL"
        ).fetchall()
        assert wide == from_hours
        assert len(wide) > 50


@pytest.mark.duckdb_only  # the per-asset levels of the DuckDB store
def test_a_store_made_before_the_asset_rollups_gets_them_filled(
    populated, tmp_path, monkeypatch
) -> None:
    store, env_key = populated
    expected = _naive(store, env_key, BASE // 3600, BASE // 3600 + SPAN_HOURS)
    for table in ("asset_usage_day", "asset_usage_week", "asset_usage_month"):
        store._cursor().execute(f"DROP TABLE {table}")
    store.close()
    with open_store(str(tmp_path / "test.duckdb")) as reopened:
        assert _ours(reopened, env_key, BASE // 3600, BASE // 3600 + SPAN_HOURS) == expected


def test_the_server_moves_the_rolling_window_to_the_widest_mux_window(
    populated, monkeypatch
) -> None:
    store, env_key = populated
    now_s = BASE + SPAN_HOURS * 3600 + 13 * 3600 + 1234  # STREAMMETER_NOW (fixture) + 1234
    monkeypatch.setenv("STREAMMETER_NOW", str(now_s))
    settings = Settings(settle_lag_hours=12, history_days=60)
    expected = ((now_s - 60 * 86_400) // 3600, (now_s - 12 * 3600) // 3600)
    with TestClient(create_app(store, settings)):  # runs the app's lifespan
        deadline = time.monotonic() + 10
        while store.rolling_window() != expected and time.monotonic() < deadline:
            time.sleep(0.05)
    assert store.rolling_window() == expected == widest_window(now_s, settings)
    assert signed_cover(*expected, expected[1] + 12, rolling=expected) == [
        ("rolling", *expected, 1)
    ]
    monkeypatch.setenv("STREAMMETER_NOW", str(expected[1] * 3600 + 12 * 3600))
    assert _ours(store, env_key, *expected) == _naive(store, env_key, *expected)
