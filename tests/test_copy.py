"""`streammeter copy`: a whole store moved between engines, then verified (store/copy.py).

The source has two environments (one on a shared account), tokens (one revoked), a catalog
with deleted assets, playback ids and live streams, the URL index and a URL pattern,
CloudFront and nginx logs (byte ranges: pro-rata earnings), generic records, an origin log, a
quarantined line, delivery targets, a billing anchor and a legacy key. After a copy, every
read of the target must equal the source's, and the target must keep working.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from streammeter.cli.main import app
from streammeter.index.register import read_sizes, register_tree
from streammeter.ingest.importer import import_file
from streammeter.model.catalog import Asset
from streammeter.sources.catalog import read_assets
from streammeter.store import Store, open_store
from streammeter.store.base import DUMP_FAMILIES, USAGE_MEASURES, DeliveryTarget
from streammeter.store.clickhouse.schema import ROLLUP_KEY
from streammeter.store.copy import TargetNotEmpty, copy_store, verify
from tests.clickhouse_fixtures import SKIP, Engines
from tests.conftest import SAMPLES
from tests.test_clickhouse_store import HAND, named_snapshots
from tests.test_properties import BASE, CATALOG_V1, ndjson

FIXTURES = Path(__file__).parent / "fixtures"
CDN = FIXTURES / "cdn"
LADDER = SAMPLES / "hls" / "shaka-packager-ladder"
PATTERN = r"/vod/(?P<asset_id>asset1)/(?P<height>\d+)p/seg_(?P<segment>\d+)\.ts"
T0_HOUR = 1_795_168_800 // 3600  # 2026-11-20T10:00:00Z
WINDOW = (BASE // 3600 - 24 * 40, T0_HOUR + 48)
CLOUDFRONT_FIELDS = (
    "date time x-edge-request-id sc-bytes cs-uri-stem sc-status cs(User-Agent) cs-uri-query "
    "x-edge-detailed-result-type sc-content-len sc-range-start sc-range-end"
)
ANCHOR = "2026-01-15"
runner = CliRunner()


def cloudfront_log(path: Path, sizes: dict[str, int]) -> Path:
    """A CloudFront standard log of the indexed ladder: whole objects, a byte range of a
    segment (earns a pro-rata share), an aborted transfer and an unindexed path."""
    rows = [(f"11:{n // 60:02d}:{n % 60:02d}", f"req{n}", size + 300, url, 200, "Hit", size,
             "-", "-") for n, (url, size) in enumerate(sorted(sizes.items())[:12])]  # fmt: skip
    video = "/vod/shaka/video_720p_2M_h264_2.mp4"
    rows += [
        ("11:50:00", "range", 500_300, video, 206, "Hit", 500_000, 0, 499_999),
        ("11:50:10", "aborted", 100_000, video, 200, "ClientCommError", sizes[video], "-", "-"),
        ("11:52:00", "unknown", 4000, "/vod/shaka/missing.mp4", 200, "Hit", 3700, "-", "-"),
    ]
    lines = ["#Version: 1.0", f"#Fields: {CLOUDFRONT_FIELDS}"]
    for time, rid, sent, url, status, result, length, start, end in rows:
        lines.append("\t".join(str(v) for v in ("2026-11-20", time, rid, sent, url, status,
                                                "AppleCoreMedia/1.0", "-", result, length,
                                                start, end)))  # fmt: skip
    path.write_text("\n".join(lines) + "\n")
    return path


def build_source(store: Store, tmp_path: Path) -> dict[str, Any]:
    """A store with something of every family; returns what the checks need."""
    prod = store.create_environment("prod").env_key
    store.upsert_assets(prod, [
        Asset(asset_id=name, asset_resolution_tier="1080p", created_at=1_700_000_000,
              playback_ids=[f"pb-{name}"])
        for name in ("shaka", "asset1")
    ])  # fmt: skip
    sizes = read_sizes(LADDER / "segment-sizes.tsv", "/vod/shaka/")
    register_tree(store, prod, "shaka", "/vod/shaka/", LADDER, sizes=sizes)
    store.add_url_pattern(prod, PATTERN, {"duration": "6"})
    gone = store.add_url_pattern(prod, r"/x/(?P<asset_id>\w+)/.*", {"kind": "segment"})
    store.delete_url_pattern(prod, gone)
    import_file(store, prod, cloudfront_log(tmp_path / "shaka.log", sizes), "cloudfront")
    import_file(store, prod, CDN / "cloudfront-hls.log", "cloudfront")
    import_file(store, prod, CDN / "nginx-combined.log", "nginx-combined")
    store.delete_asset(prod, "asset1", 1_795_000_000)
    token = store.create_token(prod, ["read", "ingest"])
    revoked = store.create_token(prod, ["admin"])
    store.revoke_token(revoked[0])
    staging = store.create_environment("staging", "acct_shared").env_key
    store.upsert_assets(staging, read_assets(FIXTURES / "mux_example_assets.ndjson"))
    store.upsert_assets(staging, CATALOG_V1)
    store.add_delivery_target(
        DeliveryTarget(
            staging, "cdn-a", "CDN A", primary=True, hosts=("a.example",), cidrs=("10.0.0.0/8",)
        )
    )
    store.add_delivery_target(DeliveryTarget(staging, "cdn-b", "CDN B", user_agents=("Bot",)))
    hand = tmp_path / "hand.ndjson"
    hand.write_text(ndjson(HAND))
    for path in (FIXTURES / "mux_example_records.ndjson", hand):  # the first has a rejected line
        import_file(store, staging, path)
    import_file(store, staging, CDN / "nginx-combined.log", "nginx-combined", origin=True)
    store.set_bill_anchor("acct_shared", ANCHOR, 3)
    legacy = store.create_legacy_key("acct_shared")
    return {"envs": (prod, staging), "token": token, "revoked": revoked, "legacy": legacy}


def dumped(store: Store) -> dict[str, list[str]]:
    """Every family's rows, sorted (delivery targets keep their order, not their `seq`)."""
    result = {}
    for family in DUMP_FAMILIES:
        rows = [row for batch in store.dump(family) for row in batch]
        for row in rows:
            row.pop("seq", None)
        result[family] = sorted(repr(sorted(row.items())) for row in rows)
    return result


