"""The Wowza family on ClickHouse against DuckDB: accounts, billing anchors, the JWT secret,
legacy keys, delivery targets, account resources and usage, viewer sessions and the
`/api/{version}/usage/*` HTTP API, on every engine of tests/clickhouse_fixtures.py
(DuckDB, one ClickHouse node, the two-shard cluster, chdb)."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from streammeter.api.wowza_auth import issue_jwt
from streammeter.index.entry import IndexObject, Rendition
from streammeter.ingest.importer import import_file
from streammeter.model.catalog import Asset
from streammeter.store import Store
from streammeter.store.base import DeliveryTarget, NotFound
from tests.clickhouse_fixtures import CH_ENGINES, ENGINES, SKIP, Engines
from tests.conftest import LiveServer, make_tenant, write_ndjson
from tests.test_origin_egress import SEG, T
from tests.test_origin_egress import line as origin_line
from tests.test_wowza_api import NOW, NOW_S, OTHER, PROD, STAGING, T0, WINDOW, asset
from tests.test_wowza_targets import cli

pytestmark = pytest.mark.skipif(SKIP, reason="STREAMMETER_SKIP_CLICKHOUSE=1")

HOUR = T0 // 3600  # 2026-11-22T09:00Z
WINDOWS = [(HOUR, HOUR + 3), (HOUR - 9, HOUR + 15), (HOUR - 24 * 60, HOUR + 24 * 40), (HOUR, HOUR)]
IDS = [None, ["cdn-a", "cdn-b", "ls1", "vod1", "stg1", "oth1", "nope"], ["live1"], []]
KINDS = ("target", "live_stream", "asset")
PAGES = [(None, None, 0), (None, 1, 1), ("live1", 2, 0), ("zzz", None, 0)]  # from, limit, offset


@pytest.fixture(autouse=True)
def _now(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMMETER_NOW", NOW)
    monkeypatch.delenv("STREAMMETER_JWT_SECRET", raising=False)


def acme(store: Store, tmp_path: Path) -> dict[str, int]:
    """The fixture of tests/test_wowza_api.py (its docstring has the hand-computed numbers)."""
    prod = make_tenant(store, "prod", "acme")
    staging = make_tenant(store, "staging", "acme")
    other = make_tenant(store, "other", "other")
    store.upsert_assets(
        prod.env.env_key,
        [
            asset("vod1", "1080p", passthrough="Intro film", playback_ids=["pb-vod1"]),
            asset("live1", "720p", live_stream_id="ls1"),
        ],
    )
    store.upsert_assets(staging.env.env_key, [asset("stg1", "720p")])
    store.upsert_assets(other.env.env_key, [asset("oth1", "1080p", live_stream_id="ls-other")])
    store.add_delivery_target(
        DeliveryTarget(prod.env.env_key, "cdn-a", "CDN A", True, ("cdn-a.example.com",))
    )
    store.add_delivery_target(DeliveryTarget(prod.env.env_key, "cdn-b", "CDN B"))
    for tenant, records in ((prod, PROD), (staging, STAGING), (other, OTHER)):
        path = write_ndjson(tmp_path / f"{tenant.env.name}.ndjson", records)
        receipt = import_file(store, tenant.env.env_key, path)
        assert receipt.rejected == 0, store.quarantined(receipt.receipt_id)
    return {"prod": prod.env.env_key, "staging": staging.env.env_key, "other": other.env.env_key}


def account_view(store: Store, account: str) -> tuple[Any, ...] | None:
    """An account without its creation time (a clock reading)."""
    info = store.get_account(account)
    if info is None:
        return None
    return (info.account_id, info.bill_anchor, info.bill_cycle_months, len(info.environment_ids),
            info.env_keys)  # fmt: skip


def usage_battery(store: Store, envs: dict[str, int]) -> dict[str, Any]:
    """The family's reads over the fixture (windows, live, steps, kinds, ids, paging), keyed
    by their arguments."""
    acme_envs = [envs["prod"], envs["staging"]]
    answers: dict[str, Any] = {}
    for (lo, hi), live in itertools.product(WINDOWS, (None, True, False)):
        answers[f"sessions {lo} {hi} {live}"] = store.viewer_sessions(acme_envs, lo, hi, live=live)
        for step in (None, "minute", "hour", "day"):
            answers[f"usage {lo} {hi} {live} {step}"] = store.account_usage(
                acme_envs, lo, hi, live=live, step=step
            )
    lo, hi = WINDOWS[0]
    for kind, by_resource, ids, live in itertools.product(KINDS, (False, True), IDS, (None, False)):
        answers[f"usage {kind} {by_resource} {ids} {live}"] = store.account_usage(
            acme_envs, lo, hi, live=live, kind=kind, ids=ids, by_resource=by_resource
        )
    lo, hi = WINDOWS[1]
    for kind, step, ids in itertools.product(KINDS, ("minute", "hour", "day"), IDS[:2]):
        answers[f"trend {kind} {step} {ids}"] = store.account_usage(
            acme_envs, lo, hi, kind=kind, ids=ids, step=step, by_resource=ids is None
        )
    for kind, ids, (from_id, limit, offset) in itertools.product(KINDS, IDS, PAGES):
        answers[f"resources {kind} {ids} {from_id} {limit} {offset}"] = store.account_resources(
            acme_envs, kind, ids=ids, from_id=from_id, limit=limit, offset=offset
        )
    everything = [envs["prod"], envs["staging"], envs["other"]]
    answers["all envs"] = store.account_usage(everything, HOUR, HOUR + 3, kind="asset",
                                              by_resource=True)  # fmt: skip
    answers["all resources"] = store.account_resources(everything, "live_stream")
    answers["no envs"] = (
        store.account_usage([], HOUR, HOUR + 3),
        store.account_resources([], "asset"),
        store.viewer_sessions([], HOUR, HOUR + 3),
    )
    return answers


# -- accounts, anchors, keys, secrets -------------------------------------------------------
@pytest.mark.parametrize("engine", ENGINES)
def test_accounts_and_bill_anchors(engines: Engines, engine: str) -> None:
    store = engines.open(engine)
    assert store.list_accounts() == [] and store.get_account("acme") is None
    prod = store.create_environment("prod", "acme")
    staging = store.create_environment("staging", "acme")
    store.create_environment("solo")
    info = store.get_account("acme")
    assert info is not None
    assert info.environment_ids == (prod.environment_id, staging.environment_id)
    assert info.env_keys == (prod.env_key, staging.env_key)
    assert (info.bill_anchor, info.bill_cycle_months) == (None, 1)
    listed = [a.account_id for a in store.list_accounts()]
    assert len(listed) == 2 and "acme" in listed and listed == sorted(listed)
    store.set_bill_anchor("acme", "2026-10-22")
    assert account_view(store, "acme")[1:3] == ("2026-10-22", 1)  # type: ignore[index]
    # Replaced at once, read exactly before any merge, again and again.
    for day, cycle in (("2026-01-31", 3), ("2025-12-01", 0), ("2026-02-28", 12)):
        store.set_bill_anchor("acme", day, cycle)
        assert account_view(store, "acme")[1:3] == (day, cycle)  # type: ignore[index]
    solo = next(a for a in store.list_accounts() if a.account_id != "acme")
    assert (solo.bill_anchor, solo.bill_cycle_months, len(solo.env_keys)) == (None, 1, 1)
    with pytest.raises(NotFound, match="no account 'ghost'"):
        store.set_bill_anchor("ghost", "2026-10-22")
    with pytest.raises(ValueError, match="cycle_months"):
        store.set_bill_anchor("acme", "2026-10-22", -1)
    with pytest.raises(ValueError):
        store.set_bill_anchor("acme", "22/10/2026")
    assert account_view(store, "acme") == ("acme", "2026-02-28", 12, 2,
                                           (prod.env_key, staging.env_key))  # fmt: skip


@pytest.mark.parametrize("engine", ENGINES)
def test_legacy_keys(engines: Engines, engine: str) -> None:
    store = engines.open(engine)
    store.create_environment("prod", "acme")
    first, second = store.create_legacy_key("acme"), store.create_legacy_key("acme")
    assert len(first.access_key) == len(first.api_key) == 64 and first != second
    assert store.get_legacy_key(first.access_key) == first
    assert store.get_legacy_key(second.access_key) == second
    assert store.get_legacy_key("nope") is None
    with pytest.raises(NotFound, match="no account 'ghost'"):
        store.create_legacy_key("ghost")


@pytest.mark.parametrize("engine", ENGINES)
def test_the_jwt_secret_is_stable(engines: Engines, engine: str) -> None:
    store = engines.open(engine)
    secret = store.jwt_secret()
    assert len(secret) >= 64 and store.jwt_secret() == secret
    if engine == "duckdb" or engine == "chdb":
        return
    database = store.database  # type: ignore[attr-defined]
    again = engines.open(engine, database)  # another open (migrate) keeps it
    assert again.jwt_secret() == secret
    from streammeter.store.clickhouse import ClickHouseStore

    reader = ClickHouseStore(engines.url(engine, database), read_only=True)
    try:
        assert reader.jwt_secret() == secret
    finally:
        reader.close()


@pytest.mark.parametrize("engine", ["ch_node", "ch_cluster"])
def test_processes_opening_a_store_at_once_agree_on_one_secret(
    engines: Engines, engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from streammeter.store.clickhouse import ClickHouseStore

    with monkeypatch.context() as patched:  # the schema of an older version: no secret yet
        patched.setattr(ClickHouseStore, "_migrate_wowza", lambda self: None)
        store = engines.open(engine)
    with pytest.raises(RuntimeError, match="no JWT secret"):
        store.jwt_secret()
    code = (
        "import sys; from streammeter.store import open_store; "
        "s = open_store(sys.argv[1]); print(s.jwt_secret()); s.close()"
    )
    url = engines.url(engine, store.database)  # type: ignore[attr-defined]
    runs = [
        subprocess.Popen([sys.executable, "-c", code, url], stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    printed = {run.communicate(timeout=120)[0].strip() for run in runs}
    assert [run.returncode for run in runs] == [0, 0, 0]
    assert printed == {store.jwt_secret()}


# -- delivery targets -----------------------------------------------------------------------
def targets_story(store: Store) -> list[Any]:
    key = store.create_environment("prod").env_key
    other = store.create_environment("other").env_key
    seen = [store.add_delivery_target(DeliveryTarget(key, "b", "B", False, ("b.example.com",)))]
    seen.append(store.add_delivery_target(DeliveryTarget(key, "a", "A", True)))
    seen.append(store.add_delivery_target(DeliveryTarget(other, "z", "Z", True)))
    seen.append(store.add_delivery_target(DeliveryTarget(key, "c", "C", True)))  # demotes a
    seen.append([(t.target_id, t.primary) for t in store.delivery_targets(key)])
    seen.append(store.add_delivery_target(DeliveryTarget(
        key, "b", "B2", False, ("b2.example.com", "*.b.example.com"), ("10.0.0.0/8",),
        ("Akamai Edge",), created_at=5,
    )))  # fmt: skip
    seen.append(store.add_delivery_target(DeliveryTarget(key, "a", "A again", True)))
    seen.append(store.delivery_targets(key))
    seen.append(store.delivery_targets(other))
    seen.append(store.delivery_targets(999))
    return seen


@pytest.mark.parametrize("engine", CH_ENGINES)
def test_delivery_targets_equal_duckdb(engines: Engines, engine: str) -> None:
    expected = targets_story(engines.open("duckdb"))
    assert expected[4] == [("c", True), ("b", False), ("a", False)]
    assert [(t.target_id, t.name, t.primary) for t in expected[7]] == [
        ("a", "A again", True), ("b", "B2", False), ("c", "C", False),
    ]  # fmt: skip
    assert expected[7][1].hosts == ("b2.example.com", "*.b.example.com")
    assert expected[7][1].created_at == NOW_S  # a replaced target keeps its creation time
    assert targets_story(engines.open(engine)) == expected


# -- usage ----------------------------------------------------------------------------------
@pytest.mark.parametrize("engine", CH_ENGINES)
def test_account_usage_resources_and_sessions_equal_duckdb(
    engines: Engines, engine: str, tmp_path: Path
) -> None:
    reference, store = engines.open("duckdb"), engines.open(engine)
    envs = acme(reference, tmp_path)
    assert acme(store, tmp_path) == envs
    expected = usage_battery(reference, envs)
    # The hand-computed numbers of tests/test_wowza_api.py.
    (total,) = expected[f"usage {HOUR} {HOUR + 3} None None"]
    assert (total.delivered_us, total.bytes, total.egress_us, total.egress_additional_us,
            total.egress_bytes) == (31_000_000, 4_102_000, 8_500_000, 2_500_000,
                                    1_800_300)  # fmt: skip
    assert expected[f"sessions {HOUR} {HOUR + 3} None"] == 4
    by_target = expected["usage target True None None"]
    assert [(c.resource_id, c.delivered_us) for c in by_target] == [
        ("cdn-a", 18_500_000), ("cdn-b", 2_500_000),
    ]  # fmt: skip
    assert store.account_usage([envs["prod"]], HOUR, HOUR + 3, ids=[]) == []
    assert usage_battery(store, envs) == expected
    # Changes after the imports: a new primary target takes the unattributed usage, a
    # deleted asset is archived (its usage kept), a live stream with every asset deleted too.
    for one in (reference, store):
        one.add_delivery_target(DeliveryTarget(envs["staging"], "cdn-s", "CDN S", True))
        one.add_delivery_target(DeliveryTarget(envs["prod"], "cdn-b", "CDN B", True))
        one.delete_asset(envs["prod"], "vod1", NOW_S)
        one.delete_asset(envs["prod"], "live1", NOW_S)
    after = usage_battery(reference, envs)
    assert after != expected
    assert after["resources asset None None None 0"][0][2].archived is True  # vod1
    assert after["resources live_stream None None None 0"][0][0].archived is True  # ls1
    assert usage_battery(store, envs) == after


def test_egress_records_on_every_engine(engines: Engines, tmp_path: Path) -> None:
    records = [
        {"id": "v", "timestamp": "2026-11-22T10:00:00Z", "asset_id": "a", "duration": 4,
         "bytes": 100},
        {"id": "e1", "timestamp": "2026-11-22T10:00:00Z", "asset_id": "a", "kind": "egress",
         "duration": 4, "bytes": 1000},
        {"id": "e2", "timestamp": "2026-11-22T10:00:01Z", "asset_id": "a", "kind": "egress",
         "duration": 3, "bytes": 700, "target": "b", "primary": False},
    ]  # fmt: skip
    path = write_ndjson(tmp_path / "egress.ndjson", records)
    hour = 1795341600 // 3600
    for engine in ENGINES:
        store = engines.open(engine)
        env = store.create_environment("prod").env_key
        import_file(store, env, path)
        (cell,) = store.account_usage([env], hour, hour + 1)
        assert (cell.delivered_us, cell.bytes, cell.egress_us, cell.egress_bytes,
                cell.egress_additional_us, cell.egress_additional_bytes) == (
            4_000_000, 100, 7_000_000, 1700, 3_000_000, 700)  # fmt: skip
        assert store.viewer_sessions([env], hour, hour + 1) == 1
        targets = store.account_usage([env], hour, hour + 1, kind="target", by_resource=True)
        assert [(c.resource_id, c.egress_us) for c in targets] == [("b", 3_000_000)], engine


def origin_story(store: Store, tmp_path: Path) -> tuple[Any, ...]:
    """tests/test_origin_egress.py: an origin log's pulls split by delivery target."""
    key = store.create_environment("prod").env_key
    store.upsert_assets(key, [Asset(asset_id="a", asset_resolution_tier="720p")])
    rendition = Rendition("/vod/a/720.m3u8", "video", 1280, 720, 2_000_000)
    objects = [IndexObject(SEG, "a", rendition.rendition_id, "segment", Fraction(6))]
    store.register_index(key, "a", [rendition], objects)
    store.add_delivery_target(DeliveryTarget(key, "main-cdn", "Main CDN", True, (), (),
                                             ("amazon cloudfront",)))  # fmt: skip
    store.add_delivery_target(DeliveryTarget(key, "backup", "Backup", cidrs=("203.0.113.0/24",)))
    log = tmp_path / "origin.ndjson"
    log.write_text("".join(
        origin_line(n, path, ip, agent, body) + "\n"
        for n, path, ip, agent, body in [
            (1, SEG, "198.51.100.7", "Amazon CloudFront", 1000),
            (2, SEG, "203.0.113.9", "curl/8", 1000),
            (4, "/vod/a/720.m3u8", "198.51.100.7", "Amazon CloudFront", 100),
        ]
    ))  # fmt: skip
    receipt = import_file(store, key, log, origin=True)
    hour = (T + 1) // 3600
    return (
        (receipt.format, receipt.accepted, receipt.rejected),
        store.account_usage([key], hour, hour + 1),
        store.account_usage([key], hour, hour + 1, kind="target", by_resource=True),
        store.account_resources([key], "target"),
    )


