"""The ClickHouse store against the DuckDB store: same fixtures, same numbers.

A session fixture starts two clickhouse-server processes (scripts/clickhouse-cluster.sh: cluster
`streammeter`, two shards on loopback) and stops them at the end. Every test runs on:
- `duckdb`: the reference (the embedded store);
- `ch_node`: ClickHouse on one server (plain MergeTree tables);
- `ch_cluster`: the two-shard cluster (local tables + Distributed tables);
- `chdb`: the same SQL in process (chdb), when it is installed.
Each test gets fresh databases. Set STREAMMETER_SKIP_CLICKHOUSE=1 to skip (nothing else
skips: without a working clickhouse-server these tests fail).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from streammeter.ingest.importer import import_file
from streammeter.model.catalog import Asset
from streammeter.sources.catalog import read_assets
from streammeter.store import Store
from tests.clickhouse_fixtures import CH_ENGINES, ENGINES, HAVE_CHDB, SKIP, Engines
from tests.test_properties import (
    BASE,
    BASE_HOUR,
    CATALOG_V1,
    CATALOG_V2,
    LEVELS,
    WINDOW_HOURS,
    model_usage,
    ndjson,
    record_files,
)

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"
MUX_WINDOW = (1607817600 // 3600, 1607990400 // 3600)

pytestmark = pytest.mark.skipif(SKIP, reason="STREAMMETER_SKIP_CLICKHOUSE=1")


# -- helpers ----------------------------------------------------------------------------------
def names(store: Store) -> dict[int, str]:
    if hasattr(store, "entity_names"):
        return store.entity_names()  # type: ignore[attr-defined]
    return dict(store._con.execute("SELECT entity_key, external_id FROM entity_keys").fetchall())  # type: ignore[attr-defined]


def named_snapshots(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    known = names(store)
    result = {}
    for level in (*LEVELS, "usage_minute"):
        rows = [
            (env, bucket, known.get(asset), known.get(live), tier, int(us), int(b), int(r))
            for env, bucket, asset, live, tier, us, b, r in store.rollup_snapshot(level)
        ]
        result[level] = sorted(rows, key=repr)
    return result


def usage(store: Store, env: int, window: tuple[int, int] = WINDOW_HOURS, **kw: Any) -> list:
    rows, total = store.delivery_usage(env, *window, limit=1000, **kw)
    assert total == len(rows)
    return [(row.asset, row.tiers_us, row.total_us) for row in rows]


def model(store: Store, env: int) -> dict[str, dict[int, int]]:
    return {asset["asset_id"]: tiers for asset, tiers, _ in usage(store, env)}


def mux_example(store: Store) -> tuple[int, Any]:
    env = store.create_environment("prod").env_key
    store.upsert_assets(env, read_assets(FIXTURES / "mux_example_assets.ndjson"))
    return env, import_file(store, env, FIXTURES / "mux_example_records.ndjson")


def write(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text(ndjson(records))
    return path


HAND = [
    {"timestamp": BASE, "asset_id": "A1", "duration": "6.006", "width": 1920,
     "height": 1080, "status": 206, "body_bytes": 1000, "object_bytes": 3000},
    {"timestamp": BASE, "asset_id": "A3", "duration": "0.000003",
     "body_bytes": 1, "object_bytes": 2},
    {"timestamp": BASE, "playback_id": "pbA3", "duration": "0.000005",
     "body_bytes": 1, "object_bytes": 2},
    {"timestamp": BASE, "asset_id": "A1", "duration": 4, "track": "audio"},
    {"timestamp": BASE, "asset_id": "A2", "duration": 4, "track": "audio"},
    {"timestamp": BASE, "asset_id": "A1", "duration": 4, "status": 499},
    {"timestamp": BASE, "asset_id": "A1", "duration": 4, "method": "HEAD"},
    {"timestamp": BASE, "asset_id": "A1", "duration": 4, "status": 304},
    {"timestamp": BASE, "asset_id": "A1", "duration": 4, "kind": "manifest"},
]  # fmt: skip


# -- the Mux docs example -----------------------------------------------------------------------
def test_mux_example_is_identical_on_every_engine(engines: Engines) -> None:
    results = {}
    for engine in ENGINES:
        store = engines.open(engine)
        env, receipt = mux_example(store)
        assert (receipt.lines_read, receipt.accepted, receipt.duplicate, receipt.rejected) == (
            56, 54, 1, 1,
        ), engine  # fmt: skip
        assert store.quarantined(receipt.receipt_id)[0]["line"] == 56
        again = import_file(store, env, FIXTURES / "mux_example_records.ndjson")
        assert again.already_imported and again.receipt_id == receipt.receipt_id
        rows = usage(store, env, MUX_WINDOW)
        first_page, total = store.delivery_usage(env, *MUX_WINDOW, limit=1, offset=1)
        past_end, total_past = store.delivery_usage(env, *MUX_WINDOW, limit=1, offset=5)
        one = usage(store, env, MUX_WINDOW, asset_id=rows[1][0]["asset_id"])
        live = usage(store, env, MUX_WINDOW, live_stream_id=rows[0][0]["live_stream_id"])
        results[engine] = (
            rows, [r.asset for r in first_page], total, past_end, total_past, one, live,
            named_snapshots(store),
        )  # fmt: skip
    reference = results["duckdb"]
    assert [r[2] for r in reference[0]] == [206_366_667, 30_000_000]
    for engine in CH_ENGINES:
        for got, want in zip(results[engine], reference, strict=True):
            assert got == want, engine


@pytest.mark.parametrize("engine", CH_ENGINES)
def test_hand_numbers(engines: Engines, engine: str, tmp_path: Path) -> None:
    store = engines.open(engine)
    env = store.create_environment("prod").env_key
    store.upsert_assets(env, CATALOG_V1)
    receipt = import_file(store, env, write(tmp_path / "hand.ndjson", HAND))
    assert (receipt.accepted, receipt.duplicate, receipt.rejected) == (9, 0, 0)
    assert model(store, env) == {"A1": {2: 2_002_000}, "A2": {5: 4_000_000}, "A3": {1: 4}}


@pytest.mark.parametrize("engine", CH_ENGINES)
def test_first_accepted_copy_wins_in_either_order(engines: Engines, engine: str,
                                                  tmp_path: Path) -> None:  # fmt: skip
    first = write(tmp_path / "first.ndjson", [
        {"id": "dup", "timestamp": BASE + 10, "asset_id": "A1", "duration": 6,
         "width": 1920, "height": 1080, "bytes": 1000},
    ])  # fmt: skip
    second = write(tmp_path / "second.ndjson", [
        {"id": "dup", "timestamp": BASE + 20, "asset_id": "A3", "duration": "4.5",
         "width": 1280, "height": 720, "bytes": 700},
        {"id": "other", "timestamp": BASE + 30, "asset_id": "A3", "duration": 2, "tier": "720p"},
        {"id": "other", "timestamp": BASE + 40, "asset_id": "A3", "duration": 9, "tier": "720p"},
    ])  # fmt: skip
    store = engines.open(engine)
    env = store.create_environment("prod").env_key
    store.upsert_assets(env, CATALOG_V1)
    r1, r2 = import_file(store, env, first), import_file(store, env, second)
    assert (r1.accepted, r1.duplicate, r2.accepted, r2.duplicate) == (1, 0, 1, 2)
    assert model(store, env) == {"A1": {2: 6_000_000}, "A3": {1: 2_000_000}}
    hour = named_snapshots(store)["usage_hour"]
    assert hour == [
        (1, BASE_HOUR, "A1", "LS1", 2, 6_000_000, 1000, 1),
        (1, BASE_HOUR, "A3", None, 1, 2_000_000, 0, 1),
    ]
    other = engines.open(engine)
    env = other.create_environment("prod").env_key
    other.upsert_assets(env, CATALOG_V1)
    import_file(other, env, second)
    receipt = import_file(other, env, first)
    assert (receipt.accepted, receipt.duplicate) == (0, 1)
    assert model(other, env) == {"A3": {1: 6_500_000}}


# -- generated files: every engine equals DuckDB and the model -------------------------------
@settings(
    max_examples=int(os.environ.get("STREAMMETER_CLICKHOUSE_EXAMPLES", "3")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(files=record_files(consistent_ids=False))
def test_generated_files_agree_with_duckdb_and_the_model(engines: Engines, tmp_path: Path,
                                                         files: list) -> None:  # fmt: skip
    folder = tmp_path / uuid.uuid4().hex
    folder.mkdir()
    paths = [write(folder / f"part-{n}.ndjson", records) for n, records in enumerate(files)]
    results = {}
    for engine in ENGINES:
        store = engines.open(engine)
        env = store.create_environment("prod").env_key
        import_file(store, env, paths[0])  # before the catalog: re-attributed on upsert
        store.upsert_assets(env, CATALOG_V1)
        for path in paths[1:]:
            import_file(store, env, path)
        for path in paths:  # re-imports change nothing
            assert import_file(store, env, path).already_imported
        store.upsert_assets(env, CATALOG_V2)  # retract and re-assert every attribution
        before = (named_snapshots(store), usage(store, env))
        store.rebuild()
        assert (named_snapshots(store), usage(store, env)) == before, engine
        results[engine] = before
        assert model(store, env) == model_usage(files, CATALOG_V2), engine
    for engine in CH_ENGINES:
        assert results[engine] == results["duckdb"], engine


# -- catalog ----------------------------------------------------------------------------------
@pytest.mark.parametrize("engine", CH_ENGINES)
def test_catalog_upserts_are_exact_before_merges(engines: Engines, engine: str) -> None:
    store = engines.open(engine)
    env = store.create_environment("prod").env_key
    store.upsert_assets(env, CATALOG_V1)
    store.upsert_assets(env, CATALOG_V2)
    store.upsert_assets(env, [Asset(asset_id="A2", asset_resolution_tier="2160p",
                                    live_stream_id="LS9", created_at=BASE + 1)])  # fmt: skip
    a2 = store.get_asset(env, "A2")
    assert a2 is not None and a2["asset_resolution_tier"] == "2160p"
    assert store.get_asset(env, "A1")["playback_ids"] == [  # type: ignore[index]
        {"id": "pbA1", "policy": "public"}, {"id": "pbA3", "policy": "public"},
    ]  # fmt: skip
    assert store.get_asset(env, "A3")["playback_ids"] is None  # type: ignore[index]
    page, total = store.list_assets(env, limit=2, offset=1)
    assert total == 3 and [a["asset_id"] for a in page] == ["A2", "A3"]
    assert store.live_streams(env) == [
        {"live_stream_id": "LS2", "asset_ids": ["A1"]},
        {"live_stream_id": "LS9", "asset_ids": ["A2"]},
    ]
    assert store.delete_asset(env, "A3", BASE + 99)
    assert not store.delete_asset(env, "nope", BASE)
    a3 = store.get_asset(env, "A3")
    assert a3 is not None and (a3["asset_state"], a3["deleted_at"]) == ("deleted", BASE + 99)
    assert store.get_asset(env, "nope") is None


@pytest.mark.parametrize("engine", CH_ENGINES)
def test_environments_and_tokens(engines: Engines, engine: str) -> None:
    store = engines.open(engine)
    prod = store.create_environment("prod", "acme")
    dev = store.create_environment("dev", "acme")
    assert (prod.env_key, dev.env_key) == (1, 2)
    assert store.get_environment("dev") == dev
    assert store.get_environment(prod.environment_id) == prod
    assert store.list_environments() == [prod, dev]
    token_id, secret = store.create_token(dev.env_key, ["read", "ingest", "read"])
    info = store.verify_token(token_id, secret)
    assert info is not None and info.scopes == {"read", "ingest"}
    assert info.environment_id == dev.environment_id
    assert store.verify_token(token_id, secret + "x") is None
    assert store.verify_token("unknown", secret) is None
    assert store.revoke_token(token_id) and not store.revoke_token(token_id)
    assert store.verify_token(token_id, secret) is None
    assert store.list_tokens(dev.env_key)[0].revoked_at is not None


# -- concurrency --------------------------------------------------------------------------------
def _files(tmp_path: Path) -> list[Path]:
    files = []
    for n in range(2):
        records = [
            {
                "id": f"r{i % 7}-{n if i % 3 else 'shared'}",
                "timestamp": BASE + 60 * i + n,
                "asset_id": ("A1", "A3", "A2")[i % 3],
                "duration": f"{2 + i % 5}.5",
                "bytes": 1000 + i,
            }
            for i in range(40)
        ] + [{"timestamp": BASE + 5, "asset_id": "A1", "duration": 1} for _ in range(3)]
        files.append(write(tmp_path / f"c{n}.ndjson", records))
    return files


def _import_at_once(writers: list[Store], paths: list[Path]) -> list[Any]:
    """Import paths[n] through writers[n], all threads released at the same moment."""
    receipts: list[Any] = [None] * len(writers)
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(writers))

    def run(n: int) -> None:
        try:
            barrier.wait()
            receipts[n] = import_file(writers[n], 1, paths[n])
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(writers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    return receipts


@pytest.mark.parametrize("engine", ["ch_node", "ch_cluster"])
def test_concurrent_imports_equal_sequential_ones(engines: Engines, engine: str,
                                                  tmp_path: Path) -> None:  # fmt: skip
    files = _files(tmp_path)
    sequential = engines.open(engine)
    env = sequential.create_environment("prod").env_key
    sequential.upsert_assets(env, CATALOG_V1)
    for path in files:
        import_file(sequential, env, path)
    expected = (named_snapshots(sequential), usage(sequential, env))

    for same_file in (False, True):
        database = f"t_{uuid.uuid4().hex[:12]}"
        setup = engines.open(engine, database)
        env = setup.create_environment("prod").env_key
        setup.upsert_assets(env, CATALOG_V1)
        # Two stores (two sets of connections, as two processes would have) at once.
        writers = [engines.open(engine, database) for _ in range(2)]
        receipts = _import_at_once(writers, [files[0], files[0 if same_file else 1]])
        if same_file:
            assert sorted(r.already_imported for r in receipts) == [False, True]
            assert receipts[0].receipt_id == receipts[1].receipt_id
            alone = engines.open("duckdb")
            env_d = alone.create_environment("prod").env_key
            alone.upsert_assets(env_d, CATALOG_V1)
            import_file(alone, env_d, files[0])
            assert (named_snapshots(setup), usage(setup, 1)) == (
                named_snapshots(alone), usage(alone, env_d),
            )  # fmt: skip
        else:
            assert sum(r.accepted for r in receipts) + sum(r.duplicate for r in receipts) == 86
            assert (named_snapshots(setup), usage(setup, 1)) == expected


def test_two_processes_importing_the_same_file_count_it_once(engines: Engines,
                                                             tmp_path: Path) -> None:  # fmt: skip
    database = f"t_{uuid.uuid4().hex[:12]}"
    url = engines.url("ch_cluster", database)
    store = engines.open("ch_cluster", database)
    env = store.create_environment("prod").env_key
    store.upsert_assets(env, CATALOG_V1)
    path = _files(tmp_path)[0]
    code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from streammeter.store import open_store\n"
        "from streammeter.ingest.importer import import_file\n"
        "store = open_store(sys.argv[1])\n"
        "time.sleep(max(0, float(sys.argv[3]) - time.time()))\n"
        "r = import_file(store, 1, Path(sys.argv[2]))\n"
        "print(r.receipt_id, r.already_imported)\n"
    )
    start = str(time.time() + 3)
    procs = [
        subprocess.Popen([sys.executable, "-c", code, url, str(path), start], cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]  # fmt: skip
    outputs = [proc.communicate(timeout=120) for proc in procs]
    assert all(proc.returncode == 0 for proc in procs), outputs
    lines = sorted(out.split() for out, _ in outputs)
    assert lines[0][0] == lines[1][0]
    assert sorted(line[1] for line in lines) == ["False", "True"]
    alone = engines.open("duckdb")
    env_d = alone.create_environment("prod").env_key
    alone.upsert_assets(env_d, CATALOG_V1)
    import_file(alone, env_d, path)
    assert usage(store, env) == usage(alone, env_d)
    assert named_snapshots(store) == named_snapshots(alone)


# -- locks and recovery -------------------------------------------------------------------------
@pytest.mark.parametrize("engine", ["ch_node", "ch_cluster"])
def test_a_dead_writers_lock_is_broken_and_its_commit_finished(engines: Engines, engine: str,
                                                               tmp_path: Path,
                                                               monkeypatch) -> None:  # fmt: skip
    from streammeter.store.clickhouse import store as ch_store

    path = write(tmp_path / "hand.ndjson", HAND)
    store = engines.open(engine)
    env = store.create_environment("prod").env_key
    store.upsert_assets(env, CATALOG_V1)

    # The writer "dies" right after its receipt (the commit point), before its rollups.
    def die(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(ch_store.ClickHouseStore, "_apply_rollups", die)
    with pytest.raises(KeyboardInterrupt):
        import_file(store, env, path)
    monkeypatch.undo()
    assert model(store, env) == {}  # committed, not rolled up yet
    # ...and left its lock behind, with an old heartbeat.
    db = store.database  # type: ignore[attr-defined]
    conn = store._lock(f"env_{env}")._connect()  # type: ignore[attr-defined]
    conn.execute(f"CREATE TABLE {db}.lock_env_{env} (holder String, at Int64) ENGINE = Log")
    conn.insert(f"{db}.lock_env_{env}", ["holder", "at"], [("dead", 1)])
    # A re-import is a no-op (its receipt committed); the next writer of the environment
    # waits, breaks the stale lock and finishes the dead writer's commit.
    assert import_file(store, env, path).already_imported
    store.upsert_assets(env, CATALOG_V1[:1])
    assert model(store, env) == {"A1": {2: 2_002_000}, "A2": {5: 4_000_000}, "A3": {1: 4}}
    assert store.recover(env) == 0  # type: ignore[attr-defined]
    alone = engines.open("duckdb")
    env_d = alone.create_environment("prod").env_key
    alone.upsert_assets(env_d, CATALOG_V1)
    import_file(alone, env_d, path)
    assert named_snapshots(store) == named_snapshots(alone)


def test_chdb_runs_the_same_schema_and_queries() -> None:
    if not HAVE_CHDB:
        pytest.skip("chdb is not installed (pip install chdb): the in-process run is optional")
    assert "chdb" in ENGINES


@pytest.mark.parametrize("engine", ["ch_node", "ch_cluster"])
def test_the_mux_endpoint_serves_the_docs_example_from_clickhouse(
    engines: Engines, engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from tests.conftest import LiveServer, make_tenant

    monkeypatch.setenv("STREAMMETER_NOW", str(1607990400 + 12 * 3600))
    store = engines.open(engine)
    tenant = make_tenant(store, "prod")
    store.upsert_assets(tenant.env.env_key, read_assets(FIXTURES / "mux_example_assets.ndjson"))
    import_file(store, tenant.env.env_key, FIXTURES / "mux_example_records.ndjson")
    expected = json.loads((FIXTURES / "mux_docs_example.json").read_text())
    with LiveServer(store) as live, live.client(tenant.read) as client:
        response = client.get(
            "/video/v1/delivery-usage",
            params=[("timeframe[]", "1607817600"), ("timeframe[]", "1607990400")],
        )
    assert response.status_code == 200
    assert response.json() == expected


def test_migrate_command_creates_the_schema_on_every_shard(clickhouse: int, tmp_path: Path) -> None:
    database = f"t_{uuid.uuid4().hex[:12]}"
    url = f"clickhouse://default@127.0.0.1:{clickhouse}/{database}"
    env = {**os.environ, "STREAMMETER_DB": url, "STREAMMETER_NOW": "2020-12-15T12:00:00Z"}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "streammeter", *args], env=env, cwd=ROOT,
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    done = cli("migrate", "--cluster", "streammeter")
    assert done.returncode == 0, done.stderr
    assert f"127.0.0.1:{clickhouse}, 127.0.0.1:{clickhouse + 100}" in done.stdout
    assert cli("migrate").returncode == 0  # idempotent; the cluster is remembered
    refused = cli("migrate", "--cluster", "other")
    assert refused.returncode == 1 and "already exists on cluster streammeter" in refused.stderr
    for port in (clickhouse, clickhouse + 100):  # local + Distributed tables on both shards
        from streammeter.store.clickhouse.conn import ClickHouseURL, DriverConnection

        conn = DriverConnection(ClickHouseURL.parse(url), database="system", port=port)
        tables = {row[0] for row in conn.execute(
            "SELECT name FROM system.tables WHERE database = %(d)s", {"d": database}
        )}  # fmt: skip
        conn.close()
        assert {"records", "records_local", "usage_hour", "usage_hour_local"} <= tables
    assert cli("environments", "create", "prod").returncode == 0
    assert cli("assets", "import", "-e", "prod",
               str(FIXTURES / "mux_example_assets.ndjson")).returncode == 0  # fmt: skip
    ingest = cli("ingest", "-e", "prod", "--quiet", str(FIXTURES / "mux_example_records.ndjson"))
    assert "56 lines, 54 accepted, 1 duplicate, 1 rejected" in ingest.stdout, ingest.stderr
    shown = cli("usage", "-e", "prod", "--from", "2020-12-13T00:00:00Z",
                "--to", "2020-12-15T00:00:00Z")  # fmt: skip
    assert "206.366667" in shown.stdout, shown.stderr


@pytest.mark.parametrize("engine", ["ch_node", "ch_cluster"])
def test_writer_locks_exclude_wait_and_detect_loss(engines: Engines, engine: str) -> None:
    from streammeter.store.clickhouse.lock import LockLost, LockTimeout, WriterLock

    store = engines.open(engine)
    host, port = store._nodes()[0]  # type: ignore[attr-defined]

    def lock(**kw: Any) -> WriterLock:
        return WriterLock(lambda: store._chdb_or(host, port), store.database, "probe", **kw)  # type: ignore[attr-defined]

    first = lock()
    first.acquire()
    with pytest.raises(LockTimeout):
        lock(wait_s=0.3).acquire()
    first.verify()
    # A contender that judges every lock stale (as if the holder had stopped beating) breaks
    # it; the old holder finds out before it writes, and does not drop the new holder's lock.
    second = lock(stale_after_s=-1)
    second.acquire()
    assert second.broke_stale
    with pytest.raises(LockLost):
        first.verify()
    first.release()
    second.verify()
    with pytest.raises(LockTimeout):
        lock(wait_s=0.3).acquire()
    second.release()
    third = lock(wait_s=1)
    third.acquire()
    assert not third.broke_stale
    third.release()


@pytest.mark.parametrize("engine", ["ch_node", "ch_cluster"])
def test_a_catalog_change_cut_between_retraction_and_reassertion_is_repaired(
    engines: Engines, engine: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from streammeter.store.clickhouse import store as ch_store

    path = write(tmp_path / "hand.ndjson", HAND)
    store = engines.open(engine)
    env = store.create_environment("prod").env_key
    store.upsert_assets(env, CATALOG_V1)
    import_file(store, env, path)
    real = ch_store.ClickHouseStore._apply_rollups

    def die_on_reassert(self: Any, env_key: int, where: str, params: Any, sign: int) -> None:
        if sign > 0:
            raise KeyboardInterrupt("killed")
        real(self, env_key, where, params, sign)

    monkeypatch.setattr(ch_store.ClickHouseStore, "_apply_rollups", die_on_reassert)
    with pytest.raises(KeyboardInterrupt):
        store.upsert_assets(env, CATALOG_V2)
    monkeypatch.undo()
    assert model(store, env) == {}  # retracted, not re-asserted
    db = store.database  # type: ignore[attr-defined]
    conn = store._lock(f"env_{env}")._connect()  # type: ignore[attr-defined]
    conn.execute(f"CREATE TABLE {db}.lock_env_{env} (holder String, at Int64) ENGINE = Log")
    conn.insert(f"{db}.lock_env_{env}", ["holder", "at"], [("dead", 1)])
    other = write(tmp_path / "other.ndjson", HAND[:1])
    import_file(store, env, other)  # the next writer breaks the lock and repairs
    alone = engines.open("duckdb")
    env_d = alone.create_environment("prod").env_key
    alone.upsert_assets(env_d, CATALOG_V1)
    import_file(alone, env_d, path)
    alone.upsert_assets(env_d, CATALOG_V2)
    import_file(alone, env_d, other)
    assert usage(store, env) == usage(alone, env_d)
    assert named_snapshots(store) == named_snapshots(alone)
    assert store.recover(env) == 0  # type: ignore[attr-defined]


def test_serve_with_two_workers_shares_nothing_but_the_store(
    clickhouse: int, tmp_path: Path
) -> None:
    """`serve --workers 2` on ClickHouse: two processes answer, and an event batch taken by
    one is counted in the answers of both (no in-process state between them)."""
    import json

    import httpx
    import mux_python

    database = f"t_{uuid.uuid4().hex[:12]}"
    env = {
        **os.environ,
        "STREAMMETER_DB": f"clickhouse://default@127.0.0.1:{clickhouse}/{database}",
        "STREAMMETER_NOW": "2020-12-15T12:00:00Z",
    }

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "streammeter", *args], env=env, cwd=ROOT,
            capture_output=True, text=True, timeout=120, check=True,
        )  # fmt: skip

    cli("migrate")
    cli("environments", "create", "prod")
    token = json.loads(
        cli("tokens", "create", "-e", "prod", "--scope", "read", "--scope", "ingest",
            "--json").stdout
    )  # fmt: skip
    cli("assets", "import", "-e", "prod", str(FIXTURES / "mux_example_assets.ndjson"))
    cli("ingest", "-e", "prod", "--quiet", str(FIXTURES / "mux_example_records.ndjson"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "streammeter", "serve", "--workers", "2",
             "--port", str(port), "--no-access-log"],
            env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while log.read_text().count("Application startup complete") < 2:
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        config = mux_python.Configuration(host=url)
        config.username, config.password = token["id"], token["secret"]
        api = mux_python.DeliveryUsageApi(mux_python.ApiClient(config))
        timeframe = ["1607817600", "1607990400"]
        first = api.list_delivery_usage(timeframe=timeframe).data[0]
        assert first.delivered_seconds == 206.366667

        event = {
            "id": "late-1", "timestamp": 1607925600, "asset_id": first.asset_id,
            "duration": 10, "width": 1920, "height": 1080, "bytes": 1000,
        }  # fmt: skip
        posted = httpx.post(
            f"{url}/v1/events", json=[event], auth=(token["id"], token["secret"]), timeout=30
        )
        assert posted.status_code == 200, posted.text
        for _ in range(8):  # new connections: the kernel spreads them over both workers
            row = api.list_delivery_usage(timeframe=timeframe, asset_id=first.asset_id).data[0]
            assert row.delivered_seconds == 216.366667
            assert row.delivered_seconds_by_resolution.tier_1080p == 110
        assert len(set(re.findall(r"Started server process \[(\d+)\]", log.read_text()))) == 2
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.parametrize("engine", CH_ENGINES)
def test_llhls_parts_and_segment_count_once(engines: Engines, engine: str) -> None:
    """counting.md 4.5 on ClickHouse: the same rule (counting/llhls.py) as on DuckDB, with the
    group sums read from ClickHouse, across imports and in any order."""
    from tests.test_llhls_once import import_records, rec, total

    store = engines.open(engine)
    records = [rec(0), *[rec(i + 1, part=i, seconds="0.5") for i in range(3)]]
    for n, order in enumerate([records, records[::-1], [records[1], records[0], *records[2:]]]):
        env = store.create_environment(f"e{n}").env_key
        store.upsert_assets(env, [Asset(asset_id="a", asset_resolution_tier="720p")])
        import_records(store, env, list(order[:2]), f"x{n}a")
        import_records(store, env, list(order[2:]), f"x{n}b")
        assert total(store, env) == 2_000_000
