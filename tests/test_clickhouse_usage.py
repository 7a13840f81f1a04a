"""The native usage API and change feed on ClickHouse against DuckDB (docs/design/clickhouse.md):
bucketed usage rows, explain and health identical; revisions per commit without transactions
(new on change, kept on identical numbers, strictly increasing across processes, repaired after
a writer died between its rollups and its revisions); the endpoints served from ClickHouse."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from streammeter.ingest.importer import import_file
from streammeter.model.catalog import Asset
from streammeter.model.times import US_PER_HOUR, parse_instant
from streammeter.query import usage as q
from streammeter.store import Store
from tests.clickhouse_fixtures import CH_ENGINES, ENGINES, SKIP, Engines
from tests.conftest import LiveServer, make_tenant, write_ndjson

pytestmark = pytest.mark.skipif(SKIP, reason="STREAMMETER_SKIP_CLICKHOUSE=1")
ROOT = Path(__file__).resolve().parents[1]
NOW = "2027-02-01T00:00:00Z"
CATALOG = [
    Asset(asset_id="a", asset_resolution_tier="720p", playback_ids=["pbA"]),
    Asset(asset_id="b", asset_resolution_tier="1080p", live_stream_id="ls1"),
]


def _rec(
    ts: str, duration: float, asset: str | None = "a", tier: str | None = "720p", **extra: Any
) -> dict[str, Any]:
    record = {"timestamp": ts, "duration": duration, **extra}
    record |= {"asset_id": asset} if asset else {}
    return record | ({"tier": tier} if tier else {})


# The records of tests/test_usage_api.py (DST days, half-hour offsets, months, groups), plus
# unmapped and playback-id records and one the catalog's tier decides.
RECORDS = [
    _rec("2026-03-08T04:30:00Z", 1), _rec("2026-03-08T05:00:00Z", 2),
    _rec("2026-03-09T03:59:59Z", 4), _rec("2026-03-09T04:00:00Z", 8),
    _rec("2026-11-19T18:10:00Z", 1), _rec("2026-11-19T18:40:00Z", 2),
    _rec("2026-11-20T10:00:00Z", 16), _rec("2026-11-20T18:29:00Z", 4),
    _rec("2026-11-20T18:31:00Z", 8),
    _rec("2026-04-04T12:59:00Z", 1), _rec("2026-04-04T13:00:00Z", 2),
    _rec("2026-04-05T13:15:00Z", 4), _rec("2026-04-05T13:45:00Z", 8),
    _rec("2026-10-15T12:00:00Z", 1), _rec("2026-11-01T03:30:00Z", 2),
    _rec("2026-11-15T12:00:00Z", 4), _rec("2026-12-01T04:30:00Z", 8),
    _rec("2026-11-20T10:00:00Z", 6, "a", "720p", bytes=100),
    _rec("2026-11-20T10:05:00Z", 4, "a", "1080p", bytes=50),
    _rec("2026-11-20T11:00:00Z", 2, "b", "1080p", bytes=10, live=True),
    _rec("2026-11-21T09:00:00Z", 3, "b", "2160p", bytes=7, live=True),
    _rec("2026-11-21T09:30:00Z", 5, kind="egress", bytes=1000),
    _rec("2026-11-20T10:20:00Z", 3, None, None, playback_id="pbA", bytes=5),
    _rec("2026-11-20T10:40:00Z", 7, None, "1080p", playback_id="unknown"),
    _rec("2026-11-20T18:45:00Z", 2, "b", None, width=1920, height=1080),
    _rec("2026-11-20T19:10:00Z", 1, "zz", "audio-only"),
]  # fmt: skip

WINDOWS = [  # (from, to, granularity, timezone)
    ("2026-03-07T00:00:00-05:00", "2026-03-10T00:00:00-04:00", "day", "America/New_York"),
    ("2026-11-19T00:00:00+05:30", "2026-11-22T00:00:00+05:30", "day", "Asia/Kolkata"),
    ("2026-11-19T23:00:00+05:30", "2026-11-20T02:00:00+05:30", "hour", "Asia/Kolkata"),
    ("2026-11-20T16:00:00+05:45", "2026-11-21T02:00:00+05:45", "hour", "Asia/Kathmandu"),
    ("2026-04-04T00:00:00+11:00", "2026-04-07T00:00:00+10:30", "day", "Australia/Lord_Howe"),
    ("2026-04-04T00:00:00+11:00", "2026-04-07T00:00:00+10:30", "total", "Australia/Lord_Howe"),
    ("2026-09-01T00:00:00Z", "2027-01-01T00:00:00Z", "month", "UTC"),
    ("2026-10-01T00:00:00-04:00", "2027-01-01T00:00:00-05:00", "month", "America/New_York"),
    ("2026-11-20T00:00:00Z", "2026-11-22T00:00:00Z", "hour", "UTC"),
    ("2026-11-20T10:07:13Z", "2026-11-21T09:31:00Z", "total", "UTC"),
]
GROUPS = [(), ("asset",), ("tier", "resource"), ("live_stream", "environment"),
          ("asset", "live_stream", "tier", "environment", "resource")]  # fmt: skip
FILTERS: list[dict[str, list[str]]] = [
    {"tiers": ["1080p", "2160p"]}, {"asset_ids": ["b", "zz"]}, {"asset_ids": ["nope"]},
    {"live_stream_ids": ["ls1"]}, {"tiers": ["none"], "asset_ids": ["a"]},
]  # fmt: skip


def _env(store: Store, tmp_path: Path, name: str = "prod") -> int:
    env = store.create_environment(name).env_key
    store.upsert_assets(env, CATALOG)
    path = write_ndjson(tmp_path / "records.ndjson", RECORDS)
    import_file(store, env, path)
    return env


def _native(
    store: Store,
    env: int,
    window: tuple[str, ...],
    group_by: tuple[str, ...] = (),
    filters: dict[str, list[str]] | None = None,
    **page: int,
) -> Any:
    f = filters or {}
    params = q.parse_params(*window, list(group_by), f.get("asset_ids", []),
                            f.get("live_stream_ids", []), f.get("tiers", []))  # fmt: skip
    return store.native_usage(env, params, q.plan(params), **page)


def _answers(store: Store, env: int) -> list[Any]:
    answers = [_native(store, env, w, g) for w in WINDOWS for g in GROUPS]
    answers += [_native(store, env, WINDOWS[-2], ("asset",), f) for f in FILTERS]
    answers += [_native(store, env, WINDOWS[-2], ("asset", "tier"), limit=3, offset=o)
                for o in (0, 3, 6, 100)]  # fmt: skip
    env_id = {e.env_key: e.environment_id for e in store.list_environments()}[env]
    return [([{**row, "environment": row["environment"] == env_id} if "environment" in row
              else row for row in rows], total) for rows, total in answers]  # fmt: skip


def test_native_usage_rows_are_identical_to_duckdb(
    engines: Engines, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAMMETER_NOW", NOW)
    results = {}
    for engine in ENGINES:
        store = engines.open(engine)
        store.create_environment("empty")
        results[engine] = _answers(store, _env(store, tmp_path))
    reference = results["duckdb"]
    assert sum(len(rows) for rows, _ in reference) > 200
    assert ([], 0) in reference
    for engine in CH_ENGINES:
        for n, (got, want) in enumerate(zip(results[engine], reference, strict=True)):
            assert got == want, (engine, n)


def _explained(store: Store, env: int) -> list[Any]:
    names = {r.receipt_id: r.name for r in store.list_receipts(env)}
    cells = []
    for asset, hour, tier in [
        ("a", "2026-11-20T10:00:00Z", 1), ("a", "2026-11-20T10:00:00Z", None),
        ("a", "2026-11-20T10:00:00Z", 2), ("b", "2026-11-21T09:00:00Z", 4),
        ("zz", "2026-11-20T19:00:00Z", 5), ("nope", "2026-11-20T10:00:00Z", None),
        ("a", "2026-01-01T00:00:00Z", None),
    ]:  # fmt: skip
        found = store.explain_usage(env, asset, parse_instant(hour) // US_PER_HOUR, tier)
        cells.append([{**cell, "receipt_id": names[cell["receipt_id"]]} for cell in found])
    return cells


def test_explain_and_health_are_identical_to_duckdb(
    engines: Engines, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAMMETER_NOW", NOW)
    late = write_ndjson(tmp_path / "late.ndjson", [
        _rec("2026-11-20T10:50:00Z", 5), {"timestamp": "bad"},
        _rec("2026-11-20T10:51:00Z", 1, None, None, playback_id="pbA"),
    ])  # fmt: skip
    results = {}
    for engine in ENGINES:
        store = engines.open(engine)
        env = _env(store, tmp_path)
        import_file(store, env, late)
        first_provisional = parse_instant("2026-11-20T00:00:00Z") // US_PER_HOUR
        health = [store.usage_health(first_provisional + n) for n in (0, 10_000)]
        results[engine] = (_explained(store, env), [{**h, "notes": sorted(h["notes"])}
                                                    for h in health])  # fmt: skip
    explained, (health, none) = results["duckdb"]
    assert explained[0][1]["first_line"] == 1 and health["quarantined"] == 1
    assert len(health["notes"]) == 2 and none["oldest_provisional_hour"] is None
    for engine in CH_ENGINES:
        assert results[engine] == results["duckdb"], engine


# -- the change feed ----------------------------------------------------------------------------
def _feed(store: Store, env: int) -> list[tuple[str, int]]:
    return [(q.local_iso(c["hour"] * US_PER_HOUR, "UTC")[11:13], c["revision"])
            for c in store.usage_changes(env, 0)]  # fmt: skip


@pytest.mark.parametrize("engine", ENGINES)
def test_revisions_follow_changed_numbers_only(
    engines: Engines, engine: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAMMETER_NOW", "2026-11-23T12:00:00Z")
    store = engines.open(engine)
    env = store.create_environment("prod").env_key
    other = store.create_environment("other").env_key
    store.upsert_assets(env, [Asset(asset_id="a", asset_resolution_tier="720p"),
                              Asset(asset_id="b", asset_resolution_tier="720p")])  # fmt: skip
    assert store.usage_revision() == 0 and store.usage_changes(env, 0) == []
    first = write_ndjson(tmp_path / "1.ndjson", [
        {"timestamp": "2026-11-20T10:15:00Z", "asset_id": "a", "duration": 6},
        {"timestamp": "2026-11-20T11:15:00Z", "asset_id": "b", "duration": 4},
        {"timestamp": "2026-11-20T12:15:00Z", "asset_id": "b", "duration": 4, "tier": "720p"},
    ])  # fmt: skip
    import_file(store, env, first)
    assert _feed(store, env) == [("10", 1), ("11", 1), ("12", 1)]
    assert store.hour_revisions(env, 0, 2**31 - 1) == {h: 1 for h in _hours(10, 11, 12)}
    import_file(store, env, first)  # a re-import changes nothing
    store.rebuild()  # identical numbers
    store.upsert_assets(env, [Asset(asset_id="a", asset_resolution_tier="720p", passthrough="x")])
    assert store.usage_revision() == 1
    import_file(store, other, write_ndjson(tmp_path / "o.ndjson", [
        {"timestamp": "2026-11-20T10:30:00Z", "asset_id": "a", "duration": 1}]))  # fmt: skip
    assert (store.usage_revision(), _feed(store, other)) == (2, [("10", 2)])
    # A late record into hour 11: only that hour.
    import_file(store, env, write_ndjson(tmp_path / "late.ndjson", [
        {"timestamp": "2026-11-20T11:45:00Z", "asset_id": "b", "duration": 2}]))  # fmt: skip
    assert _feed(store, env) == [("10", 1), ("12", 1), ("11", 3)]
    # b's tier moves: hour 11 (tier from the catalog) changes, hour 12 (tier given) does not.
    store.upsert_assets(env, [Asset(asset_id="b", asset_resolution_tier="1080p")])
    assert _feed(store, env) == [("10", 1), ("12", 1), ("11", 4)]
    assert [c["revision"] for c in store.usage_changes(env, 3)] == [4]
    page = store.usage_changes(env, 0, limit=1, after=(1, _hours(10)[0]))
    assert [(c["hour"], c["revision"]) for c in page] == [(_hours(12)[0], 1)]
    assert store.usage_revision() == 4 and _feed(store, other) == [("10", 2)]


def _hours(*utc_hours: int) -> list[int]:
    return [parse_instant(f"2026-11-20T{h:02d}:00:00Z") // US_PER_HOUR for h in utc_hours]


_WRITER = """
import sys, time
from pathlib import Path
from streammeter.store import open_store
from streammeter.ingest.importer import import_file
store = open_store(sys.argv[1])
time.sleep(max(0, float(sys.argv[3]) - time.time()))
for path in sys.argv[4:]:
    import_file(store, int(sys.argv[2]), Path(path))