@pytest.mark.parametrize("engine", CH_ENGINES)
def test_origin_logs_split_egress_by_target_as_in_duckdb(
    engines: Engines, engine: str, tmp_path: Path
) -> None:
    expected = origin_story(engines.open("duckdb"), tmp_path)
    assert expected[0] == ("nginx-json (origin)", 3, 0)
    assert [(c.resource_id, c.egress_us, c.egress_bytes) for c in expected[2]] == [
        ("backup", 6_000_000, 1000), ("main-cdn", 6_000_000, 1100),
    ]  # fmt: skip
    assert origin_story(engines.open(engine), tmp_path) == expected


def test_the_wowza_commands_on_the_cluster(engines: Engines) -> None:
    """The commands of tests/test_wowza_targets.py `test_commands` with `--db clickhouse://`."""
    database = engines.open("ch_cluster").database  # type: ignore[attr-defined]
    url = engines.url("ch_cluster", database)  # `cli` takes it as its --db
    cli("environments", "create", "prod", "--account", "acme", db=url)
    token = json.loads(cli("tokens", "create", "--account", "acme", "--jwt", "--json",
                           db=url).stdout)  # fmt: skip
    assert token["account"] == "acme"
    pair = json.loads(cli("tokens", "create", "--account", "acme", "--json", db=url).stdout)
    assert len(pair["wsc-api-key"]) == 64
    out = cli("accounts", "set-bill-date", "acme", "2026-01-15", db=url).stdout
    assert "last_bill_date is now 2026-11-15" in out
    accounts = json.loads(cli("accounts", "list", "--json", db=url).stdout)
    assert [(a["account"], a["bill_anchor"]) for a in accounts] == [("acme", "2026-01-15")]
    cli("targets", "add", "--environment", "prod", "fastly", "--primary", "--host",
        "origin.example.com", db=url)  # fmt: skip
    cli("targets", "add", "--environment", "prod", "akamai", "--cidr", "23.0.0.0/12", db=url)
    listed = json.loads(cli("targets", "list", "--environment", "prod", "--json", db=url).stdout)
    assert [(t["id"], t["primary"]) for t in listed] == [("fastly", True), ("akamai", False)]