def numbers(store: Store, envs: tuple[int, ...]) -> dict[Any, Any]:
    """Every rollup level (by names) and, per environment, delivery usage and hourly totals."""
    result: dict[Any, Any] = {"snapshots": named_snapshots(store)}
    for env in envs:
        usage, total = store.delivery_usage(env, *WINDOW, limit=1000)
        result[env] = ([(u.asset, u.tiers_us, u.total_us) for u in usage], total,
                       store.hour_totals(env))  # fmt: skip
    return result


def reads(store: Store, envs: tuple[int, ...]) -> dict[Any, Any]:
    """What users and APIs read, per environment and store-wide."""
    result: dict[Any, Any] = {
        "numbers": numbers(store, envs),
        "environments": store.list_environments(),
        "tokens": store.list_tokens(),
        "receipts": sorted(store.list_receipts(limit=1000), key=lambda r: r.receipt_id),
        "accounts": store.list_accounts(),
        "jwt": store.jwt_secret(),
    }
    result["quarantine"] = {r.receipt_id: store.quarantined(r.receipt_id)
                            for r in result["receipts"]}  # fmt: skip
    for env in envs:
        result[env] = {
            "assets": store.list_assets(env, 1000, 0),
            "live_streams": store.live_streams(env),
            "targets": store.delivery_targets(env),
            "patterns": store.url_patterns(env),
            "index": store.index_summary(env),
            "renditions": store.renditions(env, "shaka"),
            "by_target": store.account_usage([env], *WINDOW, kind="target", by_resource=True),
        }
    return result


def check_copy(source: Store, target: Store, built: dict[str, Any], tmp_path: Path) -> None:
    """The target reads like the source, keeps its secrets, and keeps working."""
    envs = built["envs"]
    assert reads(target, envs) == reads(source, envs)
    assert dumped(target) == dumped(source)
    assert verify(source, target) == []
    for env in envs:  # the target's own change feed names every hour with usage
        changed = {row["hour"] for row in target.usage_changes(env, 0, limit=10_000)}
        assert changed == {hour for hour, _ in target.hour_totals(env)}
    token_id, secret = built["token"]
    assert target.verify_token(token_id, secret) is not None
    assert target.verify_token(*built["revoked"]) is None
    assert target.get_legacy_key(built["legacy"].access_key) == built["legacy"]
    # The same content again is a no-op; new records add exactly themselves (as on the source).
    staging = envs[1]
    assert import_file(target, staging, FIXTURES / "mux_example_records.ndjson").already_imported
    new = tmp_path / "new.ndjson"
    record = {"timestamp": BASE + 7200, "asset_id": "A1", "duration": 6, "width": 1280,
              "height": 720, "bytes": 5000, "id": "fresh-1"}  # fmt: skip
    new.write_text(ndjson([record]))
    before = numbers(target, envs)
    for store in (source, target):
        receipt = import_file(store, staging, new)
        assert (receipt.accepted, receipt.already_imported) == (1, False)
    assert numbers(target, envs) == numbers(source, envs) != before


def corrupt(store: Store, env_key: int, hour: int) -> None:
    """Add 1000 delivered microseconds to one hour of the store's rollups."""
    row = (env_key, hour, 0, 0, 1, 0, 0, 1000) + (0,) * (len(USAGE_MEASURES) - 1)
    if hasattr(store, "_conn"):  # ClickHouse
        store._conn.insert("usage_hour", [*ROLLUP_KEY, *USAGE_MEASURES], [row])
    else:
        store._con.execute(  # type: ignore[attr-defined]
            "INSERT INTO usage_hour VALUES (?, ?, NULL, NULL, ?, false, NULL, ?, 0, 0, 0, 0, 0, 0)",
            [env_key, hour, 1, 1000],
        )