"""


@pytest.mark.parametrize("engine", ["ch_node", "ch_cluster"])
def test_revisions_strictly_increase_across_processes(
    engines: Engines, engine: str, tmp_path: Path
) -> None:
    database = f"t_{uuid.uuid4().hex[:12]}"
    store = engines.open(engine, database)
    envs = [store.create_environment(f"e{n}").env_key for n in range(2)]
    files = {env: [write_ndjson(tmp_path / f"{env}-{i}.ndjson", [
        {"timestamp": f"2026-11-20T{i:02d}:10:00Z", "asset_id": "a", "duration": 1 + env}])
        for i in range(4)] for env in envs}  # fmt: skip
    start = str(time.time() + 3)
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, engines.url(engine, database), str(env),
                          start, *map(str, files[env])], cwd=ROOT, stderr=subprocess.PIPE,
                         text=True)
        for env in envs
    ]  # fmt: skip
    errors = [proc.communicate(timeout=180)[1] for proc in procs]
    assert all(proc.returncode == 0 for proc in procs), errors
    seen = []
    for env in envs:  # each process's imports in order: hours 0, 1, 2, 3
        revisions = [c["revision"] for c in sorted(store.usage_changes(env, 0),
                                                   key=lambda c: c["hour"])]  # fmt: skip
        assert len(revisions) == 4 and revisions == sorted(set(revisions)), revisions
        seen += revisions
    assert sorted(seen) == list(range(1, 9)) and store.usage_revision() == 8


@pytest.mark.parametrize("engine", ["ch_node", "ch_cluster"])
def test_a_writer_killed_before_its_revisions_is_repaired(
    engines: Engines, engine: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from streammeter.store.clickhouse import store as ch_store

    store = engines.open(engine)
    env = store.create_environment("prod").env_key
    store.upsert_assets(env, [Asset(asset_id="a", asset_resolution_tier="720p")])

    def die(*args: Any) -> None:
        raise KeyboardInterrupt("killed")

    def leave_stale_lock() -> None:
        db = store.database  # type: ignore[attr-defined]
        conn = store._lock(f"env_{env}")._connect()  # type: ignore[attr-defined]
        conn.execute(f"CREATE TABLE {db}.lock_env_{env} (holder String, at Int64) ENGINE = Log")
        conn.insert(f"{db}.lock_env_{env}", ["holder", "at"], [("dead", 1)])

    # An import dies after its rollups, before its revisions (and its lock is left behind).
    monkeypatch.setattr(ch_store.ClickHouseStore, "_record_revisions", die)
    with pytest.raises(KeyboardInterrupt):
        import_file(store, env, write_ndjson(tmp_path / "1.ndjson", [
            {"timestamp": "2026-11-20T10:15:00Z", "asset_id": "a", "duration": 6},
            {"timestamp": "2026-11-20T12:15:00Z", "asset_id": "a", "duration": 6}]))  # fmt: skip
    monkeypatch.undo()
    assert store.usage_changes(env, 0) == []
    leave_stale_lock()
    import_file(store, env, write_ndjson(tmp_path / "2.ndjson", [
        {"timestamp": "2026-11-20T11:15:00Z", "asset_id": "a", "duration": 6}]))  # fmt: skip
    assert _feed(store, env) == [("10", 1), ("12", 1), ("11", 2)]
    # A catalog change dies after its re-assertion, before its revisions.
    monkeypatch.setattr(ch_store.ClickHouseStore, "_record_revisions", die)
    with pytest.raises(KeyboardInterrupt):
        store.upsert_assets(env, [Asset(asset_id="a", asset_resolution_tier="1080p")])
    monkeypatch.undo()
    assert store.repair() == 1  # type: ignore[attr-defined]
    assert _feed(store, env) == [("10", 3), ("11", 3), ("12", 3)]
    assert store.recover(env) == 0 and store.usage_revision() == 3  # type: ignore[attr-defined]


# -- the endpoints ------------------------------------------------------------------------------
def _served(store: Store, tmp_path: Path) -> list[Any]:
    tenant = make_tenant(store, "prod")
    store.upsert_assets(tenant.env.env_key, CATALOG)
    import_file(store, tenant.env.env_key, write_ndjson(tmp_path / "g.ndjson", RECORDS))
    receipt = store.list_receipts(tenant.env.env_key)[0].receipt_id
    window = {"from": "2026-11-19T00:00:00+05:30", "to": "2026-11-22T00:00:00+05:30",
              "timezone": "Asia/Kolkata"}  # fmt: skip
    with LiveServer(store) as live, live.client(tenant.read) as http:
        answers = [
            http.get("/v1/usage", params={**window, "group_by": ["asset", "tier"]}),
            http.get(
                "/v1/usage", params={**window, "granularity": "hour", "format": "csv", "limit": 5}
            ),
            http.get("/v1/usage/changes", params={"since": 0, "limit": 3}),
            http.get("/v1/freshness"),
            http.get("/v1/usage/explain", params={"asset_id": "a", "hour": "2026-11-20T10:30:00Z"}),
        ]
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    return [answers[0].json(), (answers[1].text, answers[1].headers["x-next-cursor"]),
            answers[2].json(), answers[3].text.replace(receipt, "R"),
            answers[4].text.replace(receipt, "R")]  # fmt: skip


@pytest.mark.parametrize("engine", ["ch_node", "ch_cluster"])
def test_usage_endpoints_are_served_from_clickhouse(
    engines: Engines, engine: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAMMETER_NOW", "2026-11-21T12:00:00Z")
    want = _served(engines.open("duckdb"), tmp_path)
    got = _served(engines.open(engine), tmp_path)
    assert want[0]["revision"] == 1 and len(want[2]["data"]) == 3 and want[2]["next_cursor"]
    assert '"hours":' in want[3] and '"delivered_seconds":' in want[4]
    assert got == want