# -- the HTTP API ---------------------------------------------------------------------------
PATHS = [
    ("/api/v2.0/usage/account", {**WINDOW, "include": "trend"}),
    ("/api/v2.0/usage/account", {}),
    ("/api/v1.8/usage/accounts", {"from": "2026-11-21 12:00:00", "to": "2026-11-22 12:00:00",
                                  "include": "trend"}),  # hours
    ("/api/v2.0/usage/account", {"from": "2026-08-25", "to": "2026-11-23", "include": "trend"}),
    ("/api/v2.0/usage/account",
     {**WINDOW, "filter[0][field]": "resource", "filter[0][eq]": "transcoders"}),
    ("/api/v2.0/usage/stream_targets", WINDOW),
    ("/api/v2.0/usage/stream_targets/cdn-b", {**WINDOW, "include": "trend"}),
    ("/api/v2.0/usage/stream_targets/summary", WINDOW),
    ("/api/v2.0/usage/stream_targets/nope", WINDOW),
    ("/api/v2.0/usage/transcoders", WINDOW),
    ("/api/v2.0/usage/transcoders/ls1", {**WINDOW, "include": "trend"}),
    ("/api/v2.0/usage/transcoders/summary", WINDOW),
    ("/api/v2.0/usage/vod_streams", {**WINDOW, "per_page": 2}),
    ("/api/v2.0/usage/vod_streams", {**WINDOW, "per_page": 2, "next_page_key": "vod1"}),
    ("/api/v2.0/usage/vod_streams/vod1", {**WINDOW, "include": "trend"}),
    ("/api/v2.0/usage/vod_streams/summary", WINDOW),
]  # fmt: skip