def test_duckdb_to_duckdb_in_small_batches(tmp_path: Path) -> None:
    source = open_store(str(tmp_path / "source.duckdb"))
    target = open_store(str(tmp_path / "target.duckdb"))
    try:
        built = build_source(source, tmp_path)
        # Stored earnings are copied, not recounted: make some that no recount would give.
        source._con.execute("UPDATE records SET earned_us = earned_us + 7 WHERE line_no = 3")  # type: ignore[attr-defined]
        source.rebuild()
        copied = copy_store(source, target, batch_rows=7)
        assert copied["records"] == sum(r.accepted for r in source.list_receipts(limit=1000))
        assert copied["tokens"] == 2 and copied["jwt_secret"] == 1
        check_copy(source, target, built, tmp_path)
    finally:
        source.close()
        target.close()


def test_a_non_empty_target_is_refused_and_a_mismatch_reported(tmp_path: Path) -> None:
    with open_store(str(tmp_path / "s.duckdb")) as source, \
            open_store(str(tmp_path / "t.duckdb")) as target:  # fmt: skip
        built = build_source(source, tmp_path)
        copy_store(source, target)
        with pytest.raises(TargetNotEmpty, match="not empty"):
            copy_store(source, target)
        staging = built["envs"][1]
        hour = min(source.hour_totals(staging))[0]
        corrupt(target, staging, hour)
        differences = verify(source, target)
        assert len(differences) == 1
        assert "environment staging" in differences[0] and "delivered_us" in differences[0]


# -- across engines ---------------------------------------------------------------------------
needs_clickhouse = pytest.mark.skipif(SKIP, reason="STREAMMETER_SKIP_CLICKHOUSE=1")


@needs_clickhouse
@pytest.mark.parametrize("engine", ["ch_node", "ch_cluster"])
def test_duckdb_to_clickhouse(engines: Engines, engine: str, tmp_path: Path) -> None:
    source, target = engines.open("duckdb"), engines.open(engine)
    built = build_source(source, tmp_path)
    copy_store(source, target, batch_rows=50)
    check_copy(source, target, built, tmp_path)
    staging = built["envs"][1]
    corrupt(target, staging, min(target.hour_totals(staging))[0])
    assert "delivered_us" in verify(source, target)[0]


@needs_clickhouse
@pytest.mark.parametrize("engine", ["ch_node", "ch_cluster"])
def test_clickhouse_to_duckdb(engines: Engines, engine: str, tmp_path: Path) -> None:
    source, target = engines.open(engine), engines.open("duckdb")
    built = build_source(source, tmp_path)
    source._conn.insert(  # type: ignore[attr-defined]  # an import that never committed
        "records",
        ["env_key", "receipt_id", "line_no", "ts_us", "hour", "kind", "track", "method", "bytes"],
        [(1, "rcpt_dead", 1, BASE * 1_000_000, BASE // 3600, "segment", "video", "GET", 10)],
    )
    copied = copy_store(source, target, batch_rows=50)
    assert copied["records"] == sum(r.accepted for r in source.list_receipts(limit=1000))
    check_copy(source, target, built, tmp_path)


@needs_clickhouse
def test_copy_command(engines: Engines, tmp_path: Path) -> None:
    """DuckDB -> the two-shard cluster through the CLI; a second copy is refused; a copy into
    a DuckDB file back gives the same store again."""
    source = str(tmp_path / "cli-source.duckdb")
    with open_store(source) as store:
        store.create_environment("prod")
        store.upsert_assets(1, [Asset(asset_id="A1", asset_resolution_tier="1080p")])
        import_file(store, 1, FIXTURES / "mux_example_records.ndjson")
    cluster = engines.url("ch_cluster", "t_cli_copy")
    done = runner.invoke(app, ["copy", "--from", source, "--to", cluster])
    assert done.exit_code == 0, done.output
    assert "Totals verified" in done.stdout and "54 records" in done.stdout
    assert "resync" in done.stdout
    again = runner.invoke(app, ["copy", "--from", source, "--to", cluster])
    assert again.exit_code == 1 and "not empty" in again.output
    back = str(tmp_path / "back.duckdb")
    done = runner.invoke(app, ["copy", "--from", cluster, "--to", back, "--quiet"])
    assert done.exit_code == 0, done.output
    with open_store(source, read_only=True) as a, open_store(back, read_only=True) as b:
        assert dumped(a) == dumped(b) and named_snapshots(a) == named_snapshots(b)


def test_copy_command_reports_a_mismatch(tmp_path: Path) -> None:
    """Rollups of the source that its records do not give: the copy says where, exits 3."""
    source, target = str(tmp_path / "s.duckdb"), str(tmp_path / "t.duckdb")
    with open_store(source) as store:
        env = store.create_environment("prod").env_key
        import_file(store, env, FIXTURES / "mux_example_records.ndjson")
        corrupt(store, env, 1607925600 // 3600)
    done = runner.invoke(app, ["copy", "--from", source, "--to", target])
    assert done.exit_code == 3
    assert "differs" in done.output and "hour 2020-12-14T06:00:00Z, tier 1" in done.output
    assert "delivered_us" in done.output