def responses(store: Store, tmp_path: Path) -> list[tuple[int, Any]]:
    acme(store, tmp_path)
    store.set_bill_anchor("acme", "2026-10-22")
    token, _ = issue_jwt(store, "acme", now_s=NOW_S, expires_in_s=3600)
    answers = []
    with LiveServer(store) as live, live.client() as client:
        for path, params in PATHS:
            response = client.get(path, params=params, headers={"Authorization": f"Bearer {token}"})
            answers.append((response.status_code, response.json()))
    return answers


@pytest.mark.parametrize("engine", ["ch_node", "ch_cluster"])
def test_the_wowza_api_serves_the_golden_account_from_clickhouse(
    engines: Engines, engine: str, tmp_path: Path
) -> None:
    expected = responses(engines.open("duckdb"), tmp_path)
    status, golden = expected[0]
    assert status == 200
    assert golden["account"]["viewing_seconds"] == 31
    assert {k: v for k, v in golden["account"].items() if k != "trend"} == {
        "id": "acme", "viewing_seconds": 31, "avg_viewing_seconds": 8,
        "viewing_bytes": 4_102_000, "egress_seconds": 8, "egress_seconds_additional_targets": 2,
        "egress_bytes": 1_800_300,
    }  # fmt: skip
    assert len(golden["account"]["trend"]) == 180
    assert expected[1][1]["limits"]["from"] == "2026-11-22T00:00:00.000Z"  # last bill date
    missing = [path for path, _ in PATHS].index("/api/v2.0/usage/stream_targets/nope")
    assert expected[missing][0] == 404
    assert responses(engines.open(engine), tmp_path) == expected
